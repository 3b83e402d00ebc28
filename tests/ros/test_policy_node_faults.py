"""camera_node (pyrealsense2 software_device) -> policy_node -> action_executor over real DDS, and the
faults: malformed images are rejected while good ones keep serving, a stopped camera stops the
policy within its max input age and the executor holds, the e-stop stays latched across a
policy-node restart."""

from __future__ import annotations

import time

import pytest
import torch
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from std_msgs.msg import Bool, Float32MultiArray, Int64, String
from std_srvs.srv import Trigger

from ros_harness import NodeProcess, Probe, ros_env
from robot_rl.policies import make_policy, save_policy
from robot_rl.wire import topics
from robot_rl.spec import EmbodimentSpec, load_spec
from ros_nodes import qos

pytestmark = [pytest.mark.ros, pytest.mark.slow]

MAX_AGE = 0.3
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


class Rig:
    """The test's side: robot driver (pose + joints), instruction, and listeners for chunks, commands, diagnostics."""

    def __init__(self, probe: Probe, procs: dict[str, NodeProcess], args: dict[str, list[str]], env, log_dir) -> None:
        self.probe, self.procs, self.args, self.env, self.log_dir = probe, procs, args, env, log_dir
        n = probe.node
        self.chunks: list[float] = []
        self.commands: list[float] = []
        self.diag: dict[str, dict[str, str]] = {}
        n.create_subscription(Float32MultiArray, topics.ACTION_CHUNK, lambda _m: self.chunks.append(time.monotonic()),
                              qos.RELIABLE)
        n.create_subscription(PoseStamped, topics.COMMAND_POSE, lambda _m: self.commands.append(time.monotonic()),
                              qos.RELIABLE)
        n.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, qos.RELIABLE)
        self.pose_pub = n.create_publisher(PoseStamped, topics.EE_POSE, qos.SENSOR)
        self.joint_pub = n.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR)
        self.image_pub = n.create_publisher(Image, topics.image_topic("wrist"), qos.SENSOR)
        self.instruction_pub = n.create_publisher(String, topics.INSTRUCTION, qos.LATCHED)
        self.estop_pub = n.create_publisher(Bool, topics.ESTOP, qos.LATCHED)
        self.instruction_pub.publish(String(data="pick up the red cube"))
        self.versions: list[int] = []
        n.create_subscription(Int64, topics.POLICY_VERSION, lambda m: self.versions.append(m.data), qos.LATCHED)
        n.create_timer(0.02, self._drive)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for s in msg.status:
            self.diag[s.name.split(":")[0]] = {kv.key: kv.value for kv in s.values}

    def _drive(self) -> None:
        stamp = self.probe.node.get_clock().now().to_msg()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.position.x, pose.pose.position.z, pose.pose.orientation.w = 0.5, 0.3, 1.0
        self.pose_pub.publish(pose)
        js = JointState()
        js.header.stamp, js.name, js.position = stamp, ["gripper"], [1.0]
        self.joint_pub.publish(js)

    def restart(self, name: str) -> None:
        self.procs[name].stop()
        self.procs[name] = NodeProcess(name, self.args[name], self.env, self.log_dir)

    def logs(self) -> str:
        return "\n".join(f"== {k}\n{p.log()[-2500:]}" for k, p in self.procs.items())

    def diag_value(self, node: str, key: str, default: str = "0") -> str:
        return self.diag.get(node, {}).get(key, default)


