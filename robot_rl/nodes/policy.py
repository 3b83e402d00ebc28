"""The policy node's decisions: fresh inputs and time in, action chunks, episode acks and log lines out.

::

    timer (twice a period) --tick--> decision due every ``replan_every`` ticks (robot_rl.robot.trigger)
                           --deadline: frames did not come--> decide with what there is
    frame from every camera after the tick --> decide
    decide --no policy / no episode / stale or missing input--> not acting (counted, reason logged)
           --every input fresh--> sample a chunk --finite--> publish it, record the step (active episode)
    start event --> a policy loaded meanwhile takes over, the episode is opened, the start acknowledged
    end event   --> the episode is committed (or aborted) in the buffer

Every input goes through :class:`PolicyCore` with the caller's ``now`` [s] (ROS time); the core holds
the inputs (:class:`~robot_rl.robot.observation.ObservationInputs`), the trigger, the episode book
(:class:`~robot_rl.robot.episodes.EpisodeBook`) and the runner, and returns :class:`PolicyOutputs`
(log lines, an ack to publish, a policy version to announce). A chunk is published through the
``publish_chunk`` callable the node gives it, at the moment it is decided: the step is recorded with
the time the chunk went out, and the rest of the tick depends on it being recorded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from robot_rl.buffer import RolloutBuffer
from robot_rl.deploy import Runner
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.nodes.outputs import Note, Status
from robot_rl.robot.episodes import EpisodeBook, EventRejected
from robot_rl.robot.observation import ObservationInputs, check_image
from robot_rl.robot.proprio import ProprioMap, default_proprio_sources
from robot_rl.robot.trigger import DecisionTrigger
from robot_rl.ros_config.policy import PolicyNodeConfig
from robot_rl.safety.refusals import RefusalLog
from robot_rl.spec import EmbodimentSpec
from robot_rl.wire.episode_event import EpisodeAck, parse_episode_event

PublishChunk = Callable[[np.ndarray, float], float]
"""Publishes a chunk (H, A) stamped with its observation's capture time [s]; returns the time it went out [s]."""


@dataclass
class PolicyOutputs:
    """What one call asks the node to do besides the chunks it already published."""

    notes: list[Note] = field(default_factory=list)
    ack: EpisodeAck | None = None  # publish on /robot_rl/episode_ack
    version: int | None = None     # a new policy took over: announce its version


def open_buffer(path: str, spec: EmbodimentSpec) -> RolloutBuffer:
    """The rollout buffer at ``path``: opened for appending if it holds one, else created for ``spec``."""
    if Path(path).is_dir() and any(Path(path).iterdir()):
        return RolloutBuffer.open(path, mode="a", spec=spec)
    return RolloutBuffer.create(path, spec)


def describe_runner(runner: Runner) -> str:
    """``version 3 on CPUExecutionProvider``."""
    return f"version {runner.version} on {runner.provider}"


