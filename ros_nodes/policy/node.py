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
says why (``/diagnostics`` ``not_acting.<reason>``, rate-limited log). The logic lives in
robot_rl.robot (observation, trigger, episodes, proprio, runner); this file is wiring.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float32MultiArray, Header, Int64, String
from std_srvs.srv import Trigger

from ros_nodes.run import run_node
from ros_nodes.side_service import SideService
from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.robot.episodes import EpisodeBook, EventRejected
from robot_rl.robot.observation import ObservationInputs, check_image
from robot_rl.robot.proprio import ProprioMap, default_proprio_sources
from robot_rl.robot.runner import load_policy_runner
from robot_rl.robot.trigger import DecisionTrigger
from robot_rl.wire import topics
from robot_rl.wire.episode_event import parse_episode_event
from robot_rl.ros_config.policy import PolicyNodeConfig
from robot_rl.safety.refusals import RefusalLog
from robot_rl.spec import load_spec
from ros_nodes import qos
from ros_nodes.messages import ERROR, OK, WARN, chunk_to_msgs, diagnostic_array, msg_to_rgb, pose_to_arrays, s_to_stamp, stamp_to_s
from ros_nodes.params import NodeParams

_STATIC = ["spec", "device", "threads", "proprio_sources", "joint_states_topic", "ee_pose_topic", "image_qos",
           "image_topics", "resize_images", "buffer_path", "diagnostics_period_s", "act_on"]


class PolicyNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("policy_node")
        self.params = NodeParams(self, PolicyNodeConfig, on_change=self._reconfigure, static=_STATIC)
        cfg: PolicyNodeConfig = self.params.config
        self.cfg = cfg
        try:
            self.spec = load_spec(cfg.spec)
        except KeyError as err:
            raise ConfigError(f"policy_node: spec: {err.args[0]}") from None
        self.proprio_map = ProprioMap(self.spec, cfg.proprio_sources or default_proprio_sources(self.spec))
        self.inputs = ObservationInputs(self.spec, self.proprio_map, cfg.max_input_age_s,
                                        camera_latency_s=cfg.camera_latency(self.spec))
        # Frames wait at most half a control period: a decision still lands before the next tick.
        self.trigger = DecisionTrigger(self.spec.camera_names, cfg.act_on, wait_s=0.5 * self.spec.control_period_s)
        self.runner = load_policy_runner(cfg.checkpoint, self.spec, cfg.device, cfg.threads) if cfg.checkpoint else None
        self._pending_runner = None
        self._lock = threading.Lock()  # guards the runner swap between the reload thread and the tick
        self.buffer = self._open_buffer(cfg.buffer_path) if cfg.buffer_path else None
        self.book = EpisodeBook(self.buffer)
        # A step may still be being recorded when shutdown() runs: buffer writes and the final close
        # never interleave.
        self._book_lock = threading.Lock()
        self._closed = False
        self.log = RefusalLog(cfg.log_interval_s)
        self.stats: Counter[str] = Counter()
        # Where the milliseconds go, per published chunk [s] (diagnostics report p50/p99):
        self.latencies: deque[float] = deque(maxlen=600)  # capture (oldest input) -> chunk published
        self.frame_ages: deque[float] = deque(maxlen=600)  # oldest camera frame's age when the decision starts
        self.frame_to_chunk: deque[float] = deque(maxlen=600)  # oldest camera frame -> chunk published
        self.waits: deque[float] = deque(maxlen=600)  # decision due -> decision taken
        self.inference: deque[float] = deque(maxlen=600)  # runner.sample
        self.delivery: deque[float] = deque(maxlen=600)  # image stamp -> image callback (DDS + queueing)
        self._since_act = 0
        self._last_problem = ""

        # Every input, tick and decision runs on the node's single-threaded executor (see run_node): they
        # never run concurrently, and no second executor thread competes with them for the CPU.
        image_qos = qos.by_name(cfg.image_qos)
        try:
            image_topics = topics.resolve_image_topics(self.spec.camera_names, cfg.image_topics)
        except ValueError as err:
            raise ConfigError(f"policy_node: {err}") from None
        for cam, topic in image_topics.items():
            self.create_subscription(Image, topic, lambda m, c=cam: self._on_image(c, m), image_qos)
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joints, qos.SENSOR)
        self.create_subscription(PoseStamped, cfg.ee_pose_topic, self._on_pose, qos.SENSOR)
        self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, qos.LATCHED)
        self.create_subscription(String, topics.EPISODE_EVENT, self._on_event, qos.RELIABLE)
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
        self._half_tick = 0
        self.create_timer(0.5 * self.spec.control_period_s, self._on_timer)
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        self._publish_version()
        self.get_logger().info(
            f"policy for '{self.spec.name}' at {self.spec.control_rate_hz} Hz: "
            f"{self._describe_runner(self.runner) if self.runner else 'NO POLICY (set checkpoint, call reload)'}; "
            f"proprio {self.proprio_map.sources}; acting on {cfg.act_on}; camera latency "
            f"{1e3 * self.inputs.camera_latency_s:.0f} ms; recording to {cfg.buffer_path or 'nowhere'}")

    # ---- helpers ----------------------------------------------------------------------------

    def _open_buffer(self, path: str) -> RolloutBuffer:
        if Path(path).is_dir() and any(Path(path).iterdir()):
            return RolloutBuffer.open(path, mode="a", spec=self.spec)
        return RolloutBuffer.create(path, self.spec)

    @staticmethod
    def _describe_runner(runner) -> str:
        return f"version {runner.version} on {runner.provider}"

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _reject(self, key: str, detail: str) -> None:
        self.stats["rejected_messages"] += 1
        suffix = self.log.record(f"rejected.{key}", self._now())
        if suffix is not None:
            self.get_logger().warning(f"rejected ({key}): {detail}{suffix}")

    def _reconfigure(self, cfg: PolicyNodeConfig) -> None:
        self.cfg = cfg
        self.inputs.max_age_s = cfg.max_input_age_s
        self.inputs.camera_latency_s = cfg.camera_latency(self.spec)
        self.log.interval_s = cfg.log_interval_s

    def _publish_version(self) -> None:
        self.version_pub.publish(Int64(data=int(self.runner.version) if self.runner else -1))

    # ---- inputs -----------------------------------------------------------------------------

    def _on_image(self, camera: str, msg: Image) -> None:
        try:
            image = check_image(self.spec, camera, msg_to_rgb(msg), self.cfg.resize_images)
        except ValueError as err:
            self._reject("bad_image", str(err))
            return
        stamp = stamp_to_s(msg.header.stamp)
        if stamp <= 0:
            self._reject("unstamped_image", f"camera '{camera}': image has no capture stamp")
            return
        now = self._now()
        self.delivery.append(now - stamp)
        self.inputs.set_image(camera, image, stamp)
        if self.trigger.frame(camera, now):
            self._decide(now, final=False)  # inputs may still be incomplete: the deadline reports why

    def _on_joints(self, msg: JointState) -> None:
        positions = np.asarray(msg.position, dtype=np.float64)
        if len(msg.name) != len(positions) or not np.isfinite(positions).all():
            self._reject("bad_joint_state", f"{len(msg.name)} names, {len(positions)} positions, "
                                            f"{int(np.sum(~np.isfinite(positions)))} non-finite")
            return
        stamp = stamp_to_s(msg.header.stamp)
        self.inputs.set_joints(list(msg.name), positions.tolist(), stamp if stamp > 0 else self._now())

    def _on_pose(self, msg: PoseStamped) -> None:
        pos, quat = pose_to_arrays(msg)
        if not (np.isfinite(pos).all() and np.isfinite(quat).all()) or np.linalg.norm(quat) < 1e-6:
            self._reject("bad_pose", "end-effector pose has NaN/inf or a zero quaternion")
            return
        stamp = stamp_to_s(msg.header.stamp)
        self.inputs.set_ee_pose(pos, quat, stamp if stamp > 0 else self._now())

    def _on_instruction(self, msg: String) -> None:
        self.inputs.instruction = msg.data.strip()

    def _on_event(self, msg: String) -> None:
        try:
            event = parse_episode_event(msg.data)
        except ConfigError as err:
            self._reject("bad_event", str(err))
            return
        if event.event == "start" and self.book.has_started(event.episode_id):
            # A panel repeating a start it has no answer to: answer again (the first answer may be the
            # one lost); an episode that already closed is not reopened.
            self.stats["starts_repeated"] += 1
            if self.book.active is not None and self.book.active.start.episode_id == event.episode_id:
                self.ack_pub.publish(String(data=self.book.ack(event, "", self._now()).to_json()))
            return
        active = self.book.active
        if event.event == "start" and not (active is not None and active.start.episode_id == event.episode_id):
            # A policy loaded during the last episode takes over now, before the version is fixed: the
            # episode is recorded with the version that samples it (a duplicate start changes nothing).
            self._swap_pending()
        version = int(self.runner.version) if self.runner else -1
        refusal = ""
        closed = None
        try:
            with self._book_lock:
                if self._closed:
                    return
                # Only the event's instruction: the latched topic may still hold the previous context's.
                closed = self.book.on_event(event, "", version, self.cfg.temperature)
        except EventRejected as err:
            refusal = str(err)
            self._reject("event_rejected", refusal)
        except RobotRLError as err:  # the buffer refused (e.g. disk); the node goes on
            refusal = f"start of '{event.episode_id}' refused: the buffer failed: {err}"
            self._reject("buffer_error", str(err))
        if event.event == "start":
            ack = self.book.ack(event, refusal, self._now())
            self.ack_pub.publish(String(data=ack.to_json()))
            self.stats[f"starts_{ack.status}"] += 1
        if refusal:
            return
        if closed is not None:
            self.stats[f"episodes_{closed.status}"] += 1
            self.get_logger().info(f"episode '{closed.episode_id}' closed: {closed.status}, reward {closed.reward}, "
                                   f"{closed.steps} steps{f', buffer episode {closed.index}' if closed.index >= 0 else ''}")
        if event.event == "start":
            self.inputs.not_before = event.stamp
            self._since_act = 0
            self.get_logger().info(f"episode '{event.episode_id}' started: {event.context_id}, group '{event.group_id}'")

    # ---- hot swap ---------------------------------------------------------------------------

    def _on_reload(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.params.config.checkpoint
        try:
            runner = load_policy_runner(path, self.spec, self.cfg.device, self.cfg.threads)
        except (RobotRLError, OSError, KeyError, ValueError) as err:
            response.success, response.message = False, f"kept the current policy: cannot load {path!r}: {err}"
            self.get_logger().error(response.message)
            return response
        with self._lock:
            self._pending_runner = runner
        deferred = self.book.active is not None
        if not deferred:
            self._swap_pending()
        response.success = True
        response.message = (f"loaded {path}: {self._describe_runner(runner)}"
                            + ("; takes over when the running episode ends" if deferred else ""))
        self.get_logger().info(response.message)
        return response

    def _swap_pending(self) -> None:
        with self._lock:
            runner, self._pending_runner = self._pending_runner, None
        if runner is not None:
            self.runner = runner
            self.stats["reloads"] += 1
            self._publish_version()

    # ---- control tick -----------------------------------------------------------------------

    def _not_acting(self, key: str, detail: str) -> None:
        self._last_problem = detail
        suffix = self.log.record(f"not_acting.{key}", self._now())
        if suffix is not None:
            self.get_logger().warning(f"not acting ({key}): {detail}{suffix}")

    def _on_timer(self) -> None:
        now = self._now()
        self._half_tick ^= 1
        if self._half_tick:
            self._tick(now)
        elif self.trigger.deadline(now):
            self._decide(now, final=True)  # the frames did not come: decide with what there is

    def _tick(self, now: float) -> None:
        self.heartbeat_pub.publish(Header(stamp=self.get_clock().now().to_msg(), frame_id=self.get_name()))
        if self.trigger.pending:  # the previous decision never happened (it had no deadline yet)
            self._decide(now, final=True)
        if self.book.active is None:
            self._swap_pending()
        self._since_act += 1
        replan = self.cfg.replan_every or self.spec.chunk_length
        if replan >= self.spec.chunk_length:
            # Whole chunks: the executor starts a chunk at its arrival, up to one period after this node
            # published it, and the next observation must come after the chunk's last action ran.
            replan += 1
        if self.book.active is not None and self.book.active.steps > 0 and self._since_act < replan:
            return  # the executor is still running the last chunk
        self.stats["decisions_due"] += 1
        if self.trigger.due(now):
            self._decide(now, final=True)

    def _decide(self, now: float, final: bool) -> None:
        """Act on the due decision if every input is fresh; if not, report why (``final``) or keep waiting."""
        if self.runner is None:
            problem = ("no_policy", "no policy loaded (set checkpoint, call /robot_rl/reload_policy)")
        elif self.book.active is None and not self.cfg.act_outside_episodes:
            problem = ("no_episode", "no episode running (waiting for a start event)")
        else:
            problems = self.inputs.problems(now, self.book.active.instruction if self.book.active else None)
            if not problems:
                self.waits.append(now - self.trigger.due_since)
                self.trigger.done()
                self._act(now)
                return
            if final:
                for p in problems[1:]:
                    self.log.record(f"not_acting.{p.key}", now)  # counted; the log names the first
            problem = (problems[0].key, "; ".join(p.detail for p in problems))
        if final:
            self.trigger.done()
            self.stats["decisions_missed"] += 1  # a due decision without a chunk: a dropped control tick
            self._not_acting(*problem)

    def _act(self, now: float) -> None:
        instruction = self.book.active.instruction if self.book.active else None
        batch, t_capture = self.inputs.assemble(instruction)
        t_frame = min(stamp for _, stamp in self.inputs.images.values())
        self.frame_ages.append(now - t_frame)
        t0 = time.perf_counter()
        # An episode samples at the temperature it started with (recorded with it); a changed parameter takes over next.
        temperature = self.book.active.temperature if self.book.active else self.cfg.temperature
        sample = self.runner.sample(batch, temperature)
        self.inference.append(time.perf_counter() - t0)
        chunk = sample.action[0].detach().cpu().numpy().astype(np.float32)  # (H, A)
        log_prob = sample.log_prob[0].detach().cpu().numpy().astype(np.float32)  # (H, A)
        if not (np.isfinite(chunk).all() and np.isfinite(log_prob).all()):
            self.stats["nonfinite_chunks"] += 1
            self.stats["decisions_missed"] += 1
            return self._not_acting("nonfinite_action", f"policy output has {int(np.sum(~np.isfinite(chunk)))} "
                                                        "NaN/inf actions: not published, not recorded")
        chunk_msg, stamp_msg = chunk_to_msgs(chunk, s_to_stamp(t_capture))
        self.stamp_pub.publish(stamp_msg)
        self.chunk_pub.publish(chunk_msg)
        t_decision = self._now()
        self.latencies.append(t_decision - t_capture)
        self.frame_to_chunk.append(t_decision - t_frame)
        self.stats["chunks_published"] += 1
        self._since_act = 0
        self._last_problem = ""
        replan = self.cfg.replan_every or self.spec.chunk_length
        if self.book.active is not None:
            tokens = None if sample.tokens is None else sample.tokens[0].cpu().numpy().astype(np.int32)
            raw = None if sample.raw_action is None else sample.raw_action[0].cpu().numpy().astype(np.float32)
            try:
                with self._book_lock:
                    if self._closed:
                        return
                    self.book.add_step(images={c: batch["images"][c][0] for c in self.spec.camera_names},
                                       proprio=batch["proprio"][0], action=chunk, log_prob=log_prob, tokens=tokens,
                                       raw_action=raw, t_capture=t_capture, t_decision=t_decision,
                                       executed=min(replan, self.spec.chunk_length))
                self.stats["steps_recorded"] += 1
            except RobotRLError as err:
                self._reject("buffer_error", str(err))

    # ---- diagnostics ------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        counts = self.log.counts
        if self.runner is None:
            level, message = ERROR, "no policy loaded"
        elif self._last_problem:
            level, message = WARN, f"not acting: {self._last_problem}"
        else:
            level, message = OK, "acting" if self.book.active else "idle"
        values: dict[str, object] = {
            "policy_version": self.runner.version if self.runner else -1,
            "provider": self.runner.provider if self.runner else "",
            "episode": self.book.active.start.episode_id if self.book.active else "",
            "chunks_published": self.stats["chunks_published"], "steps_recorded": self.stats["steps_recorded"],
            "rejected_messages": self.stats["rejected_messages"], "reloads": self.stats["reloads"],
            "decisions_due": self.stats["decisions_due"], "decisions_missed": self.stats["decisions_missed"],
            "act_on": self.cfg.act_on,
            "camera_latency_s": f"{self.inputs.camera_latency_s:.4f}",
        }
        for name, samples in (("latency", self.latencies), ("frame_to_chunk", self.frame_to_chunk),
                              ("frame_age", self.frame_ages), ("wait", self.waits), ("inference", self.inference),
                              ("image_delivery", self.delivery)):
            ms = np.asarray(samples) * 1e3
            for q in (50, 99):
                values[f"{name}_p{q}_ms"] = f"{np.percentile(ms, q):.2f}" if len(ms) else ""
        values.update({k: v for k, v in self.stats.items() if k.startswith(("episodes_", "starts_"))})
        values.update(dict(counts))
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: policy",
                                               self.cfg.checkpoint, level, message, values))

    def shutdown(self) -> None:
        """Close a running episode (as aborted) and release the buffer (after any step being recorded)."""
        self.reload_service.close()
        with self._book_lock:
            self._closed = True
            try:
                self.book.shutdown()
            finally:
                if self.buffer is not None:
                    self.buffer.close()


def main(args: list[str] | None = None) -> int:
    """Console script ``policy_node``: ``policy_node --ros-args --params-file launch/config/policy.yaml``."""
    return run_node("policy_node", PolicyNode, args)


if __name__ == "__main__":
    sys.exit(main())
