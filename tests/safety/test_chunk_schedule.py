"""Known-answer tests for absolute action target times and late-action dropping."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.safety import ChunkSchedule

CHUNK = np.arange(8 * 2, dtype=np.float32).reshape(8, 2)  # (H, A); row i = [2i, 2i + 1]


def test_actions_are_sent_at_stamp_plus_index_over_rate_minus_command_latency():
    s = ChunkSchedule(rate_hz=10.0, command_latency_s=0.05)
    s.set_chunk(CHUNK, stamp_s=100.0)
    assert [round(s.target_time(i), 6) for i in (0, 1, 7)] == [99.95, 100.05, 100.65]
    zero = ChunkSchedule(rate_hz=10.0)
    zero.set_chunk(CHUNK, stamp_s=100.0)
    assert zero.target_time(0) == 100.0  # no latency: action 0 acts on the observed state at once


def test_command_latency_makes_early_actions_late():
    # The robot moves 0.25 s after a command: a chunk arriving 0.02 s after its observation can no
    # longer make actions 0-2 happen on time (sent at 99.75, 99.85, 99.95); action 3 goes first.
    s = ChunkSchedule(rate_hz=10.0, command_latency_s=0.25)
    s.set_chunk(CHUNK, stamp_s=100.0)
    index, _ = s.action_at(100.02)
    assert index == 3 and s.late_dropped == 3
    assert s.action_at(100.15)[0] == 4
    with pytest.raises(ValueError, match="command_latency_s"):
        ChunkSchedule(rate_hz=10.0, command_latency_s=-0.1)


def test_one_action_per_tick_on_time():
    s = ChunkSchedule(rate_hz=10.0)
    s.set_chunk(CHUNK, stamp_s=100.0)
    got = [s.action_at(100.0 + 0.1 * k + 0.01) for k in range(8)]
    assert [g[0] for g in got] == list(range(8))
    np.testing.assert_array_equal(got[3][1], [6.0, 7.0])
    assert s.action_at(100.81) is None and s.exhausted(100.81) and s.late_dropped == 0


def test_not_due_yet_returns_nothing_and_each_action_runs_once():
    s = ChunkSchedule(rate_hz=10.0)
    s.set_chunk(CHUNK, stamp_s=100.2)
    assert s.action_at(100.1) is None  # action 0 is sent at 100.2, window is +-0.05
    assert s.action_at(100.2)[0] == 0
    assert s.action_at(100.21) is None  # action 0 already done, action 1 due at 100.3


def test_late_actions_are_dropped_and_counted():
    s = ChunkSchedule(rate_hz=10.0)
    s.set_chunk(CHUNK, stamp_s=100.0)
    # A chunk that arrives 0.33 s after its observation: actions 0-2 (targets 100.0-100.2) are late.
    index, action = s.action_at(100.33)
    assert index == 3 and s.late_dropped == 3
    np.testing.assert_array_equal(action, CHUNK[3])
    assert s.action_at(2000.0) is None and s.late_dropped == 3 + 4


def test_newer_chunk_replaces_and_older_is_refused():
    s = ChunkSchedule(rate_hz=10.0)
    assert s.set_chunk(CHUNK, stamp_s=100.0)
    assert s.action_at(100.0)[0] == 0
    assert not s.set_chunk(CHUNK + 100, stamp_s=99.9)
    assert not s.set_chunk(CHUNK + 100, stamp_s=100.0)
    assert s.set_chunk(CHUNK + 100, stamp_s=100.1)
    index, action = s.action_at(100.1)
    assert index == 0 and action[0] == 100.0
