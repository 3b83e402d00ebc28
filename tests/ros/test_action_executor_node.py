"""action_executor as a real process, driven over DDS: commands, refusals, e-stop, dry run, and the
spec's command latency moving every action's send time."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from std_msgs.msg import Bool, Float32MultiArray, Header, MultiArrayDimension
from std_srvs.srv import Trigger

from ros_harness import Probe, start_nodes, ros_env
from robot_rl.wire import topics
from ros_nodes import qos
from robot_rl.spec import EmbodimentSpec, load_spec
from ros_nodes.messages import chunk_to_msgs, s_to_stamp, stamp_to_s

pytestmark = pytest.mark.ros

RATE_HZ, H, A = 10.0, 8, 7  # the tabletop spec
DRY_TOPIC = "/dry/command/pose"
LAT_TOPIC = "/lat/command/pose"
COMMAND_LATENCY = 0.3  # the lat_executor's spec says the robot moves 0.3 s after a command
PARAMS = {
    "action_executor": {"ros__parameters": {
        "dry_run": False,
        "log_interval_s": 0.5,
        "watchdog": {"chunk_hold_s": 0.4, "chunk_stop_s": 1.0, "heartbeat_timeout_s": 0.6, "estop_clear_guard_s": 0.3},
        "limits": {"workspace_low": [0.2, -0.4, 0.02], "workspace_high": [0.8, 0.4, 0.6],
                   "max_step_translation_m": 0.03, "max_linear_speed_m_s": 0.25},
    }},
}


class ExecutorHarness:
    """The test's view of two executors: one live (dry_run off), one with every default (dry run)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        n = probe.node
        self.pose = np.array([0.5, 0.0, 0.3])
        self.publish_inputs = True
        self.commands: list[tuple[float, PoseStamped]] = []
        self.dry_commands: list[PoseStamped] = []
        self.lat_commands: list[tuple[float, PoseStamped]] = []
        self.diag: dict[str, dict[str, str]] = {}
        self.diag_stamp: dict[str, float] = {}
        n.create_subscription(PoseStamped, topics.COMMAND_POSE, lambda m: self.commands.append((time.monotonic(), m)),
                              qos.RELIABLE)
        n.create_subscription(PoseStamped, DRY_TOPIC, self.dry_commands.append, qos.RELIABLE)
        n.create_subscription(PoseStamped, LAT_TOPIC, lambda m: self.lat_commands.append((time.monotonic(), m)),
                              qos.RELIABLE)
        n.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.RELIABLE)
        self.chunk_pub = n.create_publisher(Float32MultiArray, topics.ACTION_CHUNK, qos.RELIABLE)
        self.stamp_pub = n.create_publisher(Header, topics.ACTION_CHUNK_STAMP, qos.RELIABLE)
        self.pose_pub = n.create_publisher(PoseStamped, topics.EE_POSE, qos.SENSOR)
        self.heartbeat_pub = n.create_publisher(Header, topics.POLICY_HEARTBEAT, qos.SENSOR)
        self.estop_pub = n.create_publisher(Bool, topics.ESTOP, qos.LATCHED)
        self.clear = n.create_client(Trigger, topics.CLEAR_ESTOP)
        self.trigger = n.create_client(Trigger, topics.TRIGGER_ESTOP)
        self.set_params = n.create_client(SetParameters, "/action_executor/set_parameters")
        n.create_timer(0.02, self._publish_inputs)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diag_stamp[status.name.split(":")[0]] = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            self.diag[status.name.split(":")[0]] = {kv.key: kv.value for kv in status.values}

    def _publish_inputs(self) -> None:
        if not self.publish_inputs:
            return
        stamp = self.probe.node.get_clock().now().to_msg()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in self.pose)
        pose.pose.orientation.w = 1.0
        self.pose_pub.publish(pose)
        self.heartbeat_pub.publish(Header(stamp=stamp, frame_id="test"))

    def now(self) -> float:
        return self.probe.node.get_clock().now().nanoseconds * 1e-9

    def send_chunk(self, chunk: np.ndarray, stamp_s: float | None = None) -> None:
        msg, header = chunk_to_msgs(chunk, s_to_stamp(self.now() if stamp_s is None else stamp_s))
        self.stamp_pub.publish(header)
        self.chunk_pub.publish(msg)

    def sync(self, node: str = "action_executor") -> None:
        """Wait for diagnostics from ``node`` published after everything sent so far was handled."""
        t = self.now() + 0.1
        self.probe.spin_until(lambda: self.diag_stamp.get(node, 0.0) > t, 4.0, f"fresh diagnostics from {node}")

    def counter(self, key: str, node: str = "action_executor") -> int:
        return int(self.diag.get(node, {}).get(key, "0"))

    def mode(self, node: str = "action_executor") -> str:
        return self.diag.get(node, {}).get("mode", "")

    def wait_mode(self, mode: str, timeout: float = 3.0) -> None:
        self.probe.spin_until(lambda: self.mode() == mode, timeout, f"executor mode {mode} (now {self.mode()!r})")

    def call(self, client, request):
        assert client.wait_for_service(timeout_sec=10.0), f"service {client.srv_name} not available"
        future = client.call_async(request)
        self.probe.spin_until(future.done, 5.0, f"reply from {client.srv_name}")
        return future.result()


