"""The shipped quickstart config validates into the pipeline's configs and stays in the issue's regime."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_rl.config import load_config
from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from robot_rl.train.quickstart import QuickstartConfig, build_train_config, format_summary, new_task_summary

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


def test_a_new_task_run_trains_that_task_alone_and_evaluates_every_task(tmp_path):
    qs = load_config(QuickstartConfig, CONFIG).model_copy(update={"tasks": None, "new_task": "stack_red_green"})
    cfg = build_train_config(qs, tmp_path)
    assert cfg.suite.tasks == ["stack_red_green"]
    assert cfg.eval.tasks is not None and len(cfg.eval.tasks) == 8 and "stack_red_green" in cfg.eval.tasks
    bad = qs.model_copy(update={"tasks": ["pick_red", "pick_blue"], "new_task": "stack_red_green"})
    with pytest.raises(ConfigError, match="new_task: 'stack_red_green' is not one of the tasks"):
        build_train_config(bad, tmp_path)


def test_new_task_summary_known_answer():
    def table(new, a, b):
        return {"per_task": {"new": {"success_rate": new}, "a": {"success_rate": a}, "b": {"success_rate": b}}}
    out = new_task_summary({"success_before": table(0.1, 0.8, 0.6), "success_after": table(0.9, 0.7, 0.6)}, "new")
    assert out["new_task"] == "new" and out["new_task_before"] == 0.1 and out["new_task_after"] == 0.9
    assert out["pretrained_before"] == pytest.approx(0.7) and out["pretrained_after"] == pytest.approx(0.65)


def test_success_table_reports_binomial_standard_errors():
    from robot_rl.env import Context
    from robot_rl.rollout.collector import EpisodeResult, RolloutJob
    from robot_rl.train.evaluate import success_table

    outcomes = {"a": [True, True, False, False], "b": [True] * 4}
    results = [EpisodeResult(RolloutJob(Context(t, i)), ok, 0, not ok) for t, v in outcomes.items()
               for i, ok in enumerate(v)]
    table = success_table(results)
    assert table["per_task"]["a"]["stderr"] == pytest.approx(0.25)  # sqrt(0.5 * 0.5 / 4)
    assert table["per_task"]["b"]["stderr"] == 0.0
    assert table["success_rate"] == 0.75 and table["stderr"] == pytest.approx(0.125)  # sqrt(0.25^2 + 0) / 2
