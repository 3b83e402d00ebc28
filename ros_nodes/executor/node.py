"""action_executor: turns stamped action chunks into robot commands, safely (docs/ros.md, "Bring-up and safety").

Inputs: ``/robot_rl/action_chunk`` + ``/robot_rl/action_chunk_stamp`` (paired by checksum, see
robot_rl.wire.chunk_layout; action i of a chunk stamped t is sent at t + i / rate minus the
spec's command-to-motion latency), the end-effector pose, ``/robot_rl/estop`` (std_msgs/Bool from any
publisher, latched or volatile like ``ros2 topic pub``) or the ``/robot_rl/trigger_estop`` service
(latched until the ``/robot_rl/clear_estop`` service clears it), heartbeats. Every control period (the spec's rate)
a tick decides the command due now and publishes it: a PoseStamped target or a TwistStamped
(MoveIt Servo) plus a gripper command, or for a joint-space spec (``command_type:
joint_trajectory``) a JointTrajectory (ros2_control) planned from ``/joint_states``. Unless
``dry_run`` (the default): then it only logs and counts what it would have sent. Refusals are
counted per reason on ``/diagnostics`` and logged at most once per reason per ``log_interval_s``.

Every decision lives in :class:`~robot_rl.nodes.executor.ExecutorCore` (unit-tested without ROS);
this file converts messages to numpy, calls the core with the ROS time, and publishes what it returns.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray, Float64, Header, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from ros_nodes.run import run_node
from robot_rl.errors import ConfigError
from robot_rl.nodes.executor import ExecutorCore, Outputs
from robot_rl.wire import topics
from robot_rl.ros_config.executor import ExecutorConfig, check_command_spec
from robot_rl.spec import load_spec
from ros_nodes import qos
from ros_nodes.core_logs import log_notes, status_level
from ros_nodes.executor.commands import command_msg
from ros_nodes.messages import diagnostic_array, msg_to_chunk, pose_to_arrays, stamp_to_s
from ros_nodes.params import NodeParams

_STATIC = ["spec", "command_type", "command_frame", "pose_command_topic", "twist_command_topic",
           "gripper_command_topic", "ee_pose_topic", "heartbeat_topics", "diagnostics_period_s",
           "joint_trajectory_topic", "joint_states_topic", "joint_names", "joint_limits"]


class ActionExecutor(Node):
    """The safety layer; see the module docstring. ``dry_run`` and all limits may change at runtime."""

    def __init__(self) -> None:
        super().__init__("action_executor")
        self.params = NodeParams(self, ExecutorConfig, on_change=self._reconfigure, static=_STATIC)
        cfg: ExecutorConfig = self.params.config
        try:
            spec = load_spec(cfg.spec)
        except KeyError as err:
            raise ConfigError(f"action_executor: spec: {err.args[0]}") from None
        # None for pose/twist; for joint_trajectory the joint layout, names and limits (ConfigError if unfit).
        self.core = ExecutorCore(cfg, spec, check_command_spec(cfg, spec))
        joint = self.core.joint

        self.create_subscription(Float32MultiArray, topics.ACTION_CHUNK, self._on_chunk, qos.RELIABLE)
        self.create_subscription(Header, topics.ACTION_CHUNK_STAMP, self._on_stamp, qos.RELIABLE)
        if joint:
            self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state, qos.SENSOR)
        else:
            self.create_subscription(PoseStamped, cfg.ee_pose_topic, self._on_pose, qos.SENSOR)
        for profile in qos.ESTOP_SUBSCRIPTIONS:  # every publisher's QoS matches one of them (ros_nodes.qos)
            self.create_subscription(Bool, topics.ESTOP, self._on_estop, profile)
        for name in cfg.heartbeat_topics:
            self.create_subscription(Header, name, lambda _msg, n=name: self.core.heartbeat(n, self._now()),
                                     qos.SENSOR)
        self.create_subscription(String, topics.EPISODE_EVENT,
                                 lambda msg: self._do(self.core.on_episode_event(msg.data)), qos.RELIABLE)
        self.create_service(Trigger, topics.TRIGGER_ESTOP, self._on_trigger_estop)
        self.create_service(Trigger, topics.CLEAR_ESTOP, self._on_clear_estop)
        # The robot's driver decides what QoS its command topics need: the standard parameters
        # qos_overrides./<topic>.publisher.{reliability,durability,history,depth} may change it.
        overridable = QoSOverridingOptions.with_default_policies()
        if cfg.command_type == "pose":
            self.command_pub = self.create_publisher(PoseStamped, cfg.pose_command_topic, qos.RELIABLE,
                                                     qos_overriding_options=overridable)
        elif cfg.command_type == "twist":
            self.command_pub = self.create_publisher(TwistStamped, cfg.twist_command_topic, qos.RELIABLE,
                                                     qos_overriding_options=overridable)
        else:
            self.command_pub = self.create_publisher(JointTrajectory, cfg.joint_trajectory_topic, qos.RELIABLE,
                                                     qos_overriding_options=overridable)
        self.gripper_pub = (self.create_publisher(Float64, cfg.gripper_command_topic, qos.RELIABLE,
                                                  qos_overriding_options=overridable)
                            if cfg.gripper_command_topic and self.core.gripper_dim is not None else None)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        self.create_timer(spec.control_period_s, lambda: self._do(self.core.tick(self._now())))
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        joints = f" for joints {list(joint.joint_names)}" if joint else ""
        self.get_logger().info(
            f"executing '{spec.name}' chunks {spec.chunk_shape} at {spec.control_rate_hz} Hz as "
            f"{cfg.command_type} commands{joints}, sent {1e3 * self.core.schedule.command_latency_s:.0f} ms ahead "
            f"(command latency, {'spec' if cfg.command_latency_s < 0 else 'override'}); "
            f"dry_run={'ON (nothing is sent)' if cfg.dry_run else 'OFF'}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _do(self, out: Outputs) -> Outputs:
        """Log what the core says and publish the commands it decided."""
        log_notes(self.get_logger(), out.notes)
        cfg, joint = self.core.cfg, self.core.joint
        for send in out.sends:
            self.command_pub.publish(command_msg(send.command, joint.joint_names if joint else (),
                                                 self.get_clock().now().to_msg(), cfg.command_frame))
            if send.gripper_wire is not None and self.gripper_pub is not None:
                self.gripper_pub.publish(Float64(data=send.gripper_wire))
        return out

    def _reconfigure(self, cfg: ExecutorConfig) -> None:
        self._do(self.core.reconfigure(cfg))

    # ---- inputs -----------------------------------------------------------------------------

    def _on_chunk(self, msg: Float32MultiArray) -> None:
        chunk, why = msg_to_chunk(msg, self.core.spec.chunk_shape)
        self._do(self.core.on_chunk(chunk, self._now(), why))

    def _on_stamp(self, msg: Header) -> None:
        self._do(self.core.on_stamp(msg.frame_id, stamp_to_s(msg.stamp), self._now()))

    def _on_pose(self, msg: PoseStamped) -> None:
        pos, quat = pose_to_arrays(msg)
        self._do(self.core.on_pose(pos, quat, msg.header.frame_id, stamp_to_s(msg.header.stamp), self._now()))

    def _on_joint_state(self, msg: JointState) -> None:
        self._do(self.core.on_joint_state(list(msg.name), list(msg.position), stamp_to_s(msg.header.stamp),
                                          self._now()))

    def _on_estop(self, msg: Bool) -> None:
        self._do(self.core.on_estop(bool(msg.data), topics.ESTOP, self._now()))

    def _on_trigger_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        out = self._do(self.core.trigger_estop(self._now()))
        response.success, response.message = True, out.message
        return response

    def _on_clear_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        out = self._do(self.core.clear_estop(self._now()))
        response.success, response.message = out.ok, out.message
        return response

    # ---- diagnostics ------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        status = self.core.diagnostics(self._now())
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: executor",
                                               self.core.cfg.command_frame, status_level(status), status.message,
                                               status.values))


def main(args: list[str] | None = None) -> int:
    """Console script ``action_executor``: ``action_executor --ros-args --params-file executor.yaml``."""
    return run_node("action_executor", ActionExecutor, args)


if __name__ == "__main__":
    sys.exit(main())