@pytest.fixture(scope="module")
def ex(domain_id: int, node_logs: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("executor")
    params = tmp / "executor.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    # The tabletop spec with a measured command-to-motion latency, as `robot-rl calibrate latency` writes it.
    spec = load_spec("tabletop").to_dict()
    spec["latency"]["command_s"] = COMMAND_LATENCY
    EmbodimentSpec.from_dict(spec).to_yaml(tmp / "spec_latency.yaml")
    lat_params = tmp / "lat_executor.yaml"
    lat_params.write_text(yaml.safe_dump({"lat_executor": {"ros__parameters": {
        **PARAMS["action_executor"]["ros__parameters"], "spec": str(tmp / "spec_latency.yaml"),
        "pose_command_topic": LAT_TOPIC,
        # Runs a whole chunk (the main executor holds after 0.4 s: actions 0-3 only).
        "watchdog": {"chunk_hold_s": 1.0, "chunk_stop_s": 2.0, "heartbeat_timeout_s": 0.6}}}}))
    env = ros_env(domain_id, large_data=False)
    nodes = [
        ("action_executor", ["--params-file", str(params)]),
        # Every default (dry_run on); its own name, command topic and clear service.
        ("action_executor", ["-r", "__node:=dry_executor", "-r", f"{topics.CLEAR_ESTOP}:=/dry/clear_estop",
                             "-r", f"{topics.TRIGGER_ESTOP}:=/dry/trigger_estop",
                             "-p", f"pose_command_topic:={DRY_TOPIC}"]),
        # Same limits, but its spec has a command latency (and its own command topic and clear service).
        ("action_executor", ["-r", "__node:=lat_executor", "-r", f"{topics.CLEAR_ESTOP}:=/lat/clear_estop",
                             "-r", f"{topics.TRIGGER_ESTOP}:=/lat/trigger_estop",
                             "--params-file", str(lat_params)]),
    ]
    gen = start_nodes(nodes, env, node_logs)
    procs = next(gen)
    probe = Probe(domain_id, large_data=False)
    harness = ExecutorHarness(probe)
    try:
        probe.spin_until(lambda: {"action_executor", "dry_executor", "lat_executor"} <= set(harness.diag), 30.0,
                         "diagnostics from every executor")
        pubs = [harness.chunk_pub, harness.stamp_pub, harness.pose_pub, harness.heartbeat_pub, harness.estop_pub]
        probe.spin_until(lambda: all(p.get_subscription_count() >= 3 for p in pubs), 15.0,
                         "every executor subscribed to every input")
        harness.procs = procs
        yield harness
        for p in procs:
            assert p.alive(), f"executor died:\n{p.log()}"
    finally:
        probe.close()
        for _ in gen:
            pass


def _chunk(dx: float = 0.0, gripper: float = 1.0) -> np.ndarray:
    chunk = np.zeros((H, A), dtype=np.float32)  # (H, A)
    chunk[:, 0] = dx
    chunk[:, 6] = gripper
    return chunk


def _commands_after(ex: ExecutorHarness, t0: float) -> list[tuple[float, np.ndarray]]:
    return [(t, np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])) for t, m in ex.commands if t >= t0]


def _assert_integrated(xs: list[np.ndarray], step: float, lead: float = 0.05) -> None:
    """Motion targets (robot still at x 0.5): each one the previous plus ``step``, or 0.5 + ``step`` again
    (the first, after a pause, or when the previous ran more than ``lead`` ahead of the robot)."""
    assert xs, "no commands"
    for prev, x in zip([None, *xs], xs):
        np.testing.assert_allclose(x[1:], [0.0, 0.3], atol=1e-6)
        restart = abs(x[0] - (0.5 + step)) < 1e-6
        held = prev is not None and abs(x[0] - prev[0]) < 1e-9  # the hold after the chunk re-sends the target
        continued = prev is not None and prev[0] - 0.5 <= lead + 1e-6 and abs(x[0] - prev[0] - step) < 1e-6
        assert restart or held or continued, f"target x {x[0]:.4f} after {None if prev is None else round(prev[0], 4)}"


