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


def test_a_chunk_arriving_while_the_robot_was_still_starts_with_action_0_at_the_next_tick():
    # Whole chunks: the previous one ran out (last action at 100.7) before the next observation
    # (100.8), so the robot stood still while the policy thought; the chunk arrives 80 ms later.
    s = ChunkSchedule(rate_hz=10.0)
    s.set_chunk(CHUNK, stamp_s=100.0, arrival_s=100.01)  # the first chunk: still before it too
    assert s.started_on_arrival == 1 and s.action_at(100.02)[0] == 0  # not dropped to the 10 ms
    for k in range(1, 8):
        assert s.action_at(100.02 + 0.1 * k)[0] == k
    assert s.set_chunk(CHUNK, stamp_s=100.8, arrival_s=100.88)
    for tick in (100.88, 100.92, 100.97):  # whatever the phase of the next tick (within a period): action 0
        probe = ChunkSchedule(rate_hz=10.0)
        probe.last_sent_s, probe.chunk, probe.stamp_s, probe.start_s = s.last_sent_s, None, None, None
        probe.set_chunk(CHUNK, stamp_s=100.8, arrival_s=100.88)
        assert probe.action_at(tick)[0] == 0 and probe.late_dropped == 0
    assert s.action_at(100.92)[0] == 0 and s.action_at(101.02)[0] == 1 and s.started_on_arrival == 2


def test_a_chunk_arriving_while_the_previous_one_still_runs_keeps_its_stamp_and_drops_late_actions():
    s = ChunkSchedule(rate_hz=10.0)
    s.set_chunk(CHUNK, stamp_s=100.0)
    assert s.action_at(100.0)[0] == 0 and s.action_at(100.1)[0] == 1  # the robot moves after 100.05
    s.set_chunk(CHUNK, stamp_s=100.15, arrival_s=100.22)  # receding horizon: replan while moving
    assert s.started_on_arrival == 0 and s.action_at(100.25)[0] == 1 and s.late_dropped == 1


def test_on_sim_time_a_chunk_arriving_at_its_own_stamp_runs_whole_from_action_0():
    # The stand-in's /clock moves in whole periods and inference takes no sim time: the chunk computed from
    # the frame at t arrives at t. Every action must run, at ticks t + 0.1 ... t + 0.8 (none lost as late).
    s = ChunkSchedule(rate_hz=10.0)
    t = 1.0 + 9 * 0.1  # sim times on the period grid, with their round-off (1.9000000000000001)
    assert s.set_chunk(CHUNK, stamp_s=t, arrival_s=t) and s.started_on_arrival == 1
    sent = [s.action_at(1.0 + k * 0.1) for k in range(10, 19)]
    assert [a[0] for a in sent if a is not None] == list(range(8)) and s.late_dropped == 0
    # The next chunk, computed after the last action ran, again starts whole at its arrival.
    t2 = 1.0 + 19 * 0.1
    assert s.set_chunk(CHUNK, stamp_s=t2, arrival_s=t2) and s.started_on_arrival == 2
    assert s.action_at(1.0 + 20 * 0.1)[0] == 0 and s.late_dropped == 0
