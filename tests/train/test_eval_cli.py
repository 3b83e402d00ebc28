"""`robot-rl eval` through the real console script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_trainer import TINY

from robot_rl.env import make_suite
from robot_rl.policies import make_policy, save_policy

ROBOT_RL = str(Path(sys.executable).parent / "robot-rl")  # the installed console script


def _eval(*args, cwd):
    out = subprocess.run([ROBOT_RL, "eval", *args, "--json"], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_eval_scripted_random_and_checkpoint(tmp_path):
    expert = _eval("--policy", "scripted", "--suite", "point_reach", "--episodes", "5", cwd=tmp_path)
    assert expert["success_rate"] == 1.0 and expert["episodes"] == 10
    assert set(expert["per_task"]) == {"reach_red", "reach_blue"}

    rand = _eval("--policy", "random", "--suite", "point_reach", "--episodes", "5", cwd=tmp_path)
    assert rand["episodes"] == 10 and rand["success_rate"] < 1.0

    torch.manual_seed(0)
    save_policy(make_policy("tiny", make_suite("point_reach").spec, TINY), tmp_path / "ckpt")
    pol = _eval("--policy", str(tmp_path / "ckpt"), "--suite", "point_reach", "--task", "reach_red", "--episodes", "3",
                "--video", str(tmp_path / "vids"), cwd=tmp_path)
    assert pol["episodes"] == 3 and list(pol["per_task"]) == ["reach_red"]
    assert len(list((tmp_path / "vids").glob("reach_red_*.mp4"))) == 3


def test_eval_tabletop_expert_with_video(tmp_path):
    table = _eval("--policy", "scripted", "--suite", "tabletop", "--task", "stack_red_green", "--episodes", "2",
                  "--video", str(tmp_path / "v"), cwd=tmp_path)
    assert table["per_task"]["stack_red_green"]["success_rate"] == 1.0
    videos = list((tmp_path / "v").glob("*.mp4"))
    assert len(videos) == 2 and all(v.stat().st_size > 1000 for v in videos)
    av = pytest.importorskip("av")
    for v in videos:  # H.264 (browsers play it; OpenCV's mp4v they do not)
        with av.open(str(v)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in container.decode(video=0)) >= 2  # one frame per policy decision


def test_eval_wrong_spec_is_refused(tmp_path):
    save_policy(make_policy("tiny", make_suite("point_reach").spec, TINY), tmp_path / "ckpt")
    out = subprocess.run([ROBOT_RL, "eval", "--policy", str(tmp_path / "ckpt"), "--suite", "tabletop", "--episodes", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "does not match" in out.stderr and "cameras" in out.stderr
