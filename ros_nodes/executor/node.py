"""action_executor: turns stamped action chunks into robot commands, safely (docs/ros.md, "Bring-up and safety").

Inputs: ``/robot_rl/action_chunk`` + ``/robot_rl/action_chunk_stamp`` (paired by checksum, see
robot_rl.wire.chunk_layout; action i of a chunk stamped t is sent at t + i / rate minus the
spec's command-to-motion latency), the end-effector pose, ``/robot_rl/estop`` (std_msgs/Bool from any
publisher, latched or volatile like ``ros2 topic pub``) or the ``/robot_rl/trigger_estop`` service
(latched until the ``/robot_rl/clear_estop`` service clears it), heartbeats. Every control period (the spec's rate)
a tick asks the :class:`~robot_rl.safety.watchdog.Watchdog` for the mode, takes the action due
now from the :class:`~robot_rl.safety.schedule.ChunkSchedule`, makes it safe with
:func:`~robot_rl.safety.limits.apply_ee_delta`, and publishes a PoseStamped target or a
TwistStamped (MoveIt Servo) plus a gripper command; for a joint-space spec
(``command_type: joint_trajectory``) it plans the due action and the rest of the chunk from
``/joint_states`` with :func:`~robot_rl.safety.joint_trajectory.plan_joint_trajectory` and
publishes a JointTrajectory (ros2_control). Unless ``dry_run`` (the default): then it only logs
and counts what it would have sent. Refusals are counted per reason on
``/diagnostics`` and logged at most once per reason per ``log_interval_s``.
"""

from __future__ import annotations

import sys
from collections import Counter, deque

import numpy as np
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
from robot_rl.wire import topics
from robot_rl.wire.chunk_layout import chunk_checksum
from robot_rl.wire.episode_event import parse_episode_event
from robot_rl.ros_config.executor import ExecutorConfig, check_command_spec
from robot_rl.safety import (ChunkSchedule, JointStateCache, Mode, Reason, RefusalLog, MotionReference, Watchdog,
                             apply_ee_delta, check_finite, plan_joint_trajectory)
from robot_rl.spec import load_spec
from ros_nodes import qos
from ros_nodes.executor.commands import joint_trajectory_command, pose_command, twist_command, zero_twist
from ros_nodes.messages import ERROR, OK, WARN, diagnostic_array, msg_to_chunk, pose_to_arrays, stamp_to_s
from ros_nodes.params import NodeParams

# Reasons that reject an incoming message (as opposed to a tick that commands nothing).
_MESSAGE_REASONS = {Reason.BAD_LAYOUT, Reason.NONFINITE, Reason.UNSTAMPED_CHUNK, Reason.STALE_OBSERVATION,
                    Reason.OUT_OF_ORDER, Reason.BAD_POSE, Reason.BAD_JOINT_STATE}
_STATIC = ["spec", "command_type", "command_frame", "pose_command_topic", "twist_command_topic",
           "gripper_command_topic", "ee_pose_topic", "heartbeat_topics", "diagnostics_period_s",
           "joint_trajectory_topic", "joint_states_topic", "joint_names", "joint_limits"]
Command = PoseStamped | TwistStamped | JointTrajectory


