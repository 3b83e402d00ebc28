"""policy_node: fresh observations in, stamped action chunks out, every step into the rollout buffer.

Inputs: ``<cam>/image_raw`` (or its ``image_topics`` entry) for every spec camera, in rgb8, bgr8, rgba8,
bgra8 or mono8 (converted to RGB), ``/joint_states`` and the end-effector pose
(mapped to the spec's proprio by ``proprio_sources``), ``/robot_rl/episode_event`` (a start carries
the episode's instruction) and ``/robot_rl/instruction`` (latched; only for ``act_outside_episodes``).
Every start event is answered on ``/robot_rl/episode_ack`` (recording / acting / refused with the
reason; robot_rl.wire.episode_event). Every control period (the spec's rate) it publishes a
heartbeat and, every ``replan_every`` ticks, a decision becomes due: with ``act_on: frame`` it is
taken as soon as every camera has delivered a frame after the tick (at most half a period later),
with ``tick`` at the tick itself (robot_rl.robot.trigger). It acts if every input is fresh: samples a chunk,
publishes it with ``chunk_to_msgs`` stamped with the observation's capture time (image stamps
minus the spec's camera latency), and records the step. If it cannot act it publishes nothing and
says why (``/diagnostics`` ``not_acting.<reason>``, rate-limited log). Every decision lives in
:class:`~robot_rl.nodes.policy.PolicyCore` (unit-tested without ROS, over robot_rl.robot's
observation, trigger, episodes, proprio and runner); this file converts messages and publishes.
"""

from __future__ import annotations

import sys

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray, Header, Int64, String
from std_srvs.srv import Trigger

from ros_nodes.run import run_node
from ros_nodes.side_service import SideService
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.nodes.policy import PolicyCore, PolicyOutputs, describe_runner, open_buffer
from robot_rl.robot.runner import load_policy_runner
from robot_rl.wire import topics
from robot_rl.ros_config.policy import PolicyNodeConfig
from robot_rl.spec import load_spec
from ros_nodes import qos
from ros_nodes.core_logs import log_notes, status_level
from ros_nodes.messages import chunk_to_msgs, diagnostic_array, msg_to_rgb, pose_to_arrays, s_to_stamp, stamp_to_s
from ros_nodes.params import NodeParams

_STATIC = ["spec", "device", "threads", "proprio_sources", "joint_states_topic", "ee_pose_topic", "image_qos",
           "image_topics", "resize_images", "buffer_path", "diagnostics_period_s", "act_on"]


class PolicyNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("policy_node")
        self.params = NodeParams(self, PolicyNodeConfig, on_change=self._reconfigure, static=_STATIC)
        cfg: PolicyNodeConfig = self.params.config
        try:
            spec = load_spec(cfg.spec)
        except KeyError as err:
            raise ConfigError(f"policy_node: spec: {err.args[0]}") from None
        runner = load_policy_runner(cfg.checkpoint, spec, cfg.device, cfg.threads) if cfg.checkpoint else None
        buffer = open_buffer(cfg.buffer_path, spec) if cfg.buffer_path else None
        self.core = PolicyCore(cfg, spec, runner, buffer, self._publish_chunk)

        # Every input, tick and decision runs on the node's single-threaded executor (see run_node): they
        # never run concurrently, and no second executor thread competes with them for the CPU.
        image_qos = qos.by_name(cfg.image_qos)
        try:
            image_topics = topics.resolve_image_topics(spec.camera_names, cfg.image_topics)
        except ValueError as err:
            raise ConfigError(f"policy_node: {err}") from None
        for cam, topic in image_topics.items():
            self.create_subscription(Image, topic, lambda m, c=cam: self._on_image(c, m), image_qos)
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joints, qos.SENSOR)
        self.create_subscription(PoseStamped, cfg.ee_pose_topic, self._on_pose, qos.SENSOR)
        self.create_subscription(String, topics.INSTRUCTION, lambda m: self.core.on_instruction(m.data), qos.LATCHED)
        self.create_subscription(String, topics.EPISODE_EVENT,
                                 lambda m: self._do(self.core.on_event(m.data, self._now())), qos.RELIABLE)
        self.ack_pub = self.create_publisher(String, topics.EPISODE_ACK, qos.RELIABLE)
        self.chunk_pub = self.create_publisher(Float32MultiArray, topics.ACTION_CHUNK, qos.RELIABLE)
        self.stamp_pub = self.create_publisher(Header, topics.ACTION_CHUNK_STAMP, qos.RELIABLE)
        self.heartbeat_pub = self.create_publisher(Header, topics.POLICY_HEARTBEAT, qos.SENSOR)
        self.version_pub = self.create_publisher(Int64, topics.POLICY_VERSION, qos.LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        # Loading a big checkpoint takes seconds: its own node and thread, so ticks and images go on meanwhile.
        self.reload_service = SideService(f"{self.get_name()}_reload", Trigger, topics.RELOAD_POLICY, self._on_reload)
        # Two timer events per control period: the tick (a decision becomes due) and, half a period
        # later, the deadline for the frames it waits for.
        self.create_timer(0.5 * spec.control_period_s, self._on_timer)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        self.version_pub.publish(Int64(data=self.core.version))
        self.get_logger().info(
            f"policy for '{spec.name}' at {spec.control_rate_hz} Hz: "
            f"{describe_runner(runner) if runner else 'NO POLICY (set checkpoint, call reload)'}; "
            f"proprio {self.core.proprio_map.sources}; acting on {cfg.act_on}; camera latency "
            f"{1e3 * self.core.inputs.camera_latency_s:.0f} ms; recording to {cfg.buffer_path or 'nowhere'}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _do(self, out: PolicyOutputs) -> None:
        """Log what the core says; publish the new policy version and the episode ack it returns."""
        if out.version is not None:
            self.version_pub.publish(Int64(data=out.version))
        if out.ack is not None:
            self.ack_pub.publish(String(data=out.ack.to_json()))
        log_notes(self.get_logger(), out.notes)

    def _publish_chunk(self, chunk: np.ndarray, t_capture: float) -> float:
        chunk_msg, stamp_msg = chunk_to_msgs(chunk, s_to_stamp(t_capture))
        self.stamp_pub.publish(stamp_msg)
        self.chunk_pub.publish(chunk_msg)
        return self._now()

    def _reconfigure(self, cfg: PolicyNodeConfig) -> None:
        self.core.reconfigure(cfg)

    # ---- inputs -----------------------------------------------------------------------------

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            rgb = msg_to_rgb(msg)
        except ValueError as err:
            self._do(self.core.reject("bad_image", str(err), self._now()))
            return
        self._do(self.core.on_image(camera, rgb, stamp_to_s(msg.header.stamp), self._now()))

    def _on_joints(self, msg: JointState) -> None:
        self._do(self.core.on_joints(list(msg.name), np.asarray(msg.position, dtype=np.float64),
                                     stamp_to_s(msg.header.stamp), self._now()))

    def _on_pose(self, msg: PoseStamped) -> None:
        pos, quat = pose_to_arrays(msg)
        self._do(self.core.on_pose(pos, quat, stamp_to_s(msg.header.stamp), self._now()))

    def _on_reload(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.params.config.checkpoint
        try:
            runner = load_policy_runner(path, self.core.spec, self.core.cfg.device, self.core.cfg.threads)
        except (RobotRLError, OSError, KeyError, ValueError) as err:
            response.success, response.message = False, f"kept the current policy: cannot load {path!r}: {err}"
            self.get_logger().error(response.message)
            return response
        deferred, out = self.core.offer_runner(runner)
        self._do(out)
        response.success = True
        response.message = (f"loaded {path}: {describe_runner(runner)}"
                            + ("; takes over when the running episode ends" if deferred else ""))
        self.get_logger().info(response.message)
        return response

    # ---- control tick -----------------------------------------------------------------------

    def _on_timer(self) -> None:
        now = self._now()
        if self.core.timer(now):
            self.heartbeat_pub.publish(Header(stamp=self.get_clock().now().to_msg(), frame_id=self.get_name()))
            self._do(self.core.tick(now))
        else:
            self._do(self.core.deadline(now))

    def _publish_diagnostics(self) -> None:
        status = self.core.diagnostics()
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: policy",
                                               self.core.cfg.checkpoint, status_level(status), status.message,
                                               status.values))

    def shutdown(self) -> None:
        """Close a running episode (as aborted) and release the buffer (after any step being recorded)."""
        self.reload_service.close()
        self.core.shutdown()


def main(args: list[str] | None = None) -> int:
    """Console script ``policy_node``: ``policy_node --ros-args --params-file launch/config/policy.yaml``."""
    return run_node("policy_node", PolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
