"""The policy node's episode bookkeeping: episode events in, rollout-buffer episodes out.

State machine (one episode at a time)::

    idle --start--> recording --success/failure/abort/estop (same episode_id)--> idle
    recording --start (new episode_id)--> the old one closes as 'aborted', the new one starts

How an episode closes (docs/ros.md):

=========  ======  ===========================  =========================================
event      reward  status                       buffer
=========  ======  ===========================  =========================================
success    1       ok                           committed
failure    0       ok, or timeout (timeout=true) committed
abort      0       aborted                      committed if it has steps, else discarded
estop      0       estop                        committed if it has steps, else discarded
=========  ======  ===========================  =========================================

The end event's ``stamp`` (when the label was given: the operator's judgement on the panel, the
simulator's success check or time limit) becomes the episode's ``t_label`` in the buffer; the
panel publishes a label only after its undo window, so steps with ``t_decision > t_label`` were
decided after the judgement. An episode closed by a new start or by shutdown, or by an event
without a stamp (``stamp`` 0 = unknown), has no label time: ``t_label`` is NaN.

Aborted and e-stopped episodes are committed rather than thrown away because robot time is
expensive and they are what one inspects after an incident; their status keeps them out of
training (``complete_groups`` uses only ``ok`` / ``timeout``, robot_rl.buffer.USABLE_STATUSES).
The policy version and the sampling temperature are fixed at the start: a hot-swapped policy or a
changed ``temperature`` parameter only takes over between episodes, so one episode never mixes two
sampling distributions (PPO ratios need the one that sampled); both are recorded with the episode.

A start is refused (:class:`EventRejected`, nothing recorded) without a policy (``policy_version``
-1) or without an instruction. Every start is answered with an
:class:`~robot_rl.wire.episode_event.EpisodeAck` (:meth:`EpisodeBook.ack`): ``recording``,
``acting`` (no buffer: nothing is recorded) or ``refused`` with the reason, so the operator panel
never offers a label for an episode that is not in the buffer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from robot_rl.buffer import EpisodeWriter, RolloutBuffer
from robot_rl.wire.episode_event import EpisodeAck, EpisodeEvent

log = logging.getLogger(__name__)

_NO_LABEL = float("nan")  # t_label of an episode nobody labelled


class EventRejected(Exception):
    """An event that does not fit the current state (e.g. ends an episode that is not running)."""


@dataclass
class ActiveEpisode:
    start: EpisodeEvent
    instruction: str
    policy_version: int
    writer: EpisodeWriter | None
    temperature: float = float("nan")  # what every step of the episode is sampled at
    steps: int = 0
    env_steps: int = 0


@dataclass
class ClosedEpisode:
    """What happened to an episode when it closed: buffer index (-1 if not recorded), status, reward."""

    episode_id: str
    index: int
    status: str
    reward: int
    steps: int
    context_id: str = ""
    group_id: str = ""
    t_label: float = float("nan")


@dataclass
class EpisodeBook:
    """Tracks the active episode and writes it to ``buffer`` (None: track only, record nothing)."""

    buffer: RolloutBuffer | None
    active: ActiveEpisode | None = None
    closed: list[ClosedEpisode] = field(default_factory=list)

    def has_started(self, episode_id: str) -> bool:
        """Whether a start of ``episode_id`` was already taken (it runs, or it ran and closed): a panel
        repeats an unanswered start, and a repeat must neither restart nor reopen the episode."""
        if self.active is not None and self.active.start.episode_id == episode_id:
            return True
        return any(c.episode_id == episode_id for c in reversed(self.closed[-64:]))

    def on_event(self, event: EpisodeEvent, instruction: str, policy_version: int,
                 temperature: float | None = None) -> ClosedEpisode | None:
        """Apply one event; returns the episode it closed, if any. Raises :class:`EventRejected`.

        :param instruction: used when a start event carries none (the policy node passes ""; a start
            must carry its instruction).
        :param policy_version: the policy that will sample the episode; -1 = none loaded (start refused).
        :param temperature: on a start, the sampling temperature the new episode keeps to its end
            (:attr:`ActiveEpisode.temperature`); None = not known (recorded as NaN).
        """
        if event.event == "start":
            if self.active is not None and self.active.start.episode_id == event.episode_id:
                raise EventRejected(f"episode '{event.episode_id}' is already running (duplicate start)")
            closed = self._close(self.active, "aborted", 0, "operator", "", _NO_LABEL) if self.active else None
            instr = event.instruction or instruction
            if policy_version < 0:
                raise EventRejected(f"start of '{event.episode_id}' refused: no policy loaded (set parameter "
                                    "checkpoint and call /robot_rl/reload_policy)")
            if not instr:
                raise EventRejected(f"start of '{event.episode_id}' refused: the start event carries no instruction "
                                    "(the panel sends its context's: set instructions on success_label_node)")
            writer = self.buffer.begin_episode() if self.buffer is not None else None
            self.active = ActiveEpisode(event, instr, policy_version, writer,
                                        temperature=float("nan") if temperature is None else float(temperature))
            return closed
        if self.active is None or self.active.start.episode_id != event.episode_id:
            running = f"'{self.active.start.episode_id}' is running" if self.active else "no episode is running"
            raise EventRejected(f"{event.event} for episode '{event.episode_id}' ignored: {running}")
        active, self.active = self.active, None
        t_label = event.stamp if event.stamp > 0 else _NO_LABEL
        detector_p = _NO_LABEL if event.detector_p is None else event.detector_p
        if event.event == "success":
            return self._close(active, "ok", 1, event.label_source, event.operator, t_label, detector_p)
        if event.event == "failure":
            return self._close(active, "timeout" if event.timeout else "ok", 0, event.label_source, event.operator,
                               t_label, detector_p)
        return self._close(active, "aborted" if event.event == "abort" else "estop", 0, event.label_source,
                           event.operator, t_label)

    def ack(self, event: EpisodeEvent, refusal: str, stamp: float) -> EpisodeAck:
        """The answer to the start ``event`` once :meth:`on_event` took it (``refusal`` "") or raised (its text)."""
        active = self.active
        if active is None or active.start.episode_id != event.episode_id:
            return EpisodeAck(episode_id=event.episode_id, status="refused", stamp=stamp,
                              reason=refusal or f"start of '{event.episode_id}' was not taken")
        if active.writer is None:
            return EpisodeAck(episode_id=event.episode_id, status="acting", instruction=active.instruction,
                              policy_version=active.policy_version, stamp=stamp,
                              reason="policy_node records nowhere (parameter buffer_path is empty): a label "
                                     "would reach no buffer")
        return EpisodeAck(episode_id=event.episode_id, status="recording", instruction=active.instruction,
                          policy_version=active.policy_version, stamp=stamp)

    def add_step(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, action: np.ndarray,
                 log_prob: np.ndarray, tokens: np.ndarray | None, raw_action: np.ndarray | None,
                 t_capture: float, t_decision: float, executed: int) -> None:
        """Record one policy step of the active episode (shapes as in RolloutBuffer: chunk (H, A))."""
        if self.active is None:
            return
        if self.active.writer is not None:
            self.active.writer.add_step(images=images, proprio=proprio, action=action, log_prob=log_prob,
                                        tokens=tokens, raw_action=raw_action, t_capture=t_capture,
                                        t_decision=t_decision, executed=executed)
        self.active.steps += 1
        self.active.env_steps += executed

    def _close(self, active: ActiveEpisode, status: str, reward: int, label_source: str, operator: str,
               t_label: float, detector_p: float = _NO_LABEL) -> ClosedEpisode:
        start = active.start
        index = -1
        if active.writer is not None:
            if active.steps == 0:
                active.writer.abort()  # a committed episode needs at least one step
            else:
                ctx = start.context
                index = active.writer.commit(
                    task=start.task_name, reward=reward, label_source=label_source, context_id=start.context_id,
                    init_id=ctx.init_id if ctx else -1, instruction=active.instruction, group_id=start.group_id,
                    policy_version=active.policy_version, status=status, operator=operator,
                    env_steps=active.env_steps, t_label=t_label, temperature=active.temperature,
                    detector_p=detector_p)
        closed = ClosedEpisode(start.episode_id, index, status, reward, active.steps, start.context_id, start.group_id,
                               t_label)
        self.closed.append(closed)
        if self.active is active:
            self.active = None
        return closed

    def shutdown(self) -> ClosedEpisode | None:
        """Close a running episode as aborted (node shutting down)."""
        if self.active is None:
            return None
        return self._close(self.active, "aborted", 0, "operator", "", _NO_LABEL)
