"""The scripted operator's decisions: panel state + the stand-in's verdicts + time in, one action out.

It acts as a person at the panel would, and sees only what a person sees: the page's state
(``GET /api/state``, docs/panel.md) and the robot's outcome (here the stand-in's ground truth on
``/sim_robot/verdict`` stands in for the person's eyes). Per episode::

    idle --(page shows a group to collect, scene reset time over)--> Start
    running, not recording yet --(policy_node never confirmed / refused)--> Abort (the page allows only that)
    running, recording --verdict for this episode--> wait the reaction delay --> Success / Failure
                                                     (flipped with probability mislabel_rate)

It never reads a clock and never talks to anything: the node (ros_nodes/rehearsal/operator_node.py)
passes ``now`` in (sim seconds under ``use_sim_time``) and carries out the returned :class:`Action`.
Every random draw (reaction delay, mislabel) comes from one seeded generator, in episode order, so a
rehearsal with the same seed labels the same way.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from robot_rl.ros_config.rehearsal_operator import OperatorConfig

ActionKind = Literal["start", "success", "failure", "abort"]


@dataclass(frozen=True)
class Action:
    """A button to press; ``episode_id`` guards labels (the panel refuses one meant for another episode)."""

    command: ActionKind
    episode_id: str = ""


@dataclass
class EpisodeRecord:
    """One episode as the operator lived it (a line of the operator's log); times in the node's clock [s]."""

    episode_id: str
    group_id: str
    context_id: str
    t_start: float
    t_verdict: float | None = None
    t_label: float | None = None
    truth: bool | None = None          # the stand-in's verdict: success?
    label: str = ""                    # what the operator pressed: success / failure / abort
    mislabelled: bool = False
    reaction_s: float = 0.0
    steps: int = 0
    wall_start: float | None = None    # wall-clock times the node adds (the sim-time speed-up); never read here
    wall_label: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Verdict:
    success: bool
    received: float
    steps: int


@dataclass
class ScriptedOperator:
    """See the module docstring. ``schedule_required``: press Start only while hw-train's schedule shows a
    group to collect (a hardware LOOP run); without it, whenever the panel is idle (its own contexts)."""

    config: OperatorConfig
    schedule_required: bool = True
    verdicts: dict[str, _Verdict] = field(default_factory=dict)
    episodes: list[EpisodeRecord] = field(default_factory=list)
    current: EpisodeRecord | None = None
    next_start: float = float("-inf")
    _label_at: float | None = None
    _label: str = ""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)

    # ---- inputs -------------------------------------------------------------------------------

    def on_verdict(self, episode_id: str, success: bool, steps: int, now: float) -> None:
        """The stand-in says how episode ``episode_id`` ended (what the person sees happen)."""
        self.verdicts.setdefault(episode_id, _Verdict(success, now, steps))
        # Keep the memory bounded: only the running episode's verdict is ever needed.
        while len(self.verdicts) > 64:
            self.verdicts.pop(next(iter(self.verdicts)))

    def on_started(self, episode_id: str, group_id: str, context_id: str, now: float) -> None:
        """The panel accepted Start: ``episode_id`` runs from ``now``."""
        self.current = EpisodeRecord(episode_id, group_id or "", context_id or "", now)
        self._label_at, self._label = None, ""

    def on_start_refused(self, now: float) -> None:
        """The panel refused Start (e.g. the group is complete and hw-train has not drawn the next): try again later."""
        self.next_start = now + self.config.retry_s

    def on_ended(self, label: str, now: float) -> EpisodeRecord | None:
        """The press of ``label`` was accepted (or the panel ended the episode itself: ``label`` = 'ended');
        returns the finished record and starts the scene reset time."""
        rec, self.current = self.current, None
        self._label_at, self._label = None, ""
        self.next_start = now + self.config.reset_s
        if rec is None:
            return None
        rec.t_label, rec.label = now, label
        self.episodes.append(rec)
        return rec

    # ---- the decision -------------------------------------------------------------------------

    def decide(self, state: dict[str, Any], now: float) -> Action | None:
        """What to press now given the page ``state`` (None: keep watching)."""
        if state.get("estop"):
            return None  # a person would not press anything before the e-stop is cleared
        ep = state.get("episode") or {}
        if not ep.get("active"):
            if self.current is not None:
                # The panel ended our episode itself (time limit) or another page labelled it.
                self.on_ended("ended", now)
            return self._maybe_start(state, now)
        episode_id = ep.get("episode_id") or ""
        if self.current is None or self.current.episode_id != episode_id:
            # An episode we did not start (another page, or our Start's reply was lost): watch it as ours.
            self.on_started(episode_id, ep.get("group_id") or "", ep.get("context_id") or "", now)
        if not ep.get("recording"):
            return self._unrecorded(ep, now)
        return self._maybe_label(episode_id, now)

    def _maybe_start(self, state: dict[str, Any], now: float) -> Action | None:
        if now < self.next_start:
            return None
        if self.schedule_required:
            sched = state.get("schedule") or {}
            if sched.get("status") != "collecting" or sched.get("current", -1) < 0:
                return None  # hw-train is updating / deploying, or not up yet: the page shows no group
        return Action("start")

    def _unrecorded(self, ep: dict[str, Any], now: float) -> Action | None:
        # policy_node answered 'acting' (records nothing) or never answered within the panel's ack timeout:
        # only Abort is allowed, then Start again (what the e2e test's operator does too).
        waited = now - self.current.t_start if self.current is not None else 0.0
        if ep.get("ack") == "acting" or (ep.get("ack") in (None, "no_answer") and waited > self.config.ack_patience_s):
            return Action("abort", ep.get("episode_id") or "")
        return None

    def _maybe_label(self, episode_id: str, now: float) -> Action | None:
        verdict = self.verdicts.get(episode_id)
        if verdict is None:
            return None
        if self._label_at is None:
            cfg = self.config
            delay = max(0.0, self._rng.gauss(cfg.reaction_delay_s, cfg.reaction_jitter_s)) \
                if cfg.reaction_jitter_s > 0 else cfg.reaction_delay_s
            wrong = self._rng.random() < cfg.mislabel_rate
            truth = verdict.success
            self._label = "success" if truth != wrong else "failure"
            self._label_at = max(verdict.received, now) + delay
            if self.current is not None:
                self.current.t_verdict, self.current.truth = verdict.received, truth
                self.current.mislabelled, self.current.reaction_s, self.current.steps = wrong, delay, verdict.steps
        if now < self._label_at:
            return None
        return Action(self._label, episode_id)  # type: ignore[arg-type]

    # ---- figures ------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts over the finished episodes (what the rehearsal's report reads)."""
        labelled = [e for e in self.episodes if e.label in ("success", "failure")]
        return {"episodes": len(self.episodes), "labelled": len(labelled),
                "mislabelled": sum(e.mislabelled for e in labelled),
                "aborted": sum(e.label == "abort" for e in self.episodes),
                "operator_s": operator_seconds(self.episodes, self.config.reset_s)}


def operator_seconds(episodes: list[EpisodeRecord], reset_s: float) -> float:
    """A person's time on these episodes at real-time pace: Start to label of each, plus one scene reset each.

    Under ``use_sim_time`` the times are sim seconds, i.e. what the same episodes take on a real robot.
    """
    return float(sum(max(0.0, (e.t_label or e.t_start) - e.t_start) + reset_s for e in episodes))
