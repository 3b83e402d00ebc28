"""`robot-rl eval --record BUF`: evaluated episodes land in a rollout buffer with the simulator's labels."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robot_rl.buffer import RolloutBuffer
from robot_rl.env import make_suite
from robot_rl.spec import EmbodimentSpec

ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")
DATA = Path(__file__).resolve().parents[1] / "data"


def _eval(*args, cwd, ok=True):
    out = subprocess.run([sys.executable, "-m", "robot_rl.cli", "eval", *args], capture_output=True, text=True,
                         timeout=300, cwd=cwd)
    if ok:
        assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_record_writes_sim_labelled_episodes_and_appends(tmp_path):
    buf = tmp_path / "evals.zarr"
    out = _eval("--policy", "random", "--suite", "point_reach", "--episodes", "3", "--record", str(buf), "--json",
                cwd=tmp_path)
    table = json.loads(out.stdout)
    assert table["recorded"]["episodes"] == 6
    with RolloutBuffer.open(buf) as b:
        eps = b.episodes
        assert len(eps) == 6 and set(eps.label_source) == {"sim"}
        assert set(eps.task) == {"reach_red", "reach_blue"}
        suite = make_suite("point_reach")
        assert b.spec.cameras == suite.spec.cameras
        instr = {t.task: t.instruction for t in suite.tasks()}
        assert all(i == instr[t] for t, i in zip(eps.task, eps.instruction))
        # the recorded reward is the success the table reports
        per = {t: float(np.mean(eps.reward[eps.task == t])) for t in instr}
        assert per == {t: row["success_rate"] for t, row in table["per_task"].items()}
        assert all(eps.step_count > 0) and all(s in ("ok", "timeout") for s in eps.status)
        ep0 = b.read_episode(0, fields=["images/" + suite.spec.cameras[0].name])
        assert ep0["images/" + suite.spec.cameras[0].name].shape[0] == eps.step_count[0]
    # a second run appends (the expert: every reward 1)
    _eval("--policy", "scripted", "--suite", "point_reach", "--episodes", "2", "--record", str(buf), cwd=tmp_path)
    with RolloutBuffer.open(buf) as b:
        assert len(b.episodes) == 10 and list(b.episodes.reward[6:]) == [1, 1, 1, 1]


def test_record_into_a_buffer_of_another_spec_is_refused(tmp_path):
    buf = tmp_path / "other.zarr"
    RolloutBuffer.create(buf, EmbodimentSpec.from_yaml(DATA / "tiny_spec.yaml")).close()
    out = _eval("--policy", "random", "--suite", "point_reach", "--episodes", "1", "--record", str(buf),
                cwd=tmp_path, ok=False)
    assert out.returncode == 2 and "spec mismatch" in out.stderr, out.stderr[-2000:]


@pytest.mark.slow
def test_record_tabletop_with_a_tiny_policy(tmp_path):
    import torch
    from test_trainer import TINY

    from robot_rl.policies import make_policy, save_policy

    suite = make_suite("tabletop", spec="tabletop_64", max_steps=16)
    torch.manual_seed(0)
    save_policy(make_policy("tiny", suite.spec, TINY), tmp_path / "ckpt")
    buf = tmp_path / "tt.zarr"
    _eval("--policy", str(tmp_path / "ckpt"), "--suite", "tabletop", "--suite-option", "spec=tabletop_64",
          "--suite-option", "max_steps=16", "--task", "pick_red", "--episodes", "2", "--workers", "1",
          "--record", str(buf), cwd=tmp_path)
    with RolloutBuffer.open(buf) as b:
        assert len(b.episodes) == 2 and set(b.episodes.label_source) == {"sim"}
        assert list(b.episodes.step_count) == [2, 2]  # 16 env steps / chunk 8
        assert b.read_episode(1)["images/agentview"].shape == (2, 64, 64, 3)
