"""summary.json figures and the plot, from a rehearsal state and an operator log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robot_rl.rehearsal.config import RehearsalConfig
from robot_rl.rehearsal.operator import EpisodeRecord
from robot_rl.rehearsal.report import operator_figures, read_operator_log, write_report

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "rehearsal.yaml"

STATE = {
    "sim": {"train_world": {"success": 0.8}, "lab_world": {"success": 0.5}},
    "lab_before": {"success": 0.4},
    "evals": [{"updates": 10, "success": 0.7, "labelled_episodes": 200, "operator_minutes": 50.0,
               "mislabelled": 3, "sim_speed_up": 2.5},
              {"updates": 5, "success": 0.55, "labelled_episodes": 96, "operator_minutes": 24.0,
               "mislabelled": 1, "sim_speed_up": 2.4}],
    "baseline": {"success_before": 0.5, "success_after": 0.8, "episodes": 300, "updates": 10},
    "wall_s": 1234.5,
}


def test_summary_figures_and_plot(tmp_path):
    s = write_report(RehearsalConfig.load(DEFAULT), tmp_path, STATE)
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    assert (s["success_sim"], s["success_lab_inproc"], s["success_lab_before"], s["success_lab_after"]) == \
        (0.8, 0.5, 0.4, 0.7)
    assert s["drop"] == pytest.approx(0.4) and s["won_back"] == pytest.approx(0.75)
    assert (s["labelled_episodes"], s["operator_minutes"], s["updates"], s["wall_s"]) == (200, 50.0, 10, 1234.5)
    assert [c["updates"] for c in s["curve"]] == [0, 5, 10]   # sorted, starting from the measurement before
    assert [c["success"] for c in s["curve"]] == [0.4, 0.55, 0.7]
    assert s["ros"]["gain_per_100_episodes"] == pytest.approx(100 * 0.3 / 200)
    assert s["baseline"]["gain"] == pytest.approx(0.3) and s["baseline"]["gain_per_100_episodes"] == pytest.approx(0.1)
    png = (tmp_path / "rehearsal.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_a_partial_rehearsal_reports_what_it_has(tmp_path):
    s = write_report(RehearsalConfig.load(DEFAULT), tmp_path, {"sim": STATE["sim"], "evals": [], "wall_s": 3.0})
    assert s["success_lab_before"] is None and s["won_back"] is None and s["baseline"] is None
    assert s["labelled_episodes"] == 0 and not (tmp_path / "rehearsal.png").exists()


def test_operator_figures_from_the_log(tmp_path):
    recs = [EpisodeRecord("e1", "g", "pick_red/0", 10.0, t_verdict=12.0, t_label=13.0, truth=True, label="success",
                          wall_start=100.0, wall_label=101.5),
            EpisodeRecord("e2", "g", "pick_red/0", 20.0, t_label=26.0, truth=True, label="failure", mislabelled=True,
                          wall_start=110.0, wall_label=113.0),
            EpisodeRecord("e3", "g", "pick_red/0", 30.0, t_label=31.0, label="abort")]
    (tmp_path / "operator.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in recs) + '{"torn')
    assert [r.episode_id for r in read_operator_log(tmp_path / "operator.jsonl")] == ["e1", "e2", "e3"]
    f = operator_figures(tmp_path, reset_s=10.0)
    assert f["labelled_episodes"] == 0                  # no buffer: nothing reached it
    assert f["operator_minutes"] == pytest.approx((3 + 6 + 1 + 30) / 60, abs=0.01)
    assert f["mislabelled"] == 1
    assert f["sim_speed_up"] == pytest.approx((3 + 6) / (1.5 + 3.0), abs=0.01)
