"""ExecutorCore without ROS: the executor's whole decision tree with known answers and explicit time.

Tabletop spec: 10 Hz (period 0.1 s), chunks (8, 7), no command latency; default limits (box
x 0.2..0.8, per step min(0.03 m, 0.25 m/s * 0.1 s) = 0.025 m), watchdog hold 0.5 s, stop 2 s,
heartbeat 1 s, e-stop clear guard 0.5 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.config import validate_config
from robot_rl.nodes.commands import JointCommand, PoseCommand, TwistCommand
from robot_rl.nodes.executor import ExecutorCore, Outputs
from robot_rl.ros_config.executor import ExecutorConfig, check_command_spec
from robot_rl.safety import Mode
from robot_rl.spec import load_spec
from robot_rl.wire.chunk_layout import chunk_checksum
from robot_rl.wire.episode_event import EpisodeEvent

HB = "/hb"
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
HOME = np.array([0.5, 0.0, 0.3])
T0 = 100.0


def _core(**overrides) -> ExecutorCore:
    cfg = validate_config(ExecutorConfig, {"dry_run": False, "heartbeat_topics": [HB], **overrides})
    spec = load_spec(cfg.spec)
    return ExecutorCore(cfg, spec, check_command_spec(cfg, spec))


def _chunk(first: list[float], rest: list[float] | None = None, horizon: int = 8) -> np.ndarray:
    chunk = np.tile(np.asarray(rest if rest is not None else first, dtype=np.float32), (horizon, 1))
    chunk[0] = first
    return chunk  # (H, A)


def _feed(core: ExecutorCore, chunk: np.ndarray, stamp: float, now: float) -> Outputs:
    core.on_chunk(chunk, now)
    return core.on_stamp(chunk_checksum(chunk), stamp, now)


def _ready(core: ExecutorCore, now: float = T0, pos: np.ndarray = HOME) -> None:
    """Heartbeat and end-effector pose fresh at ``now``."""
    core.heartbeat(HB, now)
    core.on_pose(pos, IDENTITY, "base_link", now, now)


def _refused(core: ExecutorCore, reason: str) -> int:
    return core.refusals.counts.get(reason, 0)


def test_nothing_is_commanded_before_a_chunk():
    core = _core()
    _ready(core)
    out = core.tick(T0)
    assert out.sends == [] and core.mode == Mode.IDLE and _refused(core, "no_chunk") == 1


def test_pose_command_known_answer_with_gripper_on_the_wire():
    core = _core(gripper_command_range=[0.0, 0.08])
    _ready(core)
    _feed(core, _chunk([0.01, 0.0, -0.02, 0.0, 0.0, 0.0, 1.0]), T0, T0)
    out = core.tick(T0)
    assert len(out.sends) == 1 and core.mode == Mode.RUN
    send = out.sends[0]
    assert isinstance(send.command, PoseCommand) and send.what == "action 0" and not send.hold
    np.testing.assert_allclose(send.command.position, [0.51, 0.0, 0.28], atol=1e-6)
    np.testing.assert_allclose(send.command.orientation, IDENTITY, atol=1e-9)
    assert send.gripper == pytest.approx(1.0) and send.gripper_wire == pytest.approx(0.08)
    assert any(n.text == "mode idle -> run" for n in out.notes)
    assert core.stats["published"] == 1 and core.stats["chunks_accepted"] == 1


def test_translation_clamped_to_the_velocity_cap():
    core = _core()
    _ready(core)
    _feed(core, _chunk([0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), T0, T0)
    pos = core.tick(T0).sends[0].command.position
    np.testing.assert_allclose(pos, [0.525, 0.0, 0.3], atol=1e-6)  # 0.25 m/s * 0.1 s
    assert _refused(core, "clamp_translation") == 1


def test_target_clipped_into_the_workspace_box():
    core = _core()
    _ready(core, pos=np.array([0.79, 0.0, 0.3]))
    _feed(core, _chunk([0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), T0, T0)
    np.testing.assert_allclose(core.tick(T0).sends[0].command.position, [0.8, 0.0, 0.3], atol=1e-9)
    assert _refused(core, "clamp_workspace") == 1


def test_robot_outside_the_box_is_not_stepped_back():
    core = _core()
    _ready(core, pos=np.array([0.9, 0.0, 0.3]))
    _feed(core, _chunk([-0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), T0, T0)
    assert core.tick(T0).sends == []  # no target yet: nothing to hold either
    assert _refused(core, "outside_workspace") == 1


def test_estop_latches_until_the_service_clears_it_after_the_guard():
    core = _core()
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0)
    assert len(core.tick(T0).sends) == 1
    out = core.on_estop(True, "/robot_rl/estop", T0 + 0.01)
    assert [n.level for n in out.notes] == ["error"] and "E-STOP latched (from /robot_rl/estop)" in out.notes[0].text
    core.on_estop(False, "/robot_rl/estop", T0 + 0.02)  # a release message never clears the latch
    _ready(core, T0 + 0.1)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0.5]), T0 + 0.1, T0 + 0.1)  # a fresh chunk does not resume motion
    assert core.tick(T0 + 0.1).sends == [] and core.mode == Mode.ESTOP
    refused = core.clear_estop(T0 + 0.2)  # e-stop asserted 0.19 s ago: within the 0.5 s guard
    assert not refused.ok and "still asserted" in refused.message and core.watchdog.estopped
    cleared = core.clear_estop(T0 + 0.6)
    assert cleared.ok and cleared.message == "e-stop cleared; waiting for a fresh chunk"
    _ready(core, T0 + 0.6)
    assert core.tick(T0 + 0.6).sends == [] and core.mode == Mode.IDLE  # the chunk from before does not count


def test_trigger_service_says_whether_the_estop_was_latched():
    core = _core()
    assert core.trigger_estop(T0).message == "e-stop latched; /robot_rl/clear_estop releases it"
    again = core.trigger_estop(T0 + 1)
    assert again.message == "e-stop was already latched; /robot_rl/clear_estop releases it" and again.notes == []


def test_lost_heartbeat_stops_with_one_zero_twist():
    core = _core(command_type="twist")
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0)
    assert isinstance(core.tick(T0).sends[0].command, TwistCommand)
    core.on_pose(HOME, IDENTITY, "base_link", T0 + 1.15, T0 + 1.15)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0.2]), T0 + 1.15, T0 + 1.15)
    out = core.tick(T0 + 1.2)  # heartbeat 1.2 s old > 1 s
    assert core.mode == Mode.STOP and _refused(core, "heartbeat_lost") == 1
    assert [(s.what, s.hold) for s in out.sends] == [("stop", True)]
    np.testing.assert_array_equal(out.sends[0].command.linear, np.zeros(3))
    np.testing.assert_array_equal(out.sends[0].command.angular, np.zeros(3))
    assert core.tick(T0 + 1.3).sends == []  # then silence
    assert core.diagnostics(T0 + 1.3).values["lost_heartbeats"] == HB


def test_stale_chunk_holds_the_last_target_then_stops():
    core = _core()
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0)
    target = core.tick(T0).sends[0].command.position
    core.heartbeat(HB, T0 + 0.6)
    out = core.tick(T0 + 0.6)  # chunk 0.6 s old > chunk_hold_s 0.5
    assert core.mode == Mode.HOLD and _refused(core, "chunk_stale_hold") == 1
    assert [(s.what, s.hold) for s in out.sends] == [("hold", True)]
    np.testing.assert_array_equal(out.sends[0].command.position, target)
    core.heartbeat(HB, T0 + 2.1)
    assert core.tick(T0 + 2.1).sends == [] and core.mode == Mode.STOP  # > chunk_stop_s 2: pose commands stop silently
    assert core.stats["hold_commands"] == 1 and core.stats["commands"] == 1


def test_late_actions_are_refused_and_the_due_one_runs():
    core = _core()
    _ready(core)
    _feed(core, _chunk([0.0, 0.0, 0.01, 0, 0, 0, 0]), T0, T0)
    assert [s.what for s in core.tick(T0).sends] == ["action 0"]  # the robot moves: no start on arrival
    _ready(core, T0 + 0.35)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0], [0.0, 0.01, 0, 0, 0, 0, 0]), T0 + 0.05, T0 + 0.3)
    out = core.tick(T0 + 0.35)  # actions 0, 1, 2 (sent at +0.05, +0.15, +0.25) passed their window of +-0.05 s
    assert _refused(core, "late_action") == 3 and [s.what for s in out.sends] == ["action 3"]
    np.testing.assert_allclose(out.sends[0].command.position, [0.5, 0.01, 0.3], atol=1e-6)  # a pause: measured
    assert any("3 action(s) passed their target time" in n.text for n in out.notes)
    core.heartbeat(HB, T0 + 0.45)
    out = core.tick(T0 + 0.45)  # continuous motion: the delta adds to the previous target, not the lagging pose
    assert [s.what for s in out.sends] == ["action 4"] and _refused(core, "late_action") == 3
    np.testing.assert_allclose(out.sends[0].command.position, [0.5, 0.02, 0.3], atol=1e-6)


def test_a_chunk_arriving_while_the_robot_was_still_starts_at_its_arrival():
    core = _core()
    _ready(core, T0 + 0.3)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0 + 0.3)  # observed at T0, computed for 0.3 s
    assert core.stats["chunks_started_on_arrival"] == 1
    out = core.tick(T0 + 0.35)
    assert [s.what for s in out.sends] == ["action 0"] and _refused(core, "late_action") == 0
    assert core.diagnostics(T0 + 0.35).values["chunks_started_on_arrival"] == 1


def test_chunks_refused_on_arrival_for_each_reason():
    core = _core()
    _ready(core)
    core.on_chunk(None, T0, "layout dims [9, 7], expected [8, 7]")
    bad = _chunk([np.nan, 0, 0, 0, 0, 0, 0])
    core.on_chunk(bad, T0)
    core.on_stamp("not-a-checksum", T0, T0)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0 - 0.6, T0)  # observation 0.6 s old > 0.5
    _feed(core, _chunk([0.02, 0, 0, 0, 0, 0, 0]), T0, T0)
    _feed(core, _chunk([0.03, 0, 0, 0, 0, 0, 0]), T0 - 0.1, T0)  # older than the one running
    core.on_chunk(_chunk([0.04, 0, 0, 0, 0, 0, 0]), T0)  # its stamp never comes
    core.tick(T0 + 0.3)
    assert {r: _refused(core, r) for r in ("bad_layout", "nonfinite", "unstamped_chunk", "stale_observation",
                                           "out_of_order")} == {"bad_layout": 1, "nonfinite": 1, "unstamped_chunk": 2,
                                                                "stale_observation": 1, "out_of_order": 1}
    assert core.stats["chunks_accepted"] == 1
    assert core.diagnostics(T0 + 0.3).values["rejected_messages"] == 6


def test_bad_missing_and_stale_poses_refuse_to_command():
    core = _core()
    core.heartbeat(HB, T0)
    core.on_pose(HOME, IDENTITY, "world", T0, T0)
    core.on_pose(HOME, np.zeros(4), "base_link", T0, T0)
    assert _refused(core, "bad_pose") == 2 and core.ee_pose is None
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0)
    assert core.tick(T0).sends == [] and _refused(core, "no_ee_pose") == 1
    core.on_pose(HOME, IDENTITY, "base_link", 0.0, T0 - 0.3)  # unstamped: taken at arrival, 0.4 s ago at the tick
    core.heartbeat(HB, T0 + 0.1)
    assert core.tick(T0 + 0.1).sends == [] and _refused(core, "stale_ee_pose") == 1


def test_twist_known_answer_continues_from_the_previous_target():
    core = _core(command_type="twist")
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0.1, 0]), T0, T0)
    first = core.tick(T0).sends[0].command
    np.testing.assert_allclose(first.linear, [0.1, 0.0, 0.0], atol=1e-6)  # 0.01 m in 0.1 s
    np.testing.assert_allclose(first.angular, [0.0, 0.0, 1.0], atol=1e-6)  # 0.1 rad in 0.1 s
    core.heartbeat(HB, T0 + 0.1)  # the measured pose lags (still HOME): the twist starts from the last target
    second = core.tick(T0 + 0.1).sends[0].command
    np.testing.assert_allclose(second.linear, [0.1, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(core.hold_pose[0], [0.52, 0.0, 0.3], atol=1e-6)


def test_dry_run_counts_and_describes_instead_of_sending():
    core = _core(dry_run=True)
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 1.0]), T0, T0)
    out = core.tick(T0)
    assert out.sends == [] and core.stats["dry_run_suppressed"] == 1 and core.stats["published"] == 0
    assert ("dry_run: would publish action 0: pose (0.510, 0.000, 0.300) quat (0.000, 0.000, 0.000, 1.000), "
            "gripper +1.00 (1 on the wire)") in [n.text for n in out.notes]
    switched = core.reconfigure(validate_config(ExecutorConfig, {"dry_run": False, "heartbeat_topics": [HB]}))
    assert [n.text for n in switched.notes] == ["dry_run switched OFF: commands go to the robot"]
    core.heartbeat(HB, T0 + 0.1)
    assert len(core.tick(T0 + 0.1).sends) == 1


def test_episode_start_forgets_targets_and_resets_the_schedule():
    core = _core()
    _ready(core)
    _feed(core, _chunk([0.01, 0, 0, 0, 0, 0, 0]), T0, T0)
    core.tick(T0)
    start = EpisodeEvent(event="start", episode_id="e1", context_id="pick/0", instruction="pick").to_json()
    core.on_episode_event(start)
    assert core.schedule.chunk is None and core.hold_pose is None
    core.heartbeat(HB, T0 + 0.1)
    assert core.tick(T0 + 0.1).sends == [] and _refused(core, "no_action_due") == 1  # nothing of the old chunk
    _feed(core, _chunk([0.0, 0.01, 0, 0, 0, 0, 0]), T0 + 0.1, T0 + 0.1)  # accepted: the schedule starts afresh
    assert core.tick(T0 + 0.1).sends[0].what == "action 0"
    core.on_episode_event("{not json")  # a bad event changes nothing
    core.on_episode_event(start)  # the panel repeating its start: the running schedule stands
    assert core.schedule.chunk is not None


def test_refusals_are_counted_every_tick_but_logged_once_per_interval():
    core = _core(log_interval_s=2.0)
    _ready(core)
    notes = [n.text for t in (0.0, 0.1, 0.2) for n in core.tick(T0 + t).notes]
    assert notes == ["refused (no_chunk)"] and _refused(core, "no_chunk") == 3
    core.heartbeat(HB, T0 + 2.1)
    assert [n.text for n in core.tick(T0 + 2.1).notes] == ["refused (no_chunk) (2 more since last report)"]


def test_diagnostics_levels_follow_the_mode():
    core = _core(dry_run=True)
    _ready(core)
    idle = core.diagnostics(T0)
    assert (idle.level, idle.message, idle.values["mode"]) == ("ok", "idle (dry_run)", "idle")
    core.on_estop(True, "test", T0)
    core.tick(T0)
    status = core.diagnostics(T0)
    assert (status.level, status.message, status.values["estop"]) == ("error", "e-stop latched (dry_run)", True)
    assert status.values["refused.estop"] == 1 and status.values["command_latency_s"] == "0.0000"


# ---- joint_trajectory --------------------------------------------------------------------------

JOINTS = [f"joint{i}" for i in range(1, 8)]


def _joint_core(**overrides) -> ExecutorCore:
    return _core(spec="arm7_joint", command_type="joint_trajectory",
                 joint_limits={"position_low": [-1.0] * 7, "position_high": [1.0] * 7}, **overrides)


def test_joint_trajectory_plans_the_rest_of_the_chunk_from_the_measured_joints():
    core = _joint_core(trajectory_points=3)
    core.heartbeat(HB, T0)
    core.on_joint_state(JOINTS, [0.1] * 7, T0, T0)
    _feed(core, _chunk([0.02] * 7 + [-1.0], [0.01] * 7 + [1.0]), T0, T0)
    out = core.tick(T0)
    send = out.sends[0]
    assert isinstance(send.command, JointCommand) and send.what == "action 0" and send.gripper == -1.0
    np.testing.assert_allclose(send.command.positions, [[0.12] * 7, [0.13] * 7, [0.14] * 7], atol=1e-6)
    np.testing.assert_allclose(send.command.time_from_start, [0.1, 0.2, 0.3])
    core.heartbeat(HB, T0 + 0.1)
    assert core.tick(T0 + 0.1).sends[0].command.positions.shape == (3, 7)  # action 1, re-planned


def test_joint_stop_sends_one_point_at_the_measured_joints():
    core = _joint_core()
    core.heartbeat(HB, T0)
    core.on_joint_state(JOINTS, [0.1] * 7, T0, T0)
    _feed(core, _chunk([0.02] * 7 + [0.0]), T0, T0)
    assert core.tick(T0).sends[0].command.positions.shape == (8, 7)
    core.on_joint_state(JOINTS, [0.115] * 7, T0 + 0.05, T0 + 0.05)
    out = core.on_estop(True, "test", T0 + 0.05)
    assert [(s.what, s.hold) for s in out.sends] == [("stop", True)]
    np.testing.assert_allclose(out.sends[0].command.positions, [[0.115] * 7])
    np.testing.assert_allclose(out.sends[0].command.time_from_start, [0.1])
    assert core.tick(T0 + 0.1).sends == []  # then silence


def test_bad_or_stale_joint_states_refuse_to_command():
    core = _joint_core()
    core.heartbeat(HB, T0)
    core.on_joint_state(JOINTS[:3], [0.1] * 7, T0, T0)
    assert _refused(core, "bad_joint_state") == 1
    _feed(core, _chunk([0.02] * 7 + [0.0]), T0, T0)
    assert core.tick(T0).sends == [] and _refused(core, "no_joint_state") == 1
    core.on_joint_state(JOINTS, [0.1] * 7, T0 - 0.2, T0)
    core.heartbeat(HB, T0 + 0.1)
    assert core.tick(T0 + 0.1).sends == [] and _refused(core, "stale_joint_state") == 1  # 0.3 s > 0.25 s