@pytest.fixture(scope="module")
def rig(tmp_path_factory, domain_id, node_logs):
    tmp = tmp_path_factory.mktemp("faults")
    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "wrist", "height": 48, "width": 64}]
    spec = EmbodimentSpec.from_dict(data)
    spec.to_yaml(tmp / "spec.yaml")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", spec, TINY), tmp / "ckpt")
    newer = make_policy("tiny", spec, TINY)
    newer.version = 7
    save_policy(newer, tmp / "ckpt_v7")
    params = {
        "camera_node": {"ros__parameters": {"camera_name": "wrist", "source": "software", "width": 64, "height": 48,
                                            "fps": 30}},
        "policy_node": {"ros__parameters": {
            "spec": str(tmp / "spec.yaml"), "checkpoint": str(tmp / "ckpt"), "device": "cpu", "replan_every": 1,
            "act_outside_episodes": True, "max_input_age_s": MAX_AGE, "log_interval_s": 0.5,
            "proprio_sources": ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle", "gripper=joints:gripper"]}},
        "action_executor": {"ros__parameters": {
            "spec": str(tmp / "spec.yaml"), "dry_run": False,
            "watchdog": {"chunk_hold_s": 0.4, "chunk_stop_s": 3.0, "heartbeat_timeout_s": 1.0}}},
    }
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    args = {name: ["--params-file", str(tmp / "params.yaml")] for name in params}
    # Default transports (UDP discovery, shared-memory data): these images are small. With LARGE_DATA
    # (TCP data) a restarted node's streams or the policy heartbeat intermittently never matched
    # (CI run 9: the executor never heard the policy heartbeat).
    env = dict(ros_env(domain_id, large_data=False), OMP_NUM_THREADS="1")
    procs = {name: NodeProcess(name, a, env, node_logs) for name, a in args.items()}
    probe = Probe(domain_id, large_data=False)
    r = Rig(probe, procs, args, env, node_logs)
    r.tmp = tmp
    try:
        yield r
    finally:
        for p in r.procs.values():
            p.stop()
        probe.close()


def test_camera_stream_feeds_the_policy_and_commands_flow(rig):
    try:
        # Both: the probe's chunk subscription may match a moment after the executor's.
        rig.probe.spin_until(lambda: len(rig.commands) >= 5 and len(rig.chunks) >= 5, timeout=90,
                             what="chunks from camera frames, and commands from them")
    except AssertionError:
        raise AssertionError(rig.logs()) from None


def test_malformed_images_are_rejected_and_good_ones_keep_serving(rig):
    bad = Image()
    bad.header.stamp = rig.probe.node.get_clock().now().to_msg()
    bad.height, bad.width, bad.encoding, bad.step = 48, 64, "bgr8", 64 * 3
    bad.data = bytes(48 * 64 * 3)
    small = Image()
    small.header.stamp = bad.header.stamp
    small.height, small.width, small.encoding, small.step = 8, 8, "rgb8", 24
    small.data = bytes(8 * 8 * 3)
    for _ in range(10):
        rig.image_pub.publish(bad)
        rig.image_pub.publish(small)
        rig.probe.spin_for(0.05)
    rig.probe.spin_until(lambda: int(rig.diag_value("policy_node", "rejected.bad_image")) >= 2, timeout=10,
                         what="the policy node counting bad images")
    n = len(rig.chunks)
    rig.probe.spin_until(lambda: len(rig.chunks) >= n + 5, timeout=10, what="chunks after the bad images")
    assert all(p.alive() for p in rig.procs.values()), rig.logs()


def test_a_stopped_camera_stops_the_policy_and_the_executor_holds(rig):
    rig.procs["camera_node"].stop()
    stopped = time.monotonic()
    rig.probe.spin_for(2.0)
    last_chunk = max(rig.chunks)
    # The last image was captured at most one frame before the stop; allow DDS + one control tick.
    assert last_chunk - stopped < MAX_AGE + 0.25, f"policy acted {last_chunk - stopped:.2f} s after the camera stopped"
    rig.probe.spin_until(lambda: rig.diag_value("action_executor", "mode", "") in ("hold", "stop"), timeout=5,
                         what="the executor holding")
    rig.probe.spin_until(lambda: int(rig.diag_value("policy_node", "not_acting.stale_image_wrist")) > 0, timeout=5,
                         what="the policy node reporting the stale camera")


def test_estop_stays_latched_across_a_policy_restart(rig):
    rig.procs["camera_node"] = NodeProcess("camera_node", rig.args["camera_node"], rig.env, rig.log_dir)
    rig.probe.spin_until(lambda: rig.diag_value("action_executor", "mode", "") == "run", timeout=60,
                         what="commands again after the camera came back")
    rig.estop_pub.publish(Bool(data=True))
    rig.probe.spin_until(lambda: rig.diag_value("action_executor", "estop", "") == "True", timeout=5, what="e-stop")
    rig.probe.spin_for(0.5)
    estopped = time.monotonic()
    rig.restart("policy_node")
    n = len(rig.chunks)
    rig.probe.spin_until(lambda: len(rig.chunks) >= n + 5, timeout=90, what="chunks from the restarted policy node")
    rig.probe.spin_for(1.0)
    assert rig.diag_value("action_executor", "estop", "") == "True"
    assert rig.diag_value("action_executor", "mode", "") == "estop"
    assert not [t for t in rig.commands if t > estopped], "a command went out while the e-stop was latched"


def _call(rig, client, request):
    assert client.wait_for_service(timeout_sec=30), "service not available"
    future = client.call_async(request)
    rig.probe.spin_until(future.done, timeout=60, what="a service reply")
    return future.result()


def test_hot_swap_a_checkpoint_without_restarting(rig):
    n = rig.probe.node
    rig.probe.spin_until(lambda: rig.versions and rig.versions[-1] == 0, timeout=30, what="latched version 0")
    set_params = n.create_client(SetParameters, "/policy_node/set_parameters")
    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(rig.tmp / "missing"))
    _call(rig, set_params, SetParameters.Request(parameters=[ParameterMsg(name="checkpoint", value=value)]))
    reload = n.create_client(Trigger, topics.RELOAD_POLICY)
    reply = _call(rig, reload, Trigger.Request())
    assert not reply.success and "kept the current policy" in reply.message
    value.string_value = str(rig.tmp / "ckpt_v7")
    _call(rig, set_params, SetParameters.Request(parameters=[ParameterMsg(name="checkpoint", value=value)]))
    pid = rig.procs["policy_node"].proc.pid
    reply = _call(rig, reload, Trigger.Request())
    assert reply.success and "version 7" in reply.message, reply.message
    rig.probe.spin_until(lambda: rig.versions[-1] == 7, timeout=10, what="latched version 7")
    assert rig.procs["policy_node"].proc.pid == pid and rig.procs["policy_node"].alive()