def test_good_chunk_becomes_commands_at_the_control_rate_inside_the_workspace(ex):
    ex.wait_mode("idle")
    t0 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_for(0.9)
    got = _commands_after(ex, t0)
    assert 6 <= len(got) <= 10, f"expected ~8 commands at 10 Hz in 0.9 s, got {len(got)}"
    gaps = np.diff([t for t, _ in got])
    assert abs(float(np.median(gaps)) - 1.0 / RATE_HZ) < 0.03, gaps
    # Each delta adds to the previous target (the controller's commanded pose); the robot (our fake pose)
    # stays put at x 0.5, so once a target is more than max_target_lead_m (0.05) ahead, it starts over.
    _assert_integrated([pos for _, pos in got], step=0.01)

    # A big step is clamped to min(max step 0.03, 0.25 m/s * 0.1 s) = 0.025 m.
    t1 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.05))
    ex.probe.spin_for(0.35)
    _assert_integrated([pos for _, pos in _commands_after(ex, t1)], step=0.025)

    # Near the box edge the target is clipped into the box.
    ex.pose = np.array([0.79, 0.0, 0.3])
    ex.probe.spin_for(0.1)
    t2 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.05))
    ex.probe.spin_for(0.35)
    after = _commands_after(ex, t2)
    assert after and all(pos[0] <= 0.8 + 1e-9 for _, pos in after)
    np.testing.assert_allclose(after[-1][1], [0.8, 0.0, 0.3], atol=1e-6)
    ex.sync()
    assert ex.counter("refused.clamp_translation") >= 1
    assert ex.counter("refused.clamp_workspace") >= 1
    ex.pose = np.array([0.5, 0.0, 0.3])


def _first_send_per_action(commands: list[tuple[float, PoseStamped]], t0: float) -> dict[int, float]:
    """Action index -> send stamp of its first command (action i of the test chunk moves x by (i + 1) mm from the
    previous target; held targets repeat it and are skipped)."""
    out: dict[int, float] = {}
    xs = [m.pose.position.x for _, m in commands]
    for (t, m), prev in zip(commands[1:], xs):
        index = round((m.pose.position.x - prev) * 1000) - 1
        if t >= t0 and 0 <= index < H and index not in out:
            out[index] = stamp_to_s(m.header.stamp)
    return out


def test_the_spec_command_latency_sends_every_action_that_much_earlier(ex):
    ex.probe.spin_until(lambda: ex.mode() == "stop" and ex.mode("lat_executor") == "stop", 5.0,
                        "both live executors stopped (no chunk in flight)")
    assert ex.diag["lat_executor"]["command_latency_s"] == f"{COMMAND_LATENCY:.4f}"  # from its spec
    assert ex.diag["action_executor"]["command_latency_s"] == "0.0000"  # the tabletop spec's
    # The robot moves (a first chunk runs) when the measured chunk arrives: its stamp holds. (A chunk arriving
    # while the robot was still would start at its arrival, action 0 first: tests/safety/test_chunk_schedule.py.)
    # Wait for both executors to command from it, so the second chunk surely finds the first one running (under
    # CI load a late delivery would otherwise leave an executor still, and the second chunk would start whole).
    n_cmd, n_lat = len(ex.commands), len(ex.lat_commands)
    ex.send_chunk(_chunk())
    ex.probe.spin_until(lambda: len(ex.commands) > n_cmd and len(ex.lat_commands) > n_lat, 2.0,
                        "both executors command from the first chunk")
    ex.probe.spin_for(0.1)
    chunk = _chunk()
    chunk[:, 0] = 0.001 * (1 + np.arange(H))  # action i moves x by (i + 1) mm: its index is readable
    t0, stamp = time.monotonic(), ex.now()
    ex.send_chunk(chunk, stamp_s=stamp)
    ex.probe.spin_for(1.2)
    sent = {"action_executor": _first_send_per_action(ex.commands, t0),
            "lat_executor": _first_send_per_action(ex.lat_commands, t0)}
    # Under CPU load a tick can come late and its action is dropped, so not every index shows up.
    assert len(sent["action_executor"]) >= 1 and len(sent["lat_executor"]) >= 2, sent
    for node, latency in (("action_executor", 0.0), ("lat_executor", COMMAND_LATENCY)):
        for index, t in sent[node].items():
            # Sent at the tick nearest stamp + i / rate - latency (ticks are a period apart; slack for load).
            target = stamp + index / RATE_HZ - latency
            assert abs(t - target) <= 0.5 / RATE_HZ + 0.02, f"{node}: action {index} sent {t - target:+.3f} s off"
    # With 0.3 s of latency, actions 0-2 would have had to leave before the chunk existed: dropped as late.
    # (The windows above are disjoint: the same action index goes out 0.3 s apart on the two executors.)
    assert min(sent["lat_executor"]) >= 3, sent
    ex.sync("lat_executor")
    assert ex.counter("refused.late_action", "lat_executor") >= 3


