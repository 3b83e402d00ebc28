"""Known-answer tests for the executor's mode: e-stop latch, heartbeats, hold-then-stop."""

from __future__ import annotations

import pytest

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.safety import Mode, Reason, RefusalLog, Watchdog, WatchdogConfig

CFG = WatchdogConfig(chunk_hold_s=0.5, chunk_stop_s=2.0, heartbeat_timeout_s=1.0, estop_clear_guard_s=0.5)


def test_idle_until_a_chunk_then_run_hold_stop():
    w = Watchdog(CFG)
    assert w.mode(0.0) == (Mode.IDLE, Reason.NO_CHUNK)
    w.chunk_received(10.0)
    assert w.mode(10.5) == (Mode.RUN, None)
    assert w.mode(10.51) == (Mode.HOLD, Reason.CHUNK_STALE_HOLD)
    assert w.mode(12.0) == (Mode.HOLD, Reason.CHUNK_STALE_HOLD)
    assert w.mode(12.01) == (Mode.STOP, Reason.CHUNK_TIMEOUT_STOP)
    w.chunk_received(12.5)
    assert w.mode(12.6) == (Mode.RUN, None)


def test_heartbeats_must_be_heard_and_fresh():
    w = Watchdog(CFG, heartbeats=["/policy", "/panel"])
    w.chunk_received(0.0)
    assert w.mode(0.1) == (Mode.STOP, Reason.HEARTBEAT_LOST)  # never heard
    w.heartbeat("/policy", 0.1)
    w.heartbeat("/panel", 0.1)
    w.heartbeat("/unrelated", 0.1)
    assert w.mode(0.2) == (Mode.RUN, None)
    w.heartbeat("/panel", 1.0)
    assert w.lost_heartbeats(1.2) == ["/policy"]
    assert w.mode(1.2) == (Mode.STOP, Reason.HEARTBEAT_LOST)


def test_estop_latches_until_cleared_and_clearing_needs_release():
    w = Watchdog(CFG)
    w.chunk_received(0.0)
    w.estop(False, 0.1)
    assert w.mode(0.1)[0] == Mode.RUN
    w.estop(True, 0.2)
    w.estop(False, 0.3)  # a False message does not clear
    w.chunk_received(0.3)
    assert w.mode(0.35) == (Mode.ESTOP, Reason.ESTOP)
    ok, msg = w.clear_estop(0.5)  # last assert 0.3 s ago < guard 0.5 s
    assert not ok and "still asserted" in msg and w.estopped
    ok, _ = w.clear_estop(0.8)
    assert ok and not w.estopped
    # Clearing requires a fresh chunk before running again.
    assert w.mode(0.81) == (Mode.IDLE, Reason.NO_CHUNK)


def test_estop_beats_everything():
    w = Watchdog(CFG, heartbeats=["/policy"])
    w.estop(True, 0.0)
    assert w.mode(0.0)[0] == Mode.ESTOP


def test_config_requires_hold_before_stop():
    with pytest.raises(ConfigError, match="chunk_hold_s"):
        validate_config(WatchdogConfig, {"chunk_hold_s": 3.0, "chunk_stop_s": 2.0})


def test_refusal_log_counts_everything_and_rate_limits_lines():
    log = RefusalLog(interval_s=1.0)
    assert log.record(Reason.NONFINITE, 0.0) == ""
    assert log.record(Reason.NONFINITE, 0.5) is None
    assert log.record(Reason.NONFINITE, 0.6, n=3) is None
    assert log.record(Reason.BAD_LAYOUT, 0.7) == ""  # other reasons have their own clock
    assert log.record(Reason.NONFINITE, 1.1) == " (4 more since last report)"
    assert log.counts["nonfinite"] == 6 and log.counts["bad_layout"] == 1
