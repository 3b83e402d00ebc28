"""The action executor's decisions (docs/ros.md, "Bring-up and safety"): inputs and time in, commands out.

::

    chunk + stamp (paired by checksum) --fresh, newer--> schedule      (else refused: stale / out of order / unstamped)
    tick --Watchdog.mode--> ESTOP / STOP / IDLE: nothing (one stop command on entering)
                            HOLD: hold command
                            RUN:  action due now --limits--> pose / twist / joint command (+ gripper)
                                  no action due, no or stale pose, outside the box, refused step: hold

Every control period :meth:`ExecutorCore.tick` asks the :class:`~robot_rl.safety.watchdog.Watchdog`
for the mode, takes the action due now from the :class:`~robot_rl.safety.schedule.ChunkSchedule`,
makes it safe with :func:`~robot_rl.safety.limits.apply_ee_delta` (pose/twist) or
:func:`~robot_rl.safety.joint_trajectory.plan_joint_trajectory` (joint_trajectory) and returns the
command to send. Holding: the last pose target again, zero velocity, or the joints where the hold
began. Stopping (entering STOP, ESTOP or IDLE): one zero twist or one trajectory to the current
joints, then silence. With ``dry_run`` every command is counted and described in a log line instead
of returned. Every refusal is counted per reason (diagnostics) and logged at most once per reason
per ``log_interval_s``.

The core never reads a clock: every input carries ``now`` [s] on the node's clock (ROS time), and
each call returns :class:`Outputs`: the commands to publish and the lines to log.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.nodes.commands import Command, JointCommand, PoseCommand, describe, twist_between, zero_twist
from robot_rl.nodes.outputs import Note, Status
from robot_rl.ros_config.executor import ExecutorConfig, JointCommandSetup
from robot_rl.safety import (ChunkSchedule, JointStateCache, Mode, Reason, RefusalLog, MotionReference, Watchdog,
                             apply_ee_delta, check_finite, plan_joint_trajectory)
from robot_rl.spec import EmbodimentSpec
from robot_rl.wire import topics
from robot_rl.wire.chunk_layout import chunk_checksum
from robot_rl.wire.episode_event import parse_episode_event

# Reasons that reject an incoming message (as opposed to a tick that commands nothing).
MESSAGE_REASONS = {Reason.BAD_LAYOUT, Reason.NONFINITE, Reason.UNSTAMPED_CHUNK, Reason.STALE_OBSERVATION,
                   Reason.OUT_OF_ORDER, Reason.BAD_POSE, Reason.BAD_JOINT_STATE}
_STOPPED = (Mode.STOP, Mode.ESTOP, Mode.IDLE)


@dataclass(frozen=True)
class Send:
    """A command for the robot; ``gripper`` in spec units [-1 close, +1 open] and on the wire, or None."""

    command: Command
    gripper: float | None
    gripper_wire: float | None
    what: str  # "action 3", "hold", "stop"
    hold: bool


@dataclass
class Outputs:
    """What one call asks the node to do: publish ``sends`` (in order), log ``notes``.

    The e-stop services answer with ``ok`` and ``message``.
    """

    sends: list[Send] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    ok: bool = True
    message: str = ""


class ExecutorCore:
    """The safety layer's state and decisions; see the module docstring. ``cfg`` may change at runtime."""

    def __init__(self, cfg: ExecutorConfig, spec: EmbodimentSpec, joint: JointCommandSetup | None) -> None:
        """:param joint: None for pose/twist; for joint_trajectory the checked joint layout, names and limits
            (robot_rl.ros_config.executor.check_command_spec)."""
        self.cfg = cfg
        self.spec = spec
        self.joint = joint
        self.period = spec.control_period_s
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
        self.joint_cache = JointStateCache(joint.joint_names) if joint else None
        self.last_joint_target: np.ndarray | None = None  # (J,)
        self.hold_joints: np.ndarray | None = None        # (J,)
        self.gripper_dim = (joint.layout.gripper_dim if joint
                            else 6 if spec.action_dim == 7 else None)
        self._out = Outputs()

    # ---- helpers ----------------------------------------------------------------------------

    def _take(self, ok: bool = True, message: str = "") -> Outputs:
        out, self._out = self._out, Outputs()
        out.ok, out.message = ok, message
        return out

    def _note(self, level: str, text: str) -> None:
        self._out.notes.append(Note(level, text))  # type: ignore[arg-type]

    def _refuse(self, reason: Reason, now: float, detail: str = "", n: int = 1) -> None:
        suffix = self.refusals.record(reason, now, n)
        if suffix is not None:
            self._note("warning", f"refused ({reason.value}){': ' + detail if detail else ''}{suffix}")

    def _new_schedule(self) -> ChunkSchedule:
        # Action i of a chunk is sent at stamp + i / rate - command latency (robot_rl.safety.schedule).
        return ChunkSchedule(self.spec.control_rate_hz, self.cfg.command_latency(self.spec))

    def reconfigure(self, cfg: ExecutorConfig) -> Outputs:
        """New runtime parameters (dry_run, limits, watchdog, latency, log interval)."""
        if cfg.dry_run != self.cfg.dry_run:
            self._note("warning", f"dry_run switched {'ON' if cfg.dry_run else 'OFF: commands go to the robot'}")
        self.cfg = cfg
        self.watchdog.config = cfg.watchdog
        self.schedule.command_latency_s = cfg.command_latency(self.spec)
        self.refusals.interval_s = cfg.log_interval_s
        return self._take()

    # ---- inputs -----------------------------------------------------------------------------

    def on_chunk(self, chunk: np.ndarray | None, now: float, layout_error: str = "") -> Outputs:
        """A chunk (H, A), or None with ``layout_error`` when its message did not have the spec's layout."""
        if chunk is None:
            self._refuse(Reason.BAD_LAYOUT, now, layout_error)
            return self._take()
        if not check_finite(chunk):
            self._refuse(Reason.NONFINITE, now, f"chunk has {int(np.sum(~np.isfinite(chunk)))} NaN/inf values")
            return self._take()
        key = chunk_checksum(chunk)
        self._pending_chunks[key] = (chunk, now)
        self._pair(key, now)
        return self._take()

    def on_stamp(self, frame_id: str, stamp: float, now: float) -> Outputs:
        """A chunk's stamp: the observation's capture time ``stamp`` [s], ``frame_id`` the chunk's checksum."""
        if not frame_id.startswith("crc32:"):
            self._refuse(Reason.UNSTAMPED_CHUNK, now, f"stamp frame_id {frame_id!r} is not a chunk checksum")
            return self._take()
        self._pending_stamps[frame_id] = (stamp, now)
        self._pair(frame_id, now)
        return self._take()

    def _pair(self, key: str, now: float) -> None:
        if key not in self._pending_chunks or key not in self._pending_stamps:
            return
        chunk, _ = self._pending_chunks.pop(key)
        stamp, _ = self._pending_stamps.pop(key)
        age = now - stamp
        if age > self.cfg.max_observation_age_s:
            self._refuse(Reason.STALE_OBSERVATION, now, f"observation is {age:.3f} s old "
                                                        f"(max_observation_age_s {self.cfg.max_observation_age_s})")
            return
        if not self.schedule.set_chunk(chunk, stamp, arrival_s=now):
            self._refuse(Reason.OUT_OF_ORDER, now,
                         f"chunk stamped {stamp:.3f} is not newer than {self.schedule.stamp_s:.3f}")
            return
        self.watchdog.chunk_received(now)
        self.stats["chunks_accepted"] += 1
        self.stats["chunks_started_on_arrival"] += int(self.schedule.start_s != stamp)

    def _expire_pending(self, now: float) -> None:
        timeout = self.cfg.stamp_pairing_timeout_s
        for key in [k for k, (_, t) in self._pending_chunks.items() if now - t > timeout]:
            del self._pending_chunks[key]
            self._refuse(Reason.UNSTAMPED_CHUNK, now, f"no stamp with checksum {key} within {timeout} s")
        for key in [k for k, (_, t) in self._pending_stamps.items() if now - t > timeout]:
            del self._pending_stamps[key]  # its chunk was rejected or lost: nothing to execute

    def on_pose(self, pos: np.ndarray, quat: np.ndarray, frame_id: str, stamp: float, now: float) -> Outputs:
        """The measured end-effector pose; ``stamp`` 0 means unstamped (taken as ``now``)."""
        if not (check_finite(pos) and check_finite(quat)) or np.linalg.norm(quat) < 1e-6:
            self._refuse(Reason.BAD_POSE, now, "end-effector pose has NaN/inf or a zero quaternion")
            return self._take()
        if frame_id != self.cfg.command_frame:
            self._refuse(Reason.BAD_POSE, now, f"end-effector pose in frame {frame_id!r}, "
                                               f"commands are in {self.cfg.command_frame!r}")
            return self._take()
        self.ee_pose = (pos, quat, stamp if stamp > 0 else now)
        return self._take()

    def on_joint_state(self, names: list[str], positions: list[float], stamp: float, now: float) -> Outputs:
        """Measured joint positions (joint_trajectory only); ``stamp`` 0 means unstamped (taken as ``now``)."""
        if self.joint_cache is None:
            raise ConfigError(f"joint states for command_type {self.cfg.command_type!r}: "
                              "only command_type joint_trajectory reads them")
        why = self.joint_cache.update(names, positions, stamp if stamp > 0 else now)
        if why is not None:
            self._refuse(Reason.BAD_JOINT_STATE, now, why)
        return self._take()

    def heartbeat(self, name: str, now: float) -> None:
        """A heartbeat on topic ``name`` (only the configured ``heartbeat_topics`` count)."""
        self.watchdog.heartbeat(name, now)

    def on_estop(self, asserted: bool, source: str, now: float) -> Outputs:
        """An e-stop message from ``source``: True latches (stop at once); False changes nothing."""
        was = self.watchdog.estopped
        self.watchdog.estop(asserted, now)
        if self.watchdog.estopped and not was:
            self._note("error", f"E-STOP latched (from {source}): no commands until {topics.CLEAR_ESTOP}")
            self._enter_stop(now)
        return self._take()

    def trigger_estop(self, now: float) -> Outputs:
        """The trigger service: latch the e-stop; the answer's ``message`` says whether it already was."""
        was = self.watchdog.estopped
        out = self.on_estop(True, topics.TRIGGER_ESTOP, now)
        out.message = ("e-stop was already latched" if was else "e-stop latched") + \
            f"; {topics.CLEAR_ESTOP} releases it"
        return out

    def clear_estop(self, now: float) -> Outputs:
        """The clear service: the only way out of ESTOP; refused while e-stop messages keep asserting."""
        ok, message = self.watchdog.clear_estop(now)
        self._note("warning", f"clear_estop: {message}")
        if ok:
            self.schedule = self._new_schedule()
            self._late_seen = 0
        return self._take(ok, message)

    def on_episode_event(self, text: str) -> Outputs:
        """An episode event (JSON): a start forgets every target from before it."""
        # A new episode means the scene (and maybe the robot) was reset: never hold or finish a
        # target from before it; wait for a chunk of the new episode. Bad events are the
        # policy node's to count; here they change nothing.
        try:
            event = parse_episode_event(text)
        except ConfigError:
            return self._take()
        if event.event == "start":
            if event.episode_id in self._started_ids:
                return self._take()  # a panel repeating its unanswered start: the running schedule stands
            self._started_ids.append(event.episode_id)
            self.hold_pose = None
            self.last_joint_target = self.hold_joints = None
            self.motion_ref.reset()
            self.schedule = self._new_schedule()
            self._late_seen = 0
        return self._take()

    # ---- control tick -----------------------------------------------------------------------

    def tick(self, now: float) -> Outputs:
        """One control period: the mode, then the command due now (or a hold, a stop, or nothing)."""
        self._tick(now)
        return self._take()

    def _tick(self, now: float) -> None:
        self._expire_pending(now)
        mode, reason = self.watchdog.mode(now)
        if mode != self.mode:
            self._note("info", f"mode {self.mode.value} -> {mode.value}{f' ({reason.value})' if reason else ''}")
            if mode in _STOPPED:
                self._enter_stop(now)
        self.mode = mode
        if mode in _STOPPED:
            self._refuse(reason, now)
            return
        if mode == Mode.HOLD:
            self._refuse(reason, now)
            self._hold(now)
            return
        due = self.schedule.action_at(now)
        late = self.schedule.late_dropped - self._late_seen
        if late:
            self._late_seen = self.schedule.late_dropped
            self._refuse(Reason.LATE_ACTION, now, f"{late} action(s) passed their target time", n=late)
        if due is None:
            self._refuse(Reason.NO_ACTION_DUE, now)
            if self.joint is None:
                self._hold(now)
            # joint_trajectory: the trajectory sent last already plans these times (or ends in a held point).
            return
        index, action = due
        if self.joint is not None:
            self._run_joints(now, index)
            return
        if self.ee_pose is None:
            self._refuse(Reason.NO_EE_POSE, now, f"nothing on {self.cfg.ee_pose_topic}")
            self._hold(now)
            return
        pos, quat, pose_stamp = self.ee_pose
        if now - pose_stamp > self.cfg.max_ee_pose_age_s:
            self._refuse(Reason.STALE_EE_POSE, now, f"end-effector pose is {now - pose_stamp:.3f} s old")
            self._hold(now)
            return
        if not self.cfg.limits.may_command_from(pos):  # checked on the measured pose whatever the reference
            self._refuse(Reason.OUTSIDE_WORKSPACE, now, f"action {index} at position {np.round(pos, 3).tolist()}")
            self._hold(now)
            return
        # While motion is continuous the controller's commanded pose is the previous target (the measured
        # pose lags it): deltas add to that target, as in simulation; after a pause, to the measured pose
        # (robot_rl.safety.motion_reference).
        base_pos, base_quat = self.motion_ref.base(pos, quat, now)
        outcome = apply_ee_delta(base_pos, base_quat, action, self.period, self.cfg.limits,
                                 self.spec.action_low, self.spec.action_high)
        if not outcome.ok:
            self._refuse(outcome.refused, now, f"action {index} at position {np.round(pos, 3).tolist()}")
            self._hold(now)
            return
        for clamp in outcome.clamps:
            self._refuse(clamp, now, f"action {index} clamped")
        if self.cfg.command_type == "pose":
            command: Command = PoseCommand(outcome.position, outcome.orientation)
        else:
            command = twist_between(base_pos, base_quat, outcome.position, outcome.orientation, self.period)
        self.motion_ref.commanded(outcome.position, outcome.orientation, now)
        self.hold_pose = (outcome.position, outcome.orientation)
        self._send(command, outcome.gripper, f"action {index}", now)

    def _run_joints(self, now: float, index: int) -> None:
        """JointTrajectory through action ``index`` and the next ones of the chunk, from the measured joints."""
        q, reason, detail = self.joint_cache.positions(now, self.cfg.max_joint_state_age_s)
        if q is None:
            self._refuse(reason, now, f"action {index}: {detail}")
            self._hold(now)
            return
        end = self.schedule.chunk.shape[0] if self.cfg.trajectory_points == 0 else index + self.cfg.trajectory_points
        actions = self.schedule.chunk[index:end]  # (m, A): the due action first
        plan = plan_joint_trajectory(q, actions, self.joint.layout, self.period, self.joint.bounds,
                                     self.spec.action_low, self.spec.action_high)
        if not plan.ok:
            self._refuse(plan.refused, now, f"action {index}: {plan.detail}")
            self._hold(now)
            return
        for clamp in plan.clamps:
            self._refuse(clamp, now, f"action {index} clamped")
        self.last_joint_target, self.hold_joints = plan.positions[0], None
        self._send(JointCommand(plan.positions, plan.time_from_start), plan.gripper, f"action {index}", now)

    def _measured_or(self, now: float, fallback: np.ndarray) -> np.ndarray:
        q, _, _ = self.joint_cache.positions(now, self.cfg.max_joint_state_age_s)
        return q if q is not None else fallback

    def _send_joint_point(self, q: np.ndarray, what: str, now: float) -> None:
        # A one-point trajectory replaces the rest of the one the controller is following.
        self._send(JointCommand(q[None], np.array([self.period])), None, what, now, hold=True)

    def _hold_joints(self, now: float) -> None:
        """Hold where the joints were when the hold began (measured if fresh, else the last motion's first point)."""
        if self.hold_joints is None:
            if self.last_joint_target is None:
                return  # no motion commanded since the last stop: nothing to hold
            self.hold_joints = self._measured_or(now, self.last_joint_target)
        self._send_joint_point(self.hold_joints, "hold", now)

    def _stop_joints(self, now: float) -> None:
        """One trajectory to the current joints (else the controller finishes the look-ahead), then silence."""
        last = self.hold_joints if self.hold_joints is not None else self.last_joint_target
        if last is not None:
            self._send_joint_point(self._measured_or(now, last), "stop", now)
        self.last_joint_target = self.hold_joints = None

    def _hold(self, now: float) -> None:
        """Keep still: re-send the last target (pose), zero velocity (twist), or the joints where the hold began."""
        if self.joint is not None:
            self._hold_joints(now)
        elif self.cfg.command_type == "twist":
            self.motion_ref.reset()
            self._send(zero_twist(), None, "hold", now, hold=True)
        elif self.hold_pose is not None:
            self._send(PoseCommand(*self.hold_pose), None, "hold", now, hold=True)

    def _enter_stop(self, now: float) -> None:
        """Stop: one zero twist (Servo would coast otherwise) or one trajectory to the current joints (the
        controller would finish the look-ahead otherwise), then silence."""
        self.hold_pose = None
        self.motion_ref.reset()
        if self.joint is not None:
            self._stop_joints(now)
        elif self.cfg.command_type == "twist":
            self._send(zero_twist(), None, "stop", now, hold=True)

    def _send(self, command: Command, gripper: float | None, what: str, now: float, hold: bool = False) -> None:
        self.stats["hold_commands" if hold else "commands"] += 1
        wire = None if gripper is None else self.cfg.gripper_command(gripper)
        if self.cfg.dry_run:
            self.stats["dry_run_suppressed"] += 1
            if self.refusals.record("dry_run", now) is not None:
                self._note("info", f"dry_run: would publish {what}: {describe(command)}"
                                   f"{'' if gripper is None else f', gripper {gripper:+.2f} ({wire:g} on the wire)'}")
            return
        self._out.sends.append(Send(command, gripper, wire, what, hold))
        self.stats["published"] += 1

    # ---- diagnostics ------------------------------------------------------------------------

    def diagnostics(self, now: float) -> Status:
        """The executor's ``/diagnostics`` status: mode, dry_run, e-stop, counts, every refusal reason."""
        counts = self.refusals.counts
        rejected = sum(counts.get(r.value, 0) for r in MESSAGE_REASONS)
        if self.mode == Mode.ESTOP:
            level, message = "error", "e-stop latched"
        elif self.mode in (Mode.STOP, Mode.HOLD):
            level, message = "warn", f"{self.mode.value}"
        else:
            level, message = "ok", self.mode.value
        if self.cfg.dry_run:
            message += " (dry_run)"
        values: dict[str, object] = {
            "mode": self.mode.value, "dry_run": self.cfg.dry_run, "estop": self.watchdog.estopped,
            "chunks_accepted": self.stats["chunks_accepted"], "commands": self.stats["commands"],
            "chunks_started_on_arrival": self.stats["chunks_started_on_arrival"],
            "hold_commands": self.stats["hold_commands"], "published": self.stats["published"],
            "dry_run_suppressed": self.stats["dry_run_suppressed"], "rejected_messages": rejected,
            "lost_heartbeats": ",".join(self.watchdog.lost_heartbeats(now)),
            "command_latency_s": f"{self.schedule.command_latency_s:.4f}", "command_type": self.cfg.command_type,
        }
        values.update({f"refused.{r.value}": counts.get(r.value, 0) for r in Reason})
        return Status(level, message, values)  # type: ignore[arg-type]