def test_stale_chunk_holds_then_stops(ex):
    ex.sync()
    holds = ex.counter("refused.chunk_stale_hold")
    ex.send_chunk(_chunk(dx=0.01))
    t0 = time.monotonic()
    # Diagnostics come at 1 Hz and hold lasts 0.6 s: count the hold ticks rather than catch the mode.
    ex.probe.spin_until(lambda: ex.counter("refused.chunk_stale_hold") >= holds + 3, 3.0, "hold ticks")
    ex.wait_mode("stop", timeout=3.0)
    got = _commands_after(ex, t0)
    last = got[-1][0] - t0
    # Commands (actions, then the held target) until chunk_stop_s = 1.0 s after the chunk, then nothing.
    assert 0.7 <= last <= 1.4, f"last command {last:.2f} s after the chunk"
    assert len(got) >= 8
    np.testing.assert_allclose(got[-1][1], got[-2][1])  # holding: the same target again
    n = len(ex.commands)
    ex.probe.spin_for(0.5)
    assert len(ex.commands) == n, "commands after stop"


def test_nan_chunk_never_becomes_a_command(ex):
    ex.wait_mode("stop", timeout=3.0)
    before = ex.counter("refused.nonfinite")
    n = len(ex.commands)
    chunk = _chunk(dx=0.01)
    chunk[3, 0] = math.nan
    ex.send_chunk(chunk)
    chunk = _chunk(dx=0.01)
    chunk[0, 2] = math.inf
    ex.send_chunk(chunk)
    ex.probe.spin_until(lambda: ex.counter("refused.nonfinite") >= before + 2, 3.0, "nonfinite count")
    assert len(ex.commands) == n
    assert ex.mode() == "stop"


def test_malformed_messages_are_counted_and_the_node_lives_on(ex):
    before_layout = ex.counter("refused.bad_layout")
    before_unstamped = ex.counter("refused.unstamped_chunk")
    wrong_dims = Float32MultiArray(data=[0.0] * (H * A))  # no layout
    wrong_size = Float32MultiArray(data=[0.0] * 5)
    wrong_size.layout.dim = [MultiArrayDimension(label="horizon", size=H, stride=H * A),
                             MultiArrayDimension(label="action", size=A, stride=A)]
    wrong_shape = Float32MultiArray(data=[0.0] * (H * 6))
    wrong_shape.layout.dim = [MultiArrayDimension(label="horizon", size=H, stride=H * 6),
                              MultiArrayDimension(label="action", size=6, stride=6)]
    for msg in (wrong_dims, wrong_size, wrong_shape):
        ex.chunk_pub.publish(msg)
    ex.stamp_pub.publish(Header(frame_id="not a checksum"))
    good_without_stamp, _ = chunk_to_msgs(_chunk(dx=0.002), s_to_stamp(ex.now()))
    ex.chunk_pub.publish(good_without_stamp)
    ex.probe.spin_until(lambda: ex.counter("refused.bad_layout") >= before_layout + 3
                        and ex.counter("refused.unstamped_chunk") >= before_unstamped + 2, 4.0, "malformed counts")
    assert ex.counter("rejected_messages") >= 5
    # Still alive and still working.
    assert all(p.alive() for p in ex.procs)
    t0 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_until(lambda: len(_commands_after(ex, t0)) >= 3, 3.0, "commands after malformed input")


def test_stale_observation_is_refused(ex):
    ex.sync()
    before = ex.counter("refused.stale_observation")
    n_accepted = ex.counter("chunks_accepted")
    ex.send_chunk(_chunk(dx=0.01), stamp_s=ex.now() - 2.0)
    ex.probe.spin_until(lambda: ex.counter("refused.stale_observation") > before, 3.0, "stale_observation count")
    assert ex.counter("chunks_accepted") == n_accepted


