"""action_executor with a joint-space spec (`arm7_joint`, `command_type: joint_trajectory`) as a real
process over DDS: the test plays the robot driver (/joint_states) and the policy (heartbeat, stamped
chunks) and reads the trajectory_msgs/JointTrajectory commands: joint names, positions, times, the
step and position limits, late actions, NaN chunks, stale chunks (hold, then stop), the e-stop."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray, Float64, Header
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from ros_harness import Probe, ros_env, start_nodes
from robot_rl.wire import topics
from ros_nodes import qos
from ros_nodes.messages import chunk_to_msgs, s_to_stamp

pytestmark = pytest.mark.ros

H, A, J, RATE_HZ = 8, 8, 7, 10.0  # the arm7_joint spec: 7 joint deltas + gripper at 10 Hz
NAMES = [f"fr3_joint{i}" for i in range(1, 8)]  # the robot's names for the spec's joint1..joint7
LOW = [-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973]  # Franka position limits [rad]
HIGH = [2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973]
HOME = np.array([0.0, -0.5, 0.0, -2.0, 0.0, 1.5, 0.8])
CAP = 0.05  # min(max_step_rad 0.05, max_speed_rad_s 1.0 / 10 Hz)
PARAMS = {"action_executor": {"ros__parameters": {
    "spec": "arm7_joint", "command_type": "joint_trajectory", "dry_run": False, "joint_names": NAMES,
    "log_interval_s": 0.5, "diagnostics_period_s": 0.25,
    "watchdog": {"chunk_hold_s": 0.4, "chunk_stop_s": 1.0, "heartbeat_timeout_s": 0.6, "estop_clear_guard_s": 0.3},
    "joint_limits": {"position_low": LOW, "position_high": HIGH, "max_step_rad": [0.05], "max_speed_rad_s": [1.0]},
}}}


class Robot:
    """The driver's side (joint states, heartbeat) and what the executor sends back."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        n = probe.node
        self.q = HOME.copy()
        self.publish_joints = True
        self.trajectories: list[tuple[float, JointTrajectory]] = []  # (arrival, message)
        self.grippers: list[float] = []
        self.diag: dict[str, str] = {}
        self.diag_stamp = 0.0
        n.create_subscription(JointTrajectory, topics.COMMAND_JOINT_TRAJECTORY,
                              lambda m: self.trajectories.append((time.monotonic(), m)), qos.RELIABLE)
        n.create_subscription(Float64, topics.COMMAND_GRIPPER, lambda m: self.grippers.append(m.data), qos.RELIABLE)
        n.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.RELIABLE)
        self.chunk_pub = n.create_publisher(Float32MultiArray, topics.ACTION_CHUNK, qos.RELIABLE)
        self.stamp_pub = n.create_publisher(Header, topics.ACTION_CHUNK_STAMP, qos.RELIABLE)
        self.joint_pub = n.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR)
        self.heartbeat_pub = n.create_publisher(Header, topics.POLICY_HEARTBEAT, qos.SENSOR)
        self.estop_pub = n.create_publisher(Bool, topics.ESTOP, qos.LATCHED)
        self.clear = n.create_client(Trigger, topics.CLEAR_ESTOP)
        n.create_timer(0.02, self._publish_inputs)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("action_executor"):
                self.diag = {kv.key: kv.value for kv in status.values}
                self.diag_stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def _publish_inputs(self) -> None:
        stamp = self.probe.node.get_clock().now().to_msg()
        self.heartbeat_pub.publish(Header(stamp=stamp, frame_id="test"))
        if self.publish_joints:  # the arm's joints plus one the executor does not command
            msg = JointState(name=[*NAMES, "fr3_finger_joint1"], position=[*(float(v) for v in self.q), 0.04])
            msg.header.stamp = stamp
            self.joint_pub.publish(msg)

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def send_chunk(self, chunk: np.ndarray, stamp_s: float | None = None) -> None:
        msg, header = chunk_to_msgs(chunk, s_to_stamp(self.now() if stamp_s is None else stamp_s))
        self.stamp_pub.publish(header)
        self.chunk_pub.publish(msg)

    def after(self, t0: float) -> list[JointTrajectory]:
        return [m for t, m in self.trajectories if t >= t0]

    def sync(self) -> None:
        """Wait for diagnostics published after everything sent so far was handled."""
        t = self.now() + 0.1
        self.probe.spin_until(lambda: self.diag_stamp > t, 4.0, "fresh diagnostics")

    def counter(self, key: str) -> int:
        return int(self.diag.get(key, "0"))

    def wait_mode(self, mode: str, timeout: float = 3.0) -> None:
        self.sync()  # never judge by diagnostics from before what was just sent
        self.probe.spin_until(lambda: self.diag.get("mode") == mode, timeout,
                              f"executor mode {mode} (now {self.diag.get('mode')!r})")

    def call(self, client, request):
        assert client.wait_for_service(timeout_sec=10.0), f"service {client.srv_name} not available"
        future = client.call_async(request)
        self.probe.spin_until(future.done, 5.0, f"reply from {client.srv_name}")
        return future.result()