class ActionExecutor(Node):
    """The safety layer; see the module docstring. ``dry_run`` and all limits may change at runtime."""

    def __init__(self) -> None:
        super().__init__("action_executor")
        self.params = NodeParams(self, ExecutorConfig, on_change=self._reconfigure, static=_STATIC)
        cfg: ExecutorConfig = self.params.config
        self.cfg = cfg
        try:
            self.spec = load_spec(cfg.spec)
        except KeyError as err:
            raise ConfigError(f"action_executor: spec: {err.args[0]}") from None
        # None for pose/twist; for joint_trajectory the joint layout, names and limits (ConfigError if unfit).
        self.joint = check_command_spec(cfg, self.spec)
        self.period = self.spec.control_period_s
        self.schedule = self._new_schedule()
        self.watchdog = Watchdog(cfg.watchdog, cfg.heartbeat_topics)
        self.refusals = RefusalLog(cfg.log_interval_s)
        self.stats: Counter[str] = Counter()
        self.mode = Mode.IDLE
        self.hold_pose: tuple[np.ndarray, np.ndarray] | None = None
        # Twists go from the previous target while motion is continuous (one tick, with slack for jitter).
        self.motion_ref = MotionReference(max_gap_s=1.5 * self.period, max_lead_m=cfg.limits.max_target_lead_m)
        self.ee_pose: tuple[np.ndarray, np.ndarray, float] | None = None  # position, quaternion, stamp [s]
        self._pending_chunks: dict[str, tuple[np.ndarray, float]] = {}  # checksum -> (chunk (H, A), arrival)
        self._pending_stamps: dict[str, tuple[float, float]] = {}       # checksum -> (stamp, arrival)
        self._late_seen = 0
        self._started_ids: deque[str] = deque(maxlen=64)  # recent starts: a repeat changes nothing
        # joint_trajectory: latest joint positions; the last motion's first point and the held positions.
        self.joint_cache = JointStateCache(self.joint.joint_names) if self.joint else None
        self.last_joint_target: np.ndarray | None = None  # (J,)
        self.hold_joints: np.ndarray | None = None        # (J,)
        self.gripper_dim = (self.joint.layout.gripper_dim if self.joint
                            else 6 if self.spec.action_dim == 7 else None)

        self.create_subscription(Float32MultiArray, topics.ACTION_CHUNK, self._on_chunk, qos.RELIABLE)
        self.create_subscription(Header, topics.ACTION_CHUNK_STAMP, self._on_stamp, qos.RELIABLE)
        if self.joint:
            self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state, qos.SENSOR)
        else:
            self.create_subscription(PoseStamped, cfg.ee_pose_topic, self._on_pose, qos.SENSOR)
        for profile in qos.ESTOP_SUBSCRIPTIONS:  # every publisher's QoS matches one of them (ros_nodes.qos)
            self.create_subscription(Bool, topics.ESTOP, self._on_estop, profile)
        for name in cfg.heartbeat_topics:
            self.create_subscription(Header, name, lambda _msg, n=name: self.watchdog.heartbeat(n, self._now()),
                                     qos.SENSOR)
        self.create_subscription(String, topics.EPISODE_EVENT, self._on_episode_event, qos.RELIABLE)
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
                            if cfg.gripper_command_topic and self.gripper_dim is not None else None)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        self.create_timer(self.period, self._tick)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        joints = f" for joints {list(self.joint.joint_names)}" if self.joint else ""
        self.get_logger().info(
            f"executing '{self.spec.name}' chunks {self.spec.chunk_shape} at {self.spec.control_rate_hz} Hz as "
            f"{cfg.command_type} commands{joints}, sent {1e3 * self.schedule.command_latency_s:.0f} ms ahead (command "
            f"latency, {'spec' if cfg.command_latency_s < 0 else 'override'}); "
            f"dry_run={'ON (nothing is sent)' if cfg.dry_run else 'OFF'}")

    # ---- helpers ----------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _refuse(self, reason: Reason, detail: str = "", n: int = 1) -> None:
        suffix = self.refusals.record(reason, self._now(), n)
        if suffix is not None:
            self.get_logger().warning(f"refused ({reason.value}){': ' + detail if detail else ''}{suffix}")

    def _new_schedule(self) -> ChunkSchedule:
        # Action i of a chunk is sent at stamp + i / rate - command latency (robot_rl.safety.schedule).
        return ChunkSchedule(self.spec.control_rate_hz, self.cfg.command_latency(self.spec))

    def _reconfigure(self, cfg: ExecutorConfig) -> None:
        if cfg.dry_run != self.cfg.dry_run:
            self.get_logger().warning(f"dry_run switched {'ON' if cfg.dry_run else 'OFF: commands go to the robot'}")
        self.cfg = cfg
        self.watchdog.config = cfg.watchdog
        self.schedule.command_latency_s = cfg.command_latency(self.spec)
        self.refusals.interval_s = cfg.log_interval_s

    # ---- inputs -----------------------------------------------------------------------------

    def _on_chunk(self, msg: Float32MultiArray) -> None:
        chunk, why = msg_to_chunk(msg, self.spec.chunk_shape)
        if chunk is None:
            self._refuse(Reason.BAD_LAYOUT, why)
            return
        if not check_finite(chunk):
            self._refuse(Reason.NONFINITE, f"chunk has {int(np.sum(~np.isfinite(chunk)))} NaN/inf values")
            return
        key = chunk_checksum(chunk)
        self._pending_chunks[key] = (chunk, self._now())
        self._pair(key)

    def _on_stamp(self, msg: Header) -> None:
        if not msg.frame_id.startswith("crc32:"):
            self._refuse(Reason.UNSTAMPED_CHUNK, f"stamp frame_id {msg.frame_id!r} is not a chunk checksum")
            return
        self._pending_stamps[msg.frame_id] = (stamp_to_s(msg.stamp), self._now())
        self._pair(msg.frame_id)

    def _pair(self, key: str) -> None:
        if key not in self._pending_chunks or key not in self._pending_stamps:
            return
        chunk, _ = self._pending_chunks.pop(key)
        stamp, _ = self._pending_stamps.pop(key)
        now = self._now()
        age = now - stamp
        if age > self.cfg.max_observation_age_s:
            self._refuse(Reason.STALE_OBSERVATION, f"observation is {age:.3f} s old "
                                                   f"(max_observation_age_s {self.cfg.max_observation_age_s})")
            return
        if not self.schedule.set_chunk(chunk, stamp, arrival_s=now):
            self._refuse(Reason.OUT_OF_ORDER, f"chunk stamped {stamp:.3f} is not newer than {self.schedule.stamp_s:.3f}")
            return
        self.watchdog.chunk_received(now)
        self.stats["chunks_accepted"] += 1
        self.stats["chunks_started_on_arrival"] += int(self.schedule.start_s != stamp)

    def _expire_pending(self, now: float) -> None:
        timeout = self.cfg.stamp_pairing_timeout_s
        for key in [k for k, (_, t) in self._pending_chunks.items() if now - t > timeout]:
            del self._pending_chunks[key]
            self._refuse(Reason.UNSTAMPED_CHUNK, f"no stamp with checksum {key} within {timeout} s")
        for key in [k for k, (_, t) in self._pending_stamps.items() if now - t > timeout]:
            del self._pending_stamps[key]  # its chunk was rejected or lost: nothing to execute

    def _on_pose(self, msg: PoseStamped) -> None:
        pos, quat = pose_to_arrays(msg)
        if not (check_finite(pos) and check_finite(quat)) or np.linalg.norm(quat) < 1e-6:
            self._refuse(Reason.BAD_POSE, "end-effector pose has NaN/inf or a zero quaternion")
            return
        if msg.header.frame_id != self.cfg.command_frame:
            self._refuse(Reason.BAD_POSE, f"end-effector pose in frame {msg.header.frame_id!r}, "
                                          f"commands are in {self.cfg.command_frame!r}")
            return
        stamp = stamp_to_s(msg.header.stamp)
        self.ee_pose = (pos, quat, stamp if stamp > 0 else self._now())

    def _on_joint_state(self, msg: JointState) -> None:
        stamp = stamp_to_s(msg.header.stamp)
        why = self.joint_cache.update(list(msg.name), list(msg.position), stamp if stamp > 0 else self._now())
        if why is not None:
            self._refuse(Reason.BAD_JOINT_STATE, why)

    def _on_estop(self, msg: Bool) -> None:
        self._estop(bool(msg.data), topics.ESTOP)

    def _estop(self, asserted: bool, source: str) -> None:
        was = self.watchdog.estopped
        self.watchdog.estop(asserted, self._now())
        if self.watchdog.estopped and not was:
            self.get_logger().error(f"E-STOP latched (from {source}): no commands until {topics.CLEAR_ESTOP}")
            self._enter_stop()

    def _on_trigger_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        was = self.watchdog.estopped
        self._estop(True, topics.TRIGGER_ESTOP)
        response.success = True
        response.message = ("e-stop was already latched" if was else "e-stop latched") + \
            f"; {topics.CLEAR_ESTOP} releases it"
        return response

    def _on_episode_event(self, msg: String) -> None:
        # A new episode means the scene (and maybe the robot) was reset: never hold or finish a
        # target from before it; wait for a chunk of the new episode. Bad events are the
        # policy node's to count; here they change nothing.
        try:
            event = parse_episode_event(msg.data)
        except ConfigError:
            return
        if event.event == "start":
            if event.episode_id in self._started_ids:
                return  # a panel repeating its unanswered start: the running schedule stands
            self._started_ids.append(event.episode_id)
            self.hold_pose = None
            self.last_joint_target = self.hold_joints = None
            self.motion_ref.reset()
            self.schedule = self._new_schedule()
            self._late_seen = 0

    def _on_clear_estop(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.watchdog.clear_estop(self._now())
        self.get_logger().warning(f"clear_estop: {response.message}")
        if response.success:
            self.schedule = self._new_schedule()
            self._late_seen = 0
        return response

    # ---- control tick -----------------------------------------------------------------------

    def _tick(self) -> None:
        now = self._now()
        self._expire_pending(now)
        mode, reason = self.watchdog.mode(now)
        if mode != self.mode:
            self.get_logger().info(f"mode {self.mode.value} -> {mode.value}{f' ({reason.value})' if reason else ''}")
            if mode in (Mode.STOP, Mode.ESTOP, Mode.IDLE):
                self._enter_stop()
        self.mode = mode
        if mode in (Mode.STOP, Mode.ESTOP, Mode.IDLE):
            self._refuse(reason)
            return
        if mode == Mode.HOLD:
            self._refuse(reason)
            self._hold(now)
            return
        due = self.schedule.action_at(now)
        late = self.schedule.late_dropped - self._late_seen
        if late:
            self._late_seen = self.schedule.late_dropped
            self._refuse(Reason.LATE_ACTION, f"{late} action(s) passed their target time", n=late)
        if due is None:
            self._refuse(Reason.NO_ACTION_DUE)
            if self.joint is None:
                self._hold(now)
            # joint_trajectory: the trajectory sent last already plans these times (or ends in a held point).
            return
        index, action = due
        if self.joint is not None:
            self._run_joints(now, index)
            return
        if self.ee_pose is None:
            self._refuse(Reason.NO_EE_POSE, f"nothing on {self.cfg.ee_pose_topic}")
            self._hold(now)
            return
        pos, quat, pose_stamp = self.ee_pose
        if now - pose_stamp > self.cfg.max_ee_pose_age_s:
            self._refuse(Reason.STALE_EE_POSE, f"end-effector pose is {now - pose_stamp:.3f} s old")
            self._hold(now)
            return
        if not self.cfg.limits.contains(pos):  # checked on the measured pose whatever the reference
            self._refuse(Reason.OUTSIDE_WORKSPACE, f"action {index} at position {np.round(pos, 3).tolist()}")
            self._hold(now)
            return
        # While motion is continuous the controller's commanded pose is the previous target (the measured
        # pose lags it): deltas add to that target, as in simulation; after a pause, to the measured pose
        # (robot_rl.safety.motion_reference).
        base_pos, base_quat = self.motion_ref.base(pos, quat, now)
        outcome = apply_ee_delta(base_pos, base_quat, action, self.period, self.cfg.limits,
                                 self.spec.action_low, self.spec.action_high)
        if not outcome.ok:
            self._refuse(outcome.refused, f"action {index} at position {np.round(pos, 3).tolist()}")
            self._hold(now)
            return
        for clamp in outcome.clamps:
            self._refuse(clamp, f"action {index} clamped")
        stamp = self.get_clock().now().to_msg()
        if self.cfg.command_type == "pose":
            msg = pose_command(outcome.position, outcome.orientation, stamp, self.cfg.command_frame)
        else:
            msg = twist_command(base_pos, base_quat, outcome.position, outcome.orientation, self.period, stamp,
                                self.cfg.command_frame)
        self.motion_ref.commanded(outcome.position, outcome.orientation, now)
        self.hold_pose = (outcome.position, outcome.orientation)
        self._send(msg, outcome.gripper, f"action {index}")

    def _run_joints(self, now: float, index: int) -> None:
        """JointTrajectory through action ``index`` and the next ones of the chunk, from the measured joints."""
        q, reason, detail = self.joint_cache.positions(now, self.cfg.max_joint_state_age_s)
        if q is None:
            self._refuse(reason, f"action {index}: {detail}")
            self._hold(now)
            return
        end = self.schedule.chunk.shape[0] if self.cfg.trajectory_points == 0 else index + self.cfg.trajectory_points
        actions = self.schedule.chunk[index:end]  # (m, A): the due action first
        plan = plan_joint_trajectory(q, actions, self.joint.layout, self.period, self.joint.bounds,
                                     self.spec.action_low, self.spec.action_high)
        if not plan.ok:
            self._refuse(plan.refused, f"action {index}: {plan.detail}")
            self._hold(now)
            return
        for clamp in plan.clamps:
            self._refuse(clamp, f"action {index} clamped")
        msg = joint_trajectory_command(self.joint.joint_names, plan.positions, plan.time_from_start,
                                       self.get_clock().now().to_msg(), self.cfg.command_frame)
        self.last_joint_target, self.hold_joints = plan.positions[0], None
        self._send(msg, plan.gripper, f"action {index}")

    def _measured_or(self, now: float, fallback: np.ndarray) -> np.ndarray:
        q, _, _ = self.joint_cache.positions(now, self.cfg.max_joint_state_age_s)
        return q if q is not None else fallback

    def _send_joint_point(self, q: np.ndarray, what: str) -> None:
        # A one-point trajectory replaces the rest of the one the controller is following.
        msg = joint_trajectory_command(self.joint.joint_names, q[None], np.array([self.period]),
                                       self.get_clock().now().to_msg(), self.cfg.command_frame)
        self._send(msg, None, what, hold=True)

    def _hold_joints(self, now: float) -> None:
        """Hold where the joints were when the hold began (measured if fresh, else the last motion's first point)."""
        if self.hold_joints is None:
            if self.last_joint_target is None:
                return  # no motion commanded since the last stop: nothing to hold
            self.hold_joints = self._measured_or(now, self.last_joint_target)
        self._send_joint_point(self.hold_joints, "hold")

    def _stop_joints(self, now: float) -> None:
        """One trajectory to the current joints (else the controller finishes the look-ahead), then silence."""
        last = self.hold_joints if self.hold_joints is not None else self.last_joint_target
        if last is not None:
            self._send_joint_point(self._measured_or(now, last), "stop")
        self.last_joint_target = self.hold_joints = None

    def _hold(self, now: float) -> None:
        """Keep still: re-send the last target (pose), zero velocity (twist), or the joints where the hold began."""
        stamp = self.get_clock().now().to_msg()
        if self.joint is not None:
            self._hold_joints(now)
        elif self.cfg.command_type == "twist":
            self.motion_ref.reset()
            self._send(zero_twist(stamp, self.cfg.command_frame), None, "hold", hold=True)
        elif self.hold_pose is not None:
            self._send(pose_command(*self.hold_pose, stamp, self.cfg.command_frame), None, "hold", hold=True)

    def _enter_stop(self) -> None:
        """Stop: one zero twist (Servo would coast otherwise) or one trajectory to the current joints (the
        controller would finish the look-ahead otherwise), then silence."""
        self.hold_pose = None
        self.motion_ref.reset()
        if self.joint is not None:
            self._stop_joints(self._now())
        elif self.cfg.command_type == "twist":
            self._send(zero_twist(self.get_clock().now().to_msg(), self.cfg.command_frame), None, "stop", hold=True)

    def _send(self, msg: Command, gripper: float | None, what: str, hold: bool = False) -> None:
        self.stats["hold_commands" if hold else "commands"] += 1
        if self.cfg.dry_run:
            self.stats["dry_run_suppressed"] += 1
            if self.refusals.record("dry_run", self._now()) is not None:
                self.get_logger().info(f"dry_run: would publish {what}: {_describe(msg)}"
                                       f"{'' if gripper is None else f', gripper {gripper:+.2f} ({self.cfg.gripper_command(gripper):g} on the wire)'}")
            return
        self.command_pub.publish(msg)
        if gripper is not None and self.gripper_pub is not None:
            self.gripper_pub.publish(Float64(data=self.cfg.gripper_command(gripper)))
        self.stats["published"] += 1

    # ---- diagnostics ------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        counts = self.refusals.counts
        rejected = sum(counts.get(r.value, 0) for r in _MESSAGE_REASONS)
        if self.mode == Mode.ESTOP:
            level, message = ERROR, "e-stop latched"
        elif self.mode in (Mode.STOP, Mode.HOLD):
            level, message = WARN, f"{self.mode.value}"
        else:
            level, message = OK, self.mode.value
        if self.cfg.dry_run:
            message += " (dry_run)"
        values: dict[str, object] = {
            "mode": self.mode.value, "dry_run": self.cfg.dry_run, "estop": self.watchdog.estopped,
            "chunks_accepted": self.stats["chunks_accepted"], "commands": self.stats["commands"],
            "chunks_started_on_arrival": self.stats["chunks_started_on_arrival"],
            "hold_commands": self.stats["hold_commands"], "published": self.stats["published"],
            "dry_run_suppressed": self.stats["dry_run_suppressed"], "rejected_messages": rejected,
            "lost_heartbeats": ",".join(self.watchdog.lost_heartbeats(self._now())),
            "command_latency_s": f"{self.schedule.command_latency_s:.4f}", "command_type": self.cfg.command_type,
        }
        values.update({f"refused.{r.value}": counts.get(r.value, 0) for r in Reason})
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: executor",
                                               self.cfg.command_frame, level, message, values))


def _describe(msg: Command) -> str:
    if isinstance(msg, JointTrajectory):
        first = ", ".join(f"{v:.3f}" for v in msg.points[0].positions) if msg.points else ""
        return f"joint trajectory of {len(msg.points)} point(s), first ({first})"
    if isinstance(msg, PoseStamped):
        p, q = msg.pose.position, msg.pose.orientation
        return f"pose ({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) quat ({q.x:.3f}, {q.y:.3f}, {q.z:.3f}, {q.w:.3f})"
    lin, ang = msg.twist.linear, msg.twist.angular
    return f"twist v ({lin.x:.3f}, {lin.y:.3f}, {lin.z:.3f}) w ({ang.x:.3f}, {ang.y:.3f}, {ang.z:.3f})"


def main(args: list[str] | None = None) -> int:
    """Console script ``action_executor``: ``action_executor --ros-args --params-file executor.yaml``."""
    return run_node("action_executor", ActionExecutor, args)


if __name__ == "__main__":
    sys.exit(main())
