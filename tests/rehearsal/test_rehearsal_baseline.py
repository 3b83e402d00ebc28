"""The in-process baseline's `robot-rl train` command: every --set it passes is a valid TrainConfig field."""

from __future__ import annotations

from pathlib import Path

import yaml

from robot_rl.rehearsal.config import RehearsalConfig
from robot_rl.rehearsal.run import baseline_command
from robot_rl.train.cli import parse_overrides
from robot_rl.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_baseline_runs_the_same_loop_on_the_shifted_world(tmp_path):
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"suite": {"name": "tabletop"}, "loop": {"ppo_epochs": 9}}))
    cfg = RehearsalConfig.load(ROOT / "configs" / "rehearsal.yaml",
                               {"baseline.train_config": str(tmp_path / "train.yaml"),
                                "baseline.overrides": {"rollout.num_workers": 1}})
    cmd = baseline_command(cfg, tmp_path, "ckpt")
    assert cmd[3:7] == ["train", str(tmp_path / "train.yaml"), "--out", str(tmp_path / "baseline")]
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    train = TrainConfig.load(tmp_path / "train.yaml", parse_overrides(sets))   # what `robot-rl train` will do
    assert train.policy == "ckpt" and train.updates == cfg.hw.updates == 10
    assert train.loop == cfg.hw.loop                      # K, clip, lr, temperature: the hardware run's, not the file's
    assert train.schedule.groups_per_batch == cfg.hw.groups_needed
    assert train.suite.options["reality"]                 # the lab profile's shifts, in-process
    assert train.suite.options["spec"] == "tabletop_64" and train.suite.tasks == ["pick_red", "pick_blue"]
    assert train.eval.split == "eval" and train.eval.contexts_per_task == cfg.eval.contexts_per_task
    assert train.eval.temperature == cfg.hw.loop.temperature and train.rollout.num_workers == 1