class PolicyCore:
    """The policy node's state and decisions; see the module docstring."""

    def __init__(self, cfg: PolicyNodeConfig, spec: EmbodimentSpec, runner: Runner | None,
                 buffer: RolloutBuffer | None, publish_chunk: PublishChunk) -> None:
        self.cfg = cfg
        self.spec = spec
        self.proprio_map = ProprioMap(spec, cfg.proprio_sources or default_proprio_sources(spec))
        self.inputs = ObservationInputs(spec, self.proprio_map, cfg.max_input_age_s,
                                        camera_latency_s=cfg.camera_latency(spec))
        # Frames wait at most half a control period: a decision still lands before the next tick.
        self.trigger = DecisionTrigger(spec.camera_names, cfg.act_on, wait_s=0.5 * spec.control_period_s)
        self.runner = runner
        self._publish_chunk = publish_chunk
        self._pending_runner: Runner | None = None
        self._lock = threading.Lock()  # guards the runner swap between the reload thread and the tick
        self.buffer = buffer
        self.book = EpisodeBook(buffer)
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
        self._next_tick: float | None = None
        self._out = PolicyOutputs()

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """The version of the policy acting now; -1 when none is loaded."""
        return int(self.runner.version) if self.runner else -1

    def _take(self) -> PolicyOutputs:
        out, self._out = self._out, PolicyOutputs()
        return out

    def reject(self, key: str, detail: str, now: float) -> PolicyOutputs:
        """Count a rejected message under ``rejected.<key>``; the log line is rate-limited."""
        self._reject(key, detail, now)
        return self._take()

    def _reject(self, key: str, detail: str, now: float) -> None:
        self.stats["rejected_messages"] += 1
        suffix = self.log.record(f"rejected.{key}", now)
        if suffix is not None:
            self._out.notes.append(Note("warning", f"rejected ({key}): {detail}{suffix}"))

    def reconfigure(self, cfg: PolicyNodeConfig) -> None:
        """New runtime parameters (ages, latency, temperature, replanning, log interval)."""
        self.cfg = cfg
        self.inputs.max_age_s = cfg.max_input_age_s
        self.inputs.camera_latency_s = cfg.camera_latency(self.spec)
        self.log.interval_s = cfg.log_interval_s

    # ---- inputs -----------------------------------------------------------------------------

    def on_image(self, camera: str, rgb: np.ndarray, stamp: float, now: float) -> PolicyOutputs:
        """A frame (H, W, 3) uint8 RGB from ``camera`` captured at ``stamp`` [s]; may trigger the due decision."""
        try:
            image = check_image(self.spec, camera, rgb, self.cfg.resize_images)
        except ValueError as err:
            self._reject("bad_image", str(err), now)
            return self._take()
        if stamp <= 0:
            self._reject("unstamped_image", f"camera '{camera}': image has no capture stamp", now)
            return self._take()
        self.delivery.append(now - stamp)
        self.inputs.set_image(camera, image, stamp)
        if self.trigger.frame(camera, now):
            self._decide(now, final=False)  # inputs may still be incomplete: the deadline reports why
        return self._take()

    def on_joints(self, names: list[str], positions: np.ndarray, stamp: float, now: float) -> PolicyOutputs:
        """Joint positions; ``stamp`` 0 means unstamped (taken as ``now``)."""
        positions = np.asarray(positions, dtype=np.float64)
        if len(names) != len(positions) or not np.isfinite(positions).all():
            self._reject("bad_joint_state", f"{len(names)} names, {len(positions)} positions, "
                                            f"{int(np.sum(~np.isfinite(positions)))} non-finite", now)
            return self._take()
        self.inputs.set_joints(list(names), positions.tolist(), stamp if stamp > 0 else now)
        return self._take()

    def on_pose(self, pos: np.ndarray, quat: np.ndarray, stamp: float, now: float) -> PolicyOutputs:
        """The end-effector pose (position, quaternion xyzw); ``stamp`` 0 means unstamped (taken as ``now``)."""
        if not (np.isfinite(pos).all() and np.isfinite(quat).all()) or np.linalg.norm(quat) < 1e-6:
            self._reject("bad_pose", "end-effector pose has NaN/inf or a zero quaternion", now)
            return self._take()
        self.inputs.set_ee_pose(pos, quat, stamp if stamp > 0 else now)
        return self._take()

    def on_instruction(self, text: str) -> None:
        """The latched instruction (used only with ``act_outside_episodes``)."""
        self.inputs.instruction = text.strip()

    def on_event(self, text: str, now: float) -> PolicyOutputs:
        """An episode event (JSON): opens or closes an episode in the book; a start is always acknowledged."""
        try:
            event = parse_episode_event(text)
        except ConfigError as err:
            self._reject("bad_event", str(err), now)
            return self._take()
        if event.event == "start" and self.book.has_started(event.episode_id):
            # A panel repeating a start it has no answer to: answer again (the first answer may be the
            # one lost); an episode that already closed is not reopened.
            self.stats["starts_repeated"] += 1
            if self.book.active is not None and self.book.active.start.episode_id == event.episode_id:
                self._out.ack = self.book.ack(event, "", now)
            return self._take()
        active = self.book.active
        if event.event == "start" and not (active is not None and active.start.episode_id == event.episode_id):
            # A policy loaded during the last episode takes over now, before the version is fixed: the
            # episode is recorded with the version that samples it (a duplicate start changes nothing).
            self._swap_pending()
        refusal = ""
        closed = None
        try:
            with self._book_lock:
                if self._closed:
                    return self._take()
                # Only the event's instruction: the latched topic may still hold the previous context's.
                closed = self.book.on_event(event, "", self.version, self.cfg.temperature)
        except EventRejected as err:
            refusal = str(err)
            self._reject("event_rejected", refusal, now)
        except RobotRLError as err:  # the buffer refused (e.g. disk); the node goes on
            refusal = f"start of '{event.episode_id}' refused: the buffer failed: {err}"
            self._reject("buffer_error", str(err), now)
        if event.event == "start":
            ack = self.book.ack(event, refusal, now)
            self._out.ack = ack
            self.stats[f"starts_{ack.status}"] += 1
        if refusal:
            return self._take()
        if closed is not None:
            self.stats[f"episodes_{closed.status}"] += 1
            self._out.notes.append(Note("info", f"episode '{closed.episode_id}' closed: {closed.status}, reward "
                                                f"{closed.reward}, {closed.steps} steps"
                                                f"{f', buffer episode {closed.index}' if closed.index >= 0 else ''}"))
        if event.event == "start":
            self.inputs.not_before = event.stamp
            self._since_act = 0
            self._out.notes.append(Note("info", f"episode '{event.episode_id}' started: {event.context_id}, "
                                                f"group '{event.group_id}'"))
        return self._take()

    # ---- hot swap ---------------------------------------------------------------------------

    def offer_runner(self, runner: Runner) -> tuple[bool, PolicyOutputs]:
        """A newly loaded policy: it takes over now, or when the running episode ends (returns ``deferred``)."""
        with self._lock:
            self._pending_runner = runner
        deferred = self.book.active is not None
        if not deferred:
            self._swap_pending()
        return deferred, self._take()

    def _swap_pending(self) -> None:
        with self._lock:
            runner, self._pending_runner = self._pending_runner, None
        if runner is not None:
            self.runner = runner
            self.stats["reloads"] += 1
            self._out.version = self.version

    # ---- control tick -----------------------------------------------------------------------

    def timer(self, now: float) -> bool:
        """The node's timer fires about twice a control period: True when a control tick is due (publish the
        heartbeat, then call :meth:`tick`), False otherwise (the frame deadline: call :meth:`deadline`).

        Ticks come from time, not from alternating calls: on sim time a stand-in advances /clock by whole
        periods, and a half-period ROS timer then fires once per period, not twice (missed periods are
        skipped). Alternating made every other period a deadline there: the node decided at half the
        control rate and the arm held still for ~8 of every 16 ticks.
        """
        period = self.spec.control_period_s
        if self._next_tick is not None and now < self._next_tick - 0.25 * period:
            return False
        # On the period grid; a tick a whole period late re-anchors rather than catching up in a burst.
        self._next_tick = now + period if self._next_tick is None or now >= self._next_tick + period \
            else self._next_tick + period
        return True

    def deadline(self, now: float) -> PolicyOutputs:
        """Half a period after a tick: if the frames did not come, decide with what there is."""
        if self.trigger.deadline(now):
            self._decide(now, final=True)
        return self._take()

    def _not_acting(self, key: str, detail: str, now: float) -> None:
        self._last_problem = detail
        suffix = self.log.record(f"not_acting.{key}", now)
        if suffix is not None:
            self._out.notes.append(Note("warning", f"not acting ({key}): {detail}{suffix}"))

    def tick(self, now: float) -> PolicyOutputs:
        """A control tick: every ``replan_every`` ticks a decision becomes due (taken now with ``act_on: tick``)."""
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
            return self._take()  # the executor is still running the last chunk
        self.stats["decisions_due"] += 1
        if self.trigger.due(now):
            self._decide(now, final=True)
        return self._take()

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
            self._not_acting(*problem, now)

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
                                                        "NaN/inf actions: not published, not recorded", now)
        t_decision = self._publish_chunk(chunk, t_capture)
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
                self._reject("buffer_error", str(err), t_decision)

    # ---- diagnostics ------------------------------------------------------------------------

    def diagnostics(self) -> Status:
        """The policy node's ``/diagnostics`` status: acting or why not, counts, latency percentiles."""
        counts = self.log.counts
        if self.runner is None:
            level, message = "error", "no policy loaded"
        elif self._last_problem:
            level, message = "warn", f"not acting: {self._last_problem}"
        else:
            level, message = "ok", "acting" if self.book.active else "idle"
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
        return Status(level, message, values)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        """Close a running episode (as aborted) and release the buffer (after any step being recorded)."""
        with self._book_lock:
            self._closed = True
            try:
                self.book.shutdown()
            finally:
                if self.buffer is not None:
                    self.buffer.close()
