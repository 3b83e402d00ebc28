"""`robot-rl quickstart` (what `make demo` runs) end to end on a shrunken config: demos -> SFT -> eval ->
LOOP -> eval, through the real command, on the real tabletop suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robot_rl.config import load_config
from robot_rl.train.config import TrainConfig

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _shrunken(**top):
    """configs/quickstart.yaml cut to seconds: few demos and SFT steps, one small LOOP update, 2 eval contexts."""
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    cfg.update(top)
    cfg["train"].update(updates=1, checkpoint_every=1)
    cfg["train"]["loop"].update(group_size=2, ppo_epochs=1)
    cfg["train"]["schedule"].update(groups_per_batch=1, max_attempts=2)
    cfg["train"]["rollout"]["num_workers"] = 1
    return cfg


def test_quickstart_command_runs_the_whole_pipeline(tmp_path):
    cfg = _shrunken(demos_per_task=1)
    cfg["sft"].update(steps=10, calibrate_steps=0)
    cfg["train"]["eval"]["contexts_per_task"] = 2
    (tmp_path / "qs.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "quickstart", "--config", str(tmp_path / "qs.yaml"),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("success_before", "success_after"):
        assert set(summary[key]["per_task"]) == {"pick_red", "pick_blue"}, summary[key]
        assert summary[key]["episodes"] == 4 and 0.0 <= summary[key]["success_rate"] <= 1.0
        assert all(t["episodes"] == 2 for t in summary[key]["per_task"].values())
    assert {"demos_s", "sft_s", "loop_s"} <= set(summary["timings"])
    assert (out / "loop" / "success.png").stat().st_size > 0 and (out / "loop" / "policy").is_dir()
    # The LOOP stage's config is written out and is a valid train config pointing at the SFT checkpoint.
    train = load_config(TrainConfig, out / "train_config.yaml")
    assert train.policy == str(out / "sft") and train.updates == 1
    assert "pick_red" in proc.stdout and "pick_blue" in proc.stdout  # the before/after table


def test_quickstart_new_task_from_one_demo_runs_loop_on_it_alone(tmp_path):
    cfg = _shrunken(demos_per_task=2, new_task="pick_blue", new_task_demos=1)
    cfg["sft"].update(steps=5, calibrate_steps=0)
    cfg["train"]["eval"]["contexts_per_task"] = 1
    (tmp_path / "qs.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "quickstart", "--config", str(tmp_path / "qs.yaml"),
                           "--out", str(out), "--seed", "3"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from robot_rl.buffer import RolloutBuffer

    with RolloutBuffer.open(out / "demos.zarr") as buf:  # 2 demos of the old task, 1 of the new one
        assert sorted(buf.episodes.task) == ["pick_blue", "pick_red", "pick_red"]
    with RolloutBuffer.open(out / "loop" / "rollouts.zarr") as buf:  # LOOP collected on the new task only
        assert buf.num_episodes > 0 and set(buf.episodes.task) == {"pick_blue"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["new_task"] == "pick_blue"
    for when in ("before", "after"):
        assert set(summary[f"success_{when}"]["per_task"]) == {"pick_red", "pick_blue"}  # every task evaluated
        assert summary[f"new_task_{when}"] == summary[f"success_{when}"]["per_task"]["pick_blue"]["success_rate"]
        assert summary[f"pretrained_{when}"] == summary[f"success_{when}"]["per_task"]["pick_red"]["success_rate"]
    assert not (out / "demos.zarr.partial").exists()
    assert json.loads((out / "sft" / "config.json").read_text())["extra"]["sft"]["config"]["seed"] == 3
    assert "new task pick_blue" in proc.stdout
