"""A phase ends with a clear message when one of its processes dies or nothing progresses (real processes)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from robot_rl.rehearsal.config import RehearsalConfig
from robot_rl.rehearsal.graphs import RunningGraph
from robot_rl.rehearsal.run import RehearsalStopped, _watch

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "rehearsal.yaml"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _graph(tmp_path) -> RunningGraph:
    g = RunningGraph("train-u1", tmp_path / "logs", dict(os.environ))
    g.start("sim_robot_node", SLEEPER)
    g.start("success_label_node", SLEEPER)
    return g


def test_a_killed_panel_ends_the_phase_naming_it_and_how_to_resume(tmp_path):
    cfg = RehearsalConfig.load(DEFAULT)
    g = _graph(tmp_path)
    procs = dict(g.procs)
    threading.Timer(0.5, lambda: os.kill(procs["success_label_node"].pid, signal.SIGKILL)).start()
    with pytest.raises(RehearsalStopped) as err:
        _watch(g, cfg, tmp_path / "out", "my.yaml", lambda: False, lambda: 0, "hardware LOOP towards update 1")
    msg = str(err.value)
    assert "the operator panel (success_label_node) exited with code -9 during hardware LOOP towards update 1" in msg
    assert f"run `robot-rl rehearse my.yaml --out {tmp_path / 'out'}` again to resume" in msg
    assert all(p.poll() is not None for p in procs.values())      # the rest of the graph was stopped
    assert not (tmp_path / "logs" / "pids.json").exists()


def test_no_progress_ends_the_phase(tmp_path):
    cfg = RehearsalConfig.load(DEFAULT, {"graph.stall_timeout_s": 0.5, "graph.startup_timeout_s": 0.5})
    g = _graph(tmp_path)
    with pytest.raises(RehearsalStopped, match=r"no progress for 1 s during the held-out measurement"):
        _watch(g, cfg, tmp_path / "out", "my.yaml", lambda: False, lambda: 0, "the held-out measurement 'before'")
    assert all(p.poll() is not None for p in g.procs.values())


def test_done_returns_without_touching_the_graph(tmp_path):
    g = _graph(tmp_path)
    try:
        _watch(g, RehearsalConfig.load(DEFAULT), tmp_path, "my.yaml", lambda: True, lambda: 0, "x")
        assert g.dead() is None
    finally:
        g.stop()


def test_empty_cycles_counts_the_trailing_cycles_without_an_update(tmp_path):
    from robot_rl.rehearsal.run import empty_cycles, updates_done
    from robot_rl.train.hw_state import HwState, save_state

    assert empty_cycles(tmp_path) == 0 and updates_done(tmp_path) == 0      # no run yet
    history = [{"cycle": 0, "update": False}, {"cycle": 1, "update": True}, {"cycle": 2, "update": False},
               {"cycle": 3, "update": False}]
    save_state(tmp_path, HwState(cycle=4, policy_version=1, checkpoint="c", deploy_path="c", history=history))
    assert empty_cycles(tmp_path) == 2 and updates_done(tmp_path) == 1
