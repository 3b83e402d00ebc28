"""The shipped quickstart config validates into the pipeline's configs and stays in the issue's regime."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.config import load_config
from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from robot_rl.train.quickstart import QuickstartConfig, build_train_config, format_summary

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def test_quickstart_config_validates_and_is_a_few_demo_language_conditioned_run(tmp_path):
    qs = load_config(QuickstartConfig, CONFIG)
    cfg = build_train_config(qs, tmp_path)
    assert cfg.policy == str(tmp_path / "sft") and cfg.suite is not None and cfg.suite.name == "tabletop"
    assert 1 <= qs.demos_per_task <= 5  # the few-demonstration regime
    assert qs.tasks is not None and len(qs.tasks) >= 2  # language-conditioned: same scene, different instructions
    suite = make_suite(qs.suite, **qs.suite_options)  # the suite options validate (e.g. layout_jitter)
    instructions = {suite.task(t).instruction for t in qs.tasks}
    assert len(instructions) == len(qs.tasks)
    assert cfg.eval.split == "eval" and cfg.eval.contexts_per_task >= 50  # held-out, >= 50 episodes per task
    assert cfg.loop.group_size == 8 and cfg.loop.clip_low == 0.2 and cfg.loop.clip_high in (0.2, 0.28)  # issue's clips
    # The policy evaluated is the sampling policy LOOP trains, at the temperature it samples at.
    assert not cfg.eval.deterministic and cfg.eval.temperature == cfg.loop.temperature


def test_overrides_apply_and_bad_ones_are_config_errors(tmp_path):
    qs = load_config(QuickstartConfig, CONFIG)
    assert build_train_config(qs, tmp_path, {"updates": 2, "loop.lr_head": 1e-4}).updates == 2
    with pytest.raises(ConfigError, match="updatez"):
        build_train_config(qs, tmp_path, {"updatez": 2})
    with pytest.raises(ConfigError, match="loop.group_size"):
        build_train_config(qs, tmp_path, {"loop.group_size": 0})


def test_format_summary_prints_a_row_per_task():
    table = {"success_rate": 0.5, "episodes": 4, "per_task": {"pick_red": {"success_rate": 0.25, "episodes": 2},
                                                              "pick_blue": {"success_rate": 0.75, "episodes": 2}}}
    after = {**table, "success_rate": 0.9}
    text = format_summary({"success_before": table, "success_after": after, "timings": {"sft_s": 1.0}})
    assert "pick_red" in text and "0.25" in text and "0.90" in text
