"""Every shipped experiment config validates, and bad ones name the field."""

from pathlib import Path

import pytest

from robot_rl.env import available_suites
from robot_rl.errors import ConfigError
from robot_rl.train.config import TrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("libero_*_loop.yaml")), ids=lambda p: p.name)
def test_libero_recipes_validate(path):
    cfg = TrainConfig.load(path)
    assert cfg.suite is not None and cfg.suite.name in available_suites()
    assert cfg.loop.group_size == 8 and cfg.loop.clip_low == 0.2 and cfg.loop.clip_high in (0.2, 0.28)
    with pytest.raises(ConfigError, match="--policy"):
        cfg.require_policy()


def test_overrides_and_errors(tmp_path):
    path = sorted(CONFIGS.glob("libero_*_loop.yaml"))[0]
    cfg = TrainConfig.load(path, {"loop.clip_high": 0.2, "policy": "ckpt"})
    assert cfg.loop.clip_high == 0.2 and cfg.require_policy() == "ckpt"
    with pytest.raises(ConfigError, match=r"loop.clip_hihg: unknown key; allowed keys: adam_betas, advantage"):
        TrainConfig.load(path, {"loop.clip_hihg": 0.3})
    with pytest.raises(ConfigError, match=r"loop.advantage: got 'ppo'"):
        TrainConfig.load(path, {"loop.advantage": "ppo"})


@pytest.mark.parametrize("name", ["suite_multitask.yaml", "suite_new_task.yaml"])
def test_suite_scenarios_validate(name, tmp_path):
    """The full-suite quickstart scenarios: all eight tasks, LIBERO-style per-task layouts, held-out evaluation."""
    from robot_rl.config import load_config
    from robot_rl.train.quickstart import QuickstartConfig, build_train_config

    qs = load_config(QuickstartConfig, CONFIGS / name)
    train = build_train_config(qs, tmp_path, source=name)
    assert qs.tasks is None and qs.suite_options["layout"] == "per_task"
    assert train.eval.split == "eval" and train.policy == str(tmp_path / "sft")
    if qs.new_task is None:
        assert train.suite.tasks is None and train.schedule.sampling == "task_balanced"
    else:
        assert qs.new_task_demos == 1 and train.suite.tasks == [qs.new_task] and len(train.eval.tasks) == 8