@pytest.fixture(scope="module")
def robot(domain_id: int, node_logs: Path, tmp_path_factory: pytest.TempPathFactory):
    params = tmp_path_factory.mktemp("joint_executor") / "executor.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    gen = start_nodes([("action_executor", ["--params-file", str(params)])], ros_env(domain_id, large_data=False),
                      node_logs)
    procs = next(gen)
    probe = Probe(domain_id, large_data=False)
    rig = Robot(probe)
    try:
        probe.spin_until(lambda: bool(rig.diag) or not procs[0].alive(), 30.0, "diagnostics from the executor")
        assert procs[0].alive(), procs[0].log()
        pubs = [rig.chunk_pub, rig.stamp_pub, rig.joint_pub, rig.heartbeat_pub, rig.estop_pub]
        probe.spin_until(lambda: all(p.get_subscription_count() >= 1 for p in pubs), 15.0,
                         "the executor subscribed to every input")
        rig.proc = procs[0]
        yield rig
        assert procs[0].alive(), f"executor died:\n{procs[0].log()}"
    finally:
        probe.close()
        for _ in gen:
            pass


def _chunk(deltas: list[float] | np.ndarray = (), gripper: float = 1.0) -> np.ndarray:
    chunk = np.zeros((H, A), dtype=np.float32)  # (H, A)
    chunk[:, : len(deltas)] = deltas
    chunk[:, 7] = gripper
    return chunk


def _points(msg: JointTrajectory) -> tuple[np.ndarray, np.ndarray]:
    """(positions (m, J), time_from_start (m,)) of a trajectory."""
    pos = np.array([list(p.positions) for p in msg.points])
    times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
    return pos, times


def test_a_chunk_becomes_trajectories_through_the_rest_of_the_chunk(robot):
    robot.wait_mode("idle")
    delta = np.array([0.01, -0.02, 0.0, 0.005, 0.0, 0.0, 0.03])
    t0 = time.monotonic()
    robot.send_chunk(_chunk(delta, gripper=0.5))
    robot.probe.spin_until(lambda: len(robot.after(t0)) >= 3, 3.0, "three trajectories")
    got = robot.after(t0)
    for msg in got:
        assert msg.joint_names == NAMES  # the configured robot names, not the spec's
        positions, times = _points(msg)
        m = len(positions)  # action i of the chunk comes with the H - i - 1 after it
        assert 1 <= m <= H
        k = np.arange(1, m + 1)
        # The arm (our fake joint states) stays at HOME, so every plan starts there.
        np.testing.assert_allclose(positions, HOME + k[:, None] * delta, atol=1e-6)
        np.testing.assert_allclose(times, k / RATE_HZ, atol=1e-9)
    # One trajectory per tick, each one action further into the chunk (a late tick under load skips one).
    counts = [len(m.points) for m in got[:3]]
    assert all(a > b for a, b in zip(counts, counts[1:])), counts
    assert got[0].points and len(got[0].points) >= H - 1  # a fresh chunk starts at action 0 (or 1 under load)
    assert robot.grippers and robot.grippers[-1] == pytest.approx(0.5)


