"""`robot-rl buffer info / verify / merge` through the real console script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from buffer_helpers import check_episode, tiny_spec, write_episode

from robot_rl.buffer import RolloutBuffer, merge
from robot_rl.errors import BufferError
from robot_rl.spec import EmbodimentSpec

ROBOT_RL = str(Path(sys.executable).with_name("robot-rl"))


def run(*args):
    return subprocess.run([ROBOT_RL, "buffer", *map(str, args)], capture_output=True, text=True, timeout=120)


def make(path, episodes, spec=None):
    with RolloutBuffer.create(path, spec or tiny_spec(), steps_per_chunk=4) as buf:
        for e in episodes:
            write_episode(buf, e)
    return path


def test_info_verify_merge(tmp_path):
    a, b = make(tmp_path / "a", range(4)), make(tmp_path / "b", range(4, 6))
    res = run("info", a, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert (info["format_version"], info["episodes"], info["steps"]) == (4, 4, 1 + 6 + 2 + 7)
    assert info["per_task"] == {"task0": {"episodes": 2, "successes": 0}, "task1": {"episodes": 2, "successes": 2}}
    assert info["per_label_source"]["expert"] == {"episodes": 1, "successes": 1}
    human = run("info", a)
    assert human.returncode == 0 and "task1" in human.stdout and "100%" in human.stdout

    assert run("verify", a).returncode == 0
    res = run("merge", a, b, "--out", tmp_path / "c")
    assert res.returncode == 0, res.stderr
    merged = RolloutBuffer.open(tmp_path / "c")
    assert merged.num_episodes == 6
    for i in range(6):
        check_episode(merged, i, i)
    assert run("verify", tmp_path / "c").returncode == 0
    assert run("merge", a, b, "--out", tmp_path / "c").returncode != 0  # never overwrites


def test_verify_reports_damage(tmp_path):
    a = make(tmp_path / "a", range(2))
    import zarr
    zarr.open_array(a / "episodes" / "status", mode="r+")[0:1] = np.array(["great"])  # zarr < 3.1.6: no str scalar
    res = run("verify", a)
    assert res.returncode == 1 and "status not in" in res.stderr
    res = run("verify", tmp_path / "missing")
    assert res.returncode == 1 and "not a rollout buffer" in res.stderr


def test_merge_refuses_different_specs(tmp_path):
    other = EmbodimentSpec.from_dict({**tiny_spec().to_dict(), "control_rate_hz": 20})
    a, b = make(tmp_path / "a", range(1)), make(tmp_path / "b", range(1), spec=other)
    res = run("merge", a, b, "--out", tmp_path / "c")
    assert res.returncode == 2 and "control_rate_hz: 10.0 vs 20.0" in res.stderr
    assert not (tmp_path / "c").exists()
    with pytest.raises(BufferError, match="specs differ"):
        merge(a, b, tmp_path / "c")


def test_help_texts():
    for args in ([], ["merge"]):
        res = run(*args, "--help")
        assert res.returncode == 0 and "usage: robot-rl buffer" in res.stdout