def test_estop_latches_until_the_clear_service(ex):
    ex.estop_pub.publish(Bool(data=True))
    ex.wait_mode("estop")
    n = len(ex.commands)
    ex.send_chunk(_chunk(dx=0.01))
    ex.estop_pub.publish(Bool(data=False))  # releasing the button does not clear the latch
    ex.probe.spin_for(1.2)
    assert ex.mode() == "estop" and len(ex.commands) == n
    assert ex.diag["action_executor"]["estop"] == "True"
    ex.estop_pub.publish(Bool(data=True))
    ex.probe.spin_for(0.05)
    refused = ex.call(ex.clear, Trigger.Request())  # still asserted within the guard time
    assert not refused.success and "still asserted" in refused.message
    ex.estop_pub.publish(Bool(data=False))
    ex.probe.spin_for(0.5)
    cleared = ex.call(ex.clear, Trigger.Request())
    assert cleared.success, cleared.message
    ex.wait_mode("idle")  # the pre-e-stop chunk does not resume motion
    assert len(ex.commands) == n
    t0 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_until(lambda: len(_commands_after(ex, t0)) >= 3, 3.0, "commands after clearing")


def _clear_after_guard(ex: ExecutorHarness) -> None:
    ex.probe.spin_for(0.5)  # past estop_clear_guard_s (0.3 s)
    cleared = ex.call(ex.clear, Trigger.Request())
    assert cleared.success, cleared.message
    ex.wait_mode("idle")


def test_a_volatile_one_shot_publisher_like_ros2_topic_pub_stops_the_executor(ex, domain_id):
    # `ros2 topic pub --once /robot_rl/estop std_msgs/Bool "data: true"`: default QoS (reliable,
    # volatile, keep last 10), one message, then the process exits. A latched-only subscription
    # never matches it (the executor before the fix stayed in its mode).
    ex.wait_mode("idle")
    pub = subprocess.run([sys.executable, str(Path(__file__).with_name("estop_pub_once.py")), topics.ESTOP],
                         env=ros_env(domain_id, large_data=False), capture_output=True, text=True, timeout=60)
    assert pub.returncode == 0, pub.stdout + pub.stderr
    try:
        ex.wait_mode("estop", timeout=5.0)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{pub.stderr.strip()}") from None
    assert ex.diag["action_executor"]["estop"] == "True"
    _clear_after_guard(ex)


def test_the_trigger_service_latches_the_estop_until_cleared(ex):
    ex.wait_mode("idle")
    reply = ex.call(ex.trigger, Trigger.Request())
    assert reply.success and "latched" in reply.message, reply.message
    ex.wait_mode("estop")
    n = len(ex.commands)
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_for(0.6)
    assert ex.mode() == "estop" and len(ex.commands) == n  # latched: the fresh chunk moves nothing
    _clear_after_guard(ex)


def test_lost_heartbeat_stops(ex):
    t0 = time.monotonic()
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_until(lambda: len(_commands_after(ex, t0)) >= 2, 3.0, "commands from a fresh chunk")
    ex.publish_inputs = False  # heartbeat (and pose) go quiet
    try:
        ex.probe.spin_until(lambda: ex.diag["action_executor"].get("lost_heartbeats") == topics.POLICY_HEARTBEAT,
                            3.0, "lost heartbeat in diagnostics")
        ex.wait_mode("stop")
        n = len(ex.commands)
        ex.probe.spin_for(0.4)
        assert len(ex.commands) == n
    finally:
        ex.publish_inputs = True


def test_dry_run_by_default_publishes_nothing(ex):
    assert ex.diag["dry_executor"]["dry_run"] == "True"
    ex.probe.spin_until(lambda: ex.counter("dry_run_suppressed", "dry_executor") > 0, 5.0,
                        "dry executor to have suppressed commands")
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_for(1.0)
    assert ex.counter("commands", "dry_executor") > 0
    assert ex.counter("published", "dry_executor") == 0
    assert ex.dry_commands == []


def test_runtime_parameter_changes_are_validated(ex):
    def set_param(name: str, value: ParameterValue):
        req = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
        return ex.call(ex.set_params, req).results[0]

    bad = set_param("limits.max_step_translation_m", ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                                    double_value=-1.0))
    assert not bad.successful and "limits.max_step_translation_m" in bad.reason
    static = set_param("command_type", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="twist"))
    assert not static.successful
    ok = set_param("dry_run", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True))
    assert ok.successful, ok.reason
    ex.probe.spin_until(lambda: ex.diag["action_executor"].get("dry_run") == "True", 3.0, "dry_run on")
    n = len(ex.commands)
    ex.send_chunk(_chunk(dx=0.01))
    ex.probe.spin_for(0.6)
    assert len(ex.commands) == n
    assert set_param("dry_run", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False)).successful