def test_step_and_position_limits_are_enforced(robot):
    # joint1 asks 0.1 rad per step (allowed by the spec, twice the executor's cap): the whole step is scaled by
    # 0.5; joint4 starts 0.04 rad below its upper limit (-0.0698) and is stopped there.
    robot.wait_mode("stop")  # the previous chunk is over
    robot.q = HOME.copy()
    robot.q[3] = HIGH[3] - 0.04
    robot.probe.spin_for(0.1)
    delta = np.array([0.1, 0.0, 0.0, 0.04, 0.0, 0.0, 0.0])
    t0 = time.monotonic()
    robot.send_chunk(_chunk(delta))
    robot.probe.spin_until(lambda: len(robot.after(t0)) >= 2, 3.0, "trajectories")
    positions, _ = _points(robot.after(t0)[0])
    k = np.arange(1, len(positions) + 1)
    np.testing.assert_allclose(positions[:, 0], HOME[0] + CAP * k, atol=1e-6)
    np.testing.assert_allclose(positions[:, 3], np.minimum(robot.q[3] + 0.02 * k, HIGH[3]), atol=1e-6)
    assert positions[-1, 3] == pytest.approx(HIGH[3]) and np.all(positions[:, 3] <= HIGH[3] + 1e-9)
    assert np.all(np.abs(np.diff(positions, axis=0)) <= CAP + 1e-6)  # no step between points beyond the cap
    robot.sync()
    assert robot.counter("refused.clamp_joint_step") >= 1 and robot.counter("refused.clamp_joint_limits") >= 1

    # A joint already past its limit: nothing moves it (an operator brings it back); the executor holds.
    robot.q[3] = HIGH[3] + 0.01
    robot.probe.spin_for(0.1)
    before = robot.counter("refused.outside_joint_limits")
    t1 = time.monotonic()
    robot.send_chunk(_chunk(delta))
    robot.probe.spin_for(0.4)
    robot.sync()
    assert robot.counter("refused.outside_joint_limits") > before
    for msg in robot.after(t1):  # only holds: one point where the arm is
        positions, times = _points(msg)
        assert len(positions) == 1 and times[0] == pytest.approx(0.1)
        np.testing.assert_allclose(positions[0], robot.q, atol=1e-6)
    robot.q = HOME.copy()


def test_late_actions_are_dropped_by_their_absolute_target_times(robot):
    robot.wait_mode("stop")
    before = robot.counter("refused.late_action")
    # The arm moves (a first chunk runs) when the late chunk arrives: its stamp holds. (A chunk arriving while
    # the arm was still would start at its arrival, action 0 first: tests/safety/test_chunk_schedule.py.)
    robot.send_chunk(_chunk([0.0]))
    robot.probe.spin_for(0.3)
    t0 = time.monotonic()
    robot.send_chunk(_chunk([0.01]), stamp_s=robot.now() - 0.22)  # actions 0-1 were due before it arrived
    def late_chunk() -> list:  # the first chunk's trajectories do not move the arm
        return [m for m in robot.after(t0) if abs(_points(m)[0][0, 0] - HOME[0]) > 1e-6]

    robot.probe.spin_until(lambda: len(late_chunk()) >= 1, 3.0, "a trajectory of the late chunk")
    first = late_chunk()[0]
    assert len(first.points) <= H - 2  # starts at action 2 or later
    positions, _ = _points(first)
    np.testing.assert_allclose(positions[0, 0], HOME[0] + 0.01, atol=1e-6)  # one step from the measured joints
    robot.sync()
    assert robot.counter("refused.late_action") >= before + 2


def test_stale_chunk_holds_where_the_arm_is_then_stops(robot):
    robot.wait_mode("stop")
    t0 = time.monotonic()
    robot.send_chunk(_chunk([0.01]))
    robot.probe.spin_until(lambda: len(robot.after(t0)) >= 2, 3.0, "trajectories")
    robot.q = HOME + 0.003  # the arm moved a little: the hold is where it is when the hold begins
    robot.wait_mode("stop", timeout=3.0)
    got = robot.after(t0)
    holds = [m for m in got if len(m.points) == 1]
    motion = [m for m in got if len(m.points) > 1]
    assert len(motion) >= 2 and len(holds) >= 2, (len(motion), len(holds))
    assert all(len(m.points) == 1 for m in got[len(motion):])  # after the motion, only holds
    for msg in holds:
        np.testing.assert_allclose(_points(msg)[0][0], HOME + 0.003, atol=1e-6)
    last = [t for t, _ in robot.trajectories if t >= t0][-1] - t0
    assert 0.7 <= last <= 1.5, f"last command {last:.2f} s after the chunk"  # chunk_stop_s = 1.0
    n = len(robot.trajectories)
    robot.probe.spin_for(0.5)
    assert len(robot.trajectories) == n, "commands after stop"
    robot.q = HOME.copy()


