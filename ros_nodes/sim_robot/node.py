"""sim_robot_node: a suite env (tabletop, point_reach, LIBERO...) presented as the robot.

Publishes what a camera driver and a robot driver would: ``<cam>/image_raw`` + ``camera_info``
for every spec camera (``camera_rate_hz``), ``/joint_states`` and the end-effector pose
(``state_rate_hz``, from the env's proprio through ``proprio_sources``), all stamped now (the sim
world does not change between control steps). Like real drivers it streams from launch, in every
mode: the env is reset to the first scheduled context at start-up, so an operator sees the scene
before the first Start; between episodes the last scene is held and streamed on. Every control
period (the spec's rate) it steps the env once with the action the latest executor command asks for (robot_rl.robot.commands:
pose target -> the delta that moves the env's commanded pose there, i.e. from the previous target (a pose
controller tracks its targets; the arm lags them as in simulation); twist -> twist x period; gripper
held), and reports the outcome
on ``/robot_rl/episode_event``: ``success`` (label_source sim) when the env says so, ``failure``
with ``timeout`` when the episode limit is reached. With ``report_success: false`` it publishes
neither (an operator labels, as on the real robot): at the episode limit it stops stepping and
holds the scene until a success / failure / abort event from the panel ends the episode; what the
sim would have said is only counted in diagnostics (``sim_success`` / ``sim_failure``).

The world can differ from the training simulator as a lab does (``reality``: a named, seeded reality
profile of the suite, docs/reality.md; every shift applied is logged at start and the profile is in
diagnostics), and the cameras can stream like a real driver (``camera_width`` x ``camera_height``,
e.g. 640x480 rgb8 with its camera_info; ``frames.py``), so policy_node crops and resizes as on hardware.

Ground truth: whenever the sim ends an episode (success, or the limit) the stand-in publishes a
:class:`~robot_rl.wire.sim_verdict.SimVerdict` on ``/sim_robot/verdict``, also with
``report_success: false`` (a scripted operator labels from it; a real robot has no such topic).

Sim time (``publish_clock``): the stand-in owns time. It steps the sim on its own schedule, one
control period per step at ``clock_speed`` x real time (``robot_rl/robot/sim_clock.py``), and
publishes rosgraph_msgs/Clock on ``/clock`` after each step; every other node runs with
``use_sim_time`` and its timers, stamps and timeouts follow. Its own pacing runs on a steady
wall-clock timer, so it works whatever its own ``use_sim_time`` says.

Episodes: with ``auto_start`` it runs its own schedule (``contexts`` x ``group_size``), announcing
each with a ``start`` event and the instruction (latched); otherwise a ``start`` event from
elsewhere (the operator panel) or the ``/sim_robot/reset`` service (next scheduled context)
resets the env to the requested context. ``abort``/``estop`` events stop the episode.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections import Counter, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.clock import Clock as RclpyClock
from rclpy.clock import ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64, Header, String
from std_srvs.srv import Trigger

from ros_nodes.run import run_node
from robot_rl.env import Context, Observation, make_suite
from robot_rl.errors import ConfigError
from robot_rl.robot.commands import check_commandable, hold_action, pose_target_to_action, twist_to_action
from robot_rl.robot.proprio import ProprioMap, default_proprio_sources
from robot_rl.robot.sim_clock import SimPacer
from robot_rl.wire import topics
from robot_rl.wire.episode_event import EpisodeEvent, parse_episode_event
from robot_rl.wire.sim_verdict import SimVerdict
from robot_rl.ros_config.params_file import parameter_fields
from robot_rl.ros_config.sim_robot import SimRobotConfig
from ros_nodes import qos
from ros_nodes.messages import (
    OK, camera_info_msg, diagnostic_array, image_to_msg, pose_to_arrays, s_to_stamp, stamp_to_s,
)
from ros_nodes.params import NodeParams
from ros_nodes.sim_robot.frames import StandInCameras


class SimRobotNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("sim_robot")
        self.params = NodeParams(self, SimRobotConfig, static=[f.name for f in parameter_fields(SimRobotConfig)])
        cfg: SimRobotConfig = self.params.config
        self.cfg = cfg
        self.suite = make_suite(cfg.suite, **cfg.suite_kwargs())
        self.spec = self.suite.spec
        check_commandable(self.spec)
        self.proprio_map = ProprioMap(self.spec, cfg.proprio_sources or default_proprio_sources(self.spec))
        self.env = self.suite.make_env()
        self.reality = self._log_reality()
        self.cameras = StandInCameras(self.env, self.spec, cfg.camera_width, cfg.camera_height)
        # Sim time: the pacer owns the clock (None = the node's clock, wall time unless use_sim_time).
        self.pacer = SimPacer(self.spec.control_period_s, cfg.clock_speed, time.monotonic()) \
            if cfg.publish_clock else None
        self.instructions = {t.task: t.instruction for t in self.suite.tasks()}
        contexts = [Context.parse(c) for c in cfg.contexts] or self.suite.contexts()
        self._schedule = itertools.cycle(contexts)
        first_context = contexts[0]
        self._run_id = f"sim{os.getpid()}x{int(time.time()) % 100000}"
        self._group_index = -1
        self._in_group = cfg.group_size  # forces a new group first
        self._group_ctx: Context | None = None
        self.stats: Counter[str] = Counter()
        # Cameras and state stream from launch (real drivers do): the scene of the first context until a start.
        self.obs: Observation = self.env.reset(first_context)
        self.episode: EpisodeEvent | None = None
        self.episode_start = 0.0
        self.steps = 0
        self.ticks = 0
        self._fresh_command = False
        self.holding = False  # report_success false: the limit was reached, waiting for the operator's label
        self.max_steps = 0
        self.next_start = 0.0
        self.target: tuple[np.ndarray, np.ndarray] | None = None
        self.tracked: tuple[np.ndarray, np.ndarray] | None = None  # the target the env's commanded pose was moved to
        self.twist: tuple[np.ndarray, np.ndarray, float] | None = None
        self.gripper = 1.0
        self._last_gripper = 1.0
        self._started_ids: deque[str] = deque(maxlen=64)  # recent starts: a repeated one changes nothing
        # (episode id, event) of what we published: echoes are ignored, while an operator's label of one of
        # our own scheduled episodes (auto_start with report_success false) still ends it.
        self._own_events: set[tuple[str, str]] = set()
        # Liveness is about processes, not the world: the policy's heartbeat and DDS discovery are timed on the
        # wall clock [time.monotonic()], so a fast sim clock does not declare a slower policy dead.
        self._heartbeat_wall = -1e9
        self._start_after_wall = time.monotonic() + cfg.startup_delay_s  # let subscribers discover us first

        image_qos = qos.by_name(cfg.image_qos)
        self.image_pubs = {c.name: (self.create_publisher(Image, topics.image_topic(c.name), image_qos),
                                    self.create_publisher(CameraInfo, topics.camera_info_topic(c.name), image_qos),
                                    self.cameras.calibrations[c.name]) for c in self.spec.cameras}
        self.joint_pub = self.create_publisher(JointState, cfg.joint_states_topic, qos.SENSOR)
        self.pose_pub = self.create_publisher(PoseStamped, cfg.ee_pose_topic, qos.SENSOR)
        self.event_pub = self.create_publisher(String, topics.EPISODE_EVENT, qos.RELIABLE)
        self.instruction_pub = self.create_publisher(String, topics.INSTRUCTION, qos.LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        # Latched: an operator (script) that joins while the stand-in holds a finished episode still gets its verdict.
        self.verdict_pub = self.create_publisher(String, topics.SIM_VERDICT, qos.LATCHED)
        if cfg.command_type == "pose":
            self.create_subscription(PoseStamped, cfg.pose_command_topic, self._on_pose_command, qos.RELIABLE)
        else:
            self.create_subscription(TwistStamped, cfg.twist_command_topic, self._on_twist_command, qos.RELIABLE)
        self.create_subscription(Float64, cfg.gripper_command_topic, self._on_gripper, qos.RELIABLE)
        self.create_subscription(String, topics.EPISODE_EVENT, self._on_event, qos.RELIABLE)
        if cfg.wait_for_heartbeat:
            self.create_subscription(Header, cfg.wait_for_heartbeat, self._on_heartbeat, qos.SENSOR)
        self.create_service(Trigger, topics.SIM_RESET, self._on_reset)
        if self.pacer is None:
            self.create_timer(self.spec.control_period_s, self._control)
            self.create_timer(1.0 / cfg.camera_rate_hz, self._publish_images)
            self.create_timer(1.0 / cfg.state_rate_hz, self._publish_state)
            self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        else:
            self.clock_pub = self.create_publisher(Clock, topics.CLOCK, qos.RELIABLE)
            # Streams follow sim time: next due sim time of each.
            self._due = {"images": 0.0, "state": 0.0, "diagnostics": 0.0}
            # A steady (wall) timer polls the pacer: the stand-in's pace must not depend on the clock it publishes.
            poll = min(self.spec.control_period_s / cfg.clock_speed / 4, 0.005) if cfg.clock_speed > 0 else 0.0002
            self.create_timer(max(poll, 0.0002), self._clock_tick, clock=RclpyClock(clock_type=ClockType.STEADY_TIME))
            self.clock_pub.publish(Clock(clock=s_to_stamp(self.pacer.sim_time)))
        frames = (f"{cfg.camera_width}x{cfg.camera_height} driver frames" if self.cameras.driver
                  else "spec-sized frames")
        clock = f"publishing /clock at {cfg.clock_speed}x" if self.pacer else "wall-clock time"
        self.get_logger().info(f"sim robot '{cfg.suite}' (spec {self.spec.name}) at {self.spec.control_rate_hz} Hz, "
                               f"obeying {cfg.command_type} commands; auto_start={cfg.auto_start}; reality "
                               f"'{cfg.reality}'; {frames}; {clock}")

    def _log_reality(self) -> dict:
        """Log every reality shift the env applies (one line each); the description, or {} for none."""
        describe = getattr(self.env, "describe_reality", None)
        described = describe() if callable(describe) else {}
        shifts = described.get("shifts", {})
        self.get_logger().info(f"reality profile '{self.cfg.reality}' (seed {self.cfg.reality_seed}): "
                               f"{len(shifts)} shift(s) applied{': ' + ', '.join(shifts) if shifts else ''}")
        for name, values in shifts.items():
            self.get_logger().info(f"reality shift {name}: {json.dumps(values, sort_keys=True)}")
        return described

    def _now(self) -> float:
        if self.pacer is not None:
            return self.pacer.sim_time
        return self.get_clock().now().nanoseconds * 1e-9

    def _stamp(self):  # noqa: ANN202 - builtin_interfaces/Time
        return s_to_stamp(self._now()) if self.pacer is not None else self.get_clock().now().to_msg()

    def _clock_tick(self) -> None:
        """publish_clock: one control step when the pacer says it is due, then /clock and the streams."""
        wall = time.monotonic()
        if not self.pacer.due(wall):
            return
        self._control()
        now = self.pacer.advance(wall)
        self.clock_pub.publish(Clock(clock=s_to_stamp(now)))
        # The state goes out before the frames: a policy acting on a frame takes the newest pose it holds, and on
        # a real robot that pose (joint states at hundreds of Hz) is never older than the frame. Frames first
        # paired each frame with the previous step's pose: a chunk stamped one period early, its first actions late.
        rates = {"state": 1.0 / self.cfg.state_rate_hz, "images": 1.0 / self.cfg.camera_rate_hz,
                 "diagnostics": self.cfg.diagnostics_period_s}
        publish = {"state": self._publish_state, "images": self._publish_images,
                   "diagnostics": self._publish_diagnostics}
        for name, period in rates.items():
            if now >= self._due[name] - 1e-9:  # at most once per step: the world only changes per step
                publish[name]()
                self._due[name] = max(self._due[name] + period, now - self.spec.control_period_s + period)

    # ---- episodes ---------------------------------------------------------------------------

    def _next_scheduled(self) -> tuple[Context, str]:
        if self._in_group >= self.cfg.group_size:
            self._group_ctx = next(self._schedule)
            self._group_index += 1
            self._in_group = 0
        self._in_group += 1
        return self._group_ctx, f"{self._run_id}-g{self._group_index}"

    def _start(self, event: EpisodeEvent) -> None:
        """Reset the env to the event's context and announce it (own events are published here)."""
        ctx = event.context
        self._started_ids.append(event.episode_id)
        self.obs = self.env.reset(ctx)
        self.cameras.changed()
        self.target, self.tracked, self.twist, self.gripper = None, None, None, 1.0
        self.steps = 0
        self.ticks = 0
        self._fresh_command = False
        self._last_gripper = self.gripper
        self.holding = False
        task_limit = self.env.max_steps
        self.max_steps = min(task_limit, self.cfg.max_steps) if self.cfg.max_steps else task_limit
        self.episode_start = self._now()
        instruction = event.instruction or self.obs.instruction or self.instructions.get(ctx.task, "")
        self.episode = event.model_copy(update={"instruction": instruction, "stamp": self.episode_start})
        self.instruction_pub.publish(String(data=instruction))
        self.stats["episodes_started"] += 1

    def _start_next(self) -> None:
        ctx, group = self._next_scheduled()
        episode_id = f"{group}-{self._in_group}"
        self._own_events.add((episode_id, "start"))
        self._start(EpisodeEvent(event="start", episode_id=episode_id, context_id=ctx.id, group_id=group,
                                 label_source="sim"))
        self._publish_images()
        self._publish_state()
        self.event_pub.publish(String(data=self.episode.to_json()))

    def _end(self, kind: str, timeout: bool = False) -> None:
        event = EpisodeEvent(event=kind, episode_id=self.episode.episode_id, context_id=self.episode.context_id,
                             group_id=self.episode.group_id, label_source="sim", timeout=timeout, stamp=self._now())
        self._own_events.add((event.episode_id, kind))
        self.event_pub.publish(String(data=event.to_json()))
        self.stats[f"episodes_{kind}"] += 1
        self.get_logger().info(f"episode {event.episode_id} ({event.context_id}): {kind} after {self.steps} steps")
        self.episode = None
        self.next_start = self._now() + self.cfg.episode_gap_s

    def _on_event(self, msg: String) -> None:
        try:
            event = parse_episode_event(msg.data)
        except ConfigError as err:
            self.stats["rejected_events"] += 1
            self.get_logger().warning(f"rejected episode event: {err}", throttle_duration_sec=2.0)
            return
        if (event.episode_id, event.event) in self._own_events:
            return  # our own announcement coming back
        if event.event == "start":
            if event.episode_id in self._started_ids:
                return  # a panel repeating a start it had no answer to: the scene is already reset
            self._start(event)
        elif self.episode is not None and event.episode_id == self.episode.episode_id:
            self.get_logger().info(f"episode {event.episode_id} ended from outside: {event.event}")
            self.episode = None
            self.next_start = self._now() + self.cfg.episode_gap_s

    def _on_heartbeat(self, _msg: Header) -> None:
        wall = time.monotonic()
        if self._heartbeat_wall < 0:
            self._start_after_wall = max(self._start_after_wall, wall + self.cfg.startup_delay_s)  # discovery settles
        self._heartbeat_wall = wall

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._start_next()
        response.success, response.message = True, f"started {self.episode.episode_id} on {self.episode.context_id}"
        return response

    # ---- commands ---------------------------------------------------------------------------

    def _command_ok(self, stamp: float, frame: str) -> bool:
        if frame != self.cfg.command_frame or stamp < self.episode_start + self.cfg.command_guard_s:
            self.stats["ignored_commands"] += 1  # another frame, or meant for the scene before the reset
            return False
        return True

    def _on_pose_command(self, msg: PoseStamped) -> None:
        if self._command_ok(stamp_to_s(msg.header.stamp), msg.header.frame_id):
            pos, quat = pose_to_arrays(msg)
            if np.isfinite(pos).all() and np.isfinite(quat).all() and np.linalg.norm(quat) > 1e-6:
                self.target = (pos, quat)
                self._fresh_command = True
                self.stats["commands"] += 1

    def _on_twist_command(self, msg: TwistStamped) -> None:
        if self._command_ok(stamp_to_s(msg.header.stamp), msg.header.frame_id):
            t = msg.twist
            self.twist = (np.array([t.linear.x, t.linear.y, t.linear.z]),
                          np.array([t.angular.x, t.angular.y, t.angular.z]), self._now())
            self._fresh_command = True
            self.stats["commands"] += 1

    def _on_gripper(self, msg: Float64) -> None:
        if np.isfinite(msg.data):
            self.gripper = float(np.clip(msg.data, -1.0, 1.0))

    # ---- control ----------------------------------------------------------------------------

    def _action(self) -> np.ndarray:
        state = self.proprio_map.to_robot(self.obs.proprio)
        if self.cfg.command_type == "pose" and self.target is not None:
            # The env adds each delta to its commanded pose (which the arm follows with lag): from the target
            # it was last moved to, that pose becomes the new target, as a pose-tracking controller's does.
            # The first target of an episode is reached from the measured pose (the arm is still there).
            ref = self.tracked if self.tracked is not None else (state.position, state.quaternion)
            self.tracked = self.target
            return pose_target_to_action(self.spec, *ref, *self.target, self.gripper)
        if self.twist is not None and self._now() - self.twist[2] <= self.cfg.twist_timeout_s:
            return twist_to_action(self.spec, self.twist[0], self.twist[1], self.spec.control_period_s, self.gripper)
        return hold_action(self.spec, self.gripper)

    def _commands_motion(self) -> bool:
        """Whether this step carries out a new command: a pose target other than the one tracked (the executor
        re-sends its last target while it holds), a fresh non-zero twist, or a changed gripper command."""
        if self.cfg.command_type == "pose":
            moved = self.target is not None and (self.tracked is None or not all(
                np.array_equal(a, b) for a, b in zip(self.target, self.tracked)))
        else:
            moved = (self._fresh_command and self.twist is not None
                     and bool(np.any(self.twist[0]) or np.any(self.twist[1])))
        gripper_changed = self.gripper != self._last_gripper
        self._last_gripper = self.gripper
        return moved or gripper_changed

    def _control(self) -> None:
        if self.episode is None:
            more = not self.cfg.num_episodes or self.stats["episodes_started"] < self.cfg.num_episodes
            # An episode without a running policy would only record a timeout: wait for its heartbeat.
            wall = time.monotonic()
            heard = not self.cfg.wait_for_heartbeat or wall - self._heartbeat_wall < 1.0
            ready = wall >= self._start_after_wall and self._now() >= self.next_start  # next_start: sim time
            if self.cfg.auto_start and more and heard and ready:
                self._start_next()
            return
        if self.holding:
            return
        acted = self._commands_motion()
        self._fresh_command = False
        # Driver-sized frames are rendered by the cameras; the env's spec-sized ones would go unused.
        result = self.env.step(self._action(), render=not self.cameras.driver)
        self.obs = result.obs
        self.cameras.changed()
        self.ticks += 1
        self.stats["env_steps"] += 1
        # The episode limit counts steps that carried out a new command, as simulation counts actions: a tick
        # on which the arm only held still while the policy was thinking (a chunk's inference time, which
        # simulation does not have) does not use up the episode. Twice the limit in ticks ends it regardless.
        if acted:
            self.steps += 1
        else:
            self.stats["hold_steps"] += 1
        finished = result.success or self.steps >= self.max_steps or self.ticks >= 2 * self.max_steps
        if finished:
            self._publish_verdict(result.success)
        if not self.cfg.report_success:
            if finished:  # the operator judges; the sim's verdict is only counted (and published)
                self.holding = True
                self.stats["sim_success" if result.success else "sim_failure"] += 1
        elif result.success:
            self._end("success")
        elif finished:
            self._end("failure", timeout=True)

    # ---- publishing -------------------------------------------------------------------------

    def _publish_verdict(self, success: bool) -> None:
        """The sim's ground truth for the episode that just ended (also when an operator labels it)."""
        verdict = SimVerdict(episode_id=self.episode.episode_id, verdict="success" if success else "failure",
                             context_id=self.episode.context_id, group_id=self.episode.group_id, steps=self.steps,
                             timeout=not success, stamp=max(0.0, self._now()), reported=self.cfg.report_success)
        self.verdict_pub.publish(String(data=verdict.to_json()))
        self.stats["verdicts"] += 1

    def _publish_images(self) -> None:
        stamp = self._stamp()
        frames = self.cameras.frames(self.obs)
        for cam, (image_pub, info_pub, cal) in self.image_pubs.items():
            frame = f"{cam}_optical_frame"
            image_pub.publish(image_to_msg(frames[cam], "rgb8", stamp, frame))
            info_pub.publish(camera_info_msg(cal, stamp, frame))

    def _publish_state(self) -> None:
        stamp = self._stamp()
        state = self.proprio_map.to_robot(self.obs.proprio)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self.cfg.command_frame
        p, q = pose.pose.position, pose.pose.orientation
        p.x, p.y, p.z = (float(v) for v in state.position)
        q.x, q.y, q.z, q.w = (float(v) for v in state.quaternion)
        self.pose_pub.publish(pose)
        joints = JointState()
        joints.header.stamp = stamp
        joints.name = list(state.joints)
        joints.position = [float(v) for v in state.joints.values()]
        self.joint_pub.publish(joints)

    def _publish_diagnostics(self) -> None:
        values = dict(self.stats)
        values.update(episode=self.episode.episode_id if self.episode else "", steps=self.steps,
                      reality=self.cfg.reality, reality_seed=self.cfg.reality_seed,
                      reality_shifts=",".join(self.reality.get("shifts", {})),
                      frame_size=f"{self.cfg.camera_width}x{self.cfg.camera_height}" if self.cameras.driver else "spec",
                      render_ms_mean=f"{self.cameras.render_ms_mean:.2f}")
        if self.pacer is not None:
            wall = time.monotonic()
            values.update(sim_time=f"{self.pacer.sim_time:.3f}", clock_speed=self.cfg.clock_speed,
                          clock_speed_reached=f"{self.pacer.speed_reached(wall):.3f}", clock_capped=self.pacer.capped)
        self.diag_pub.publish(diagnostic_array(self._stamp(), f"{self.get_name()}: sim robot",
                                               self.cfg.suite, OK,
                                               "running" if self.episode else "between episodes", values))

    def shutdown(self) -> None:
        self.env.close()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_robot_node``: ``sim_robot_node --ros-args --params-file launch/config/sim_robot.yaml``."""
    return run_node("sim_robot_node", SimRobotNode, args)


if __name__ == "__main__":
    sys.exit(main())