def test_a_nan_chunk_never_becomes_a_trajectory(robot):
    robot.wait_mode("stop")
    robot.sync()
    before = robot.counter("refused.nonfinite")
    n = len(robot.trajectories)
    chunk = _chunk([0.01])
    chunk[2, 3] = math.nan
    robot.send_chunk(chunk)
    chunk = _chunk([0.01])
    chunk[0, 7] = math.inf  # the gripper counts too
    robot.send_chunk(chunk)
    robot.probe.spin_until(lambda: robot.counter("refused.nonfinite") >= before + 2, 3.0, "nonfinite count")
    assert len(robot.trajectories) == n and robot.diag["mode"] == "stop"


def test_bad_or_stale_joint_states_are_refused(robot):
    robot.wait_mode("stop")
    bad = robot.counter("refused.bad_joint_state")
    robot.joint_pub.publish(JointState(name=NAMES, position=[0.0] * 3))  # wrong joint count
    robot.probe.spin_until(lambda: robot.counter("refused.bad_joint_state") > bad, 3.0, "bad_joint_state count")
    assert robot.proc.alive()
    # The driver goes quiet: a fresh chunk finds joint positions too old to plan from, and nothing is sent.
    robot.publish_joints = False
    try:
        robot.probe.spin_for(0.35)  # > max_joint_state_age_s (0.25)
        stale = robot.counter("refused.stale_joint_state")
        t0 = time.monotonic()
        robot.send_chunk(_chunk([0.01]))
        robot.probe.spin_until(lambda: robot.counter("refused.stale_joint_state") > stale, 3.0, "stale_joint_state")
        robot.probe.spin_for(0.2)
        assert robot.after(t0) == []
    finally:
        robot.publish_joints = True


def test_estop_stops_the_arm_and_stays_latched_until_cleared(robot):
    robot.wait_mode("stop")
    t0 = time.monotonic()
    robot.send_chunk(_chunk([0.01]))
    robot.probe.spin_until(lambda: len(robot.after(t0)) >= 2, 3.0, "trajectories")
    n = len(robot.trajectories)
    robot.estop_pub.publish(Bool(data=True))
    robot.wait_mode("estop")
    robot.probe.spin_for(0.2)
    # The e-stop replaced the look-ahead with one trajectory to where the arm is (after at most one
    # motion trajectory already on its way).
    since = [m for _, m in robot.trajectories[n:]]
    assert 1 <= len(since) <= 2 and len(since[-1].points) == 1, [len(m.points) for m in since]
    np.testing.assert_allclose(_points(since[-1])[0][0], HOME, atol=1e-6)
    t1 = time.monotonic()
    robot.send_chunk(_chunk([0.01]))  # chunks keep coming: nothing moves
    robot.probe.spin_for(1.0)
    assert robot.after(t1) == [] and robot.diag["estop"] == "True"
    robot.estop_pub.publish(Bool(data=False))
    robot.probe.spin_for(0.4)
    assert robot.call(robot.clear, Trigger.Request()).success
    robot.wait_mode("idle")
    t2 = time.monotonic()
    robot.send_chunk(_chunk([0.01]))
    robot.probe.spin_until(lambda: len(robot.after(t2)) >= 2, 3.0, "trajectories after clearing")


def test_an_end_effector_spec_cannot_start_in_joint_trajectory_mode(domain_id: int):
    import subprocess

    from ros_harness import executable

    run = subprocess.run([executable("action_executor"), "--ros-args", "-p", "command_type:=joint_trajectory",
                          "-p", "spec:=tabletop"], env=ros_env(domain_id, large_data=False), capture_output=True,
                         text=True, timeout=60)
    assert run.returncode != 0
    assert "command_type 'joint_trajectory'" in run.stderr and "inverse kinematics" in run.stderr, run.stderr[-800:]
