"""The operator panel's label state machine: commands and time in, episode events out.

::

    idle --Start--> running --Success/Failure/Abort--> pending --undo window over--> idle  (end event published)
                      |                                   |--Undo--> running           (nothing was published)
                      |--time limit--> idle  (failure with timeout=true published at once; abort if not recording)
                      '--E-stop------> idle  (estop event published at once; e-stop latched)
    pending --Start/Skip--> the pending label is published first, then the start / skip request
    pending --E-stop------> an estop event instead of the label (the robot was still in the episode)

    The policy node answers each start (``/robot_rl/episode_ack``, :meth:`PanelMachine.on_ack`); a
    running episode is labelled only once it is recording:

    running(waiting) --ack recording---------> running(recording)   Success/Failure allowed
                     --ack acting------------> running(acting)      acts, records nothing: Abort only
                     --ack refused-----------> idle                 shown as refused, with the reason
                     --ack_timeout_s, no ack-> running(no_answer)   Abort only; a late ack still counts

Why labels wait for the acknowledgement: a start the policy node refused (no policy loaded, no
instruction) or never received records nothing, so a label for it would reach no buffer while the
page looked as if it had. The start event carries the context's instruction (hw-train's schedule,
or ``instructions`` for the panel's own ``contexts``): the policy node takes nothing from a
separately latched topic, which could still hold the previous context's instruction.

Why a pending label rather than publish-then-undo: the policy node commits an episode to the
rollout buffer when its end event arrives, and a committed episode is never rewritten (hw-train
and the trainer read rewards from the buffer). So a label is held for ``undo_window_s`` and only
then becomes the end event; Undo within the window simply forgets it. The price: the policy keeps
acting (and recording) until the label is published, at most the window (3 s by default) — the
operator's next Start publishes it at once, so collection is not slowed. The event's ``stamp`` is
the moment the operator judged, not the moment it was published. The time-limit failure and the
e-stop are published at once: both must stop the robot.

Every refused command raises :class:`~robot_rl.panel.commands.PanelError` and changes nothing
but the displayed ``error`` text. The machine never reads a clock: callers pass ``now`` [s].
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from robot_rl.env import Context
from robot_rl.errors import ConfigError
from robot_rl.panel.commands import PanelCommand, PanelError
from robot_rl.panel.records import USABLE, Episode, Label, Outputs
from robot_rl.panel.proposal import Proposal, is_spot_check
from robot_rl.wire.episode_event import EpisodeAck, EpisodeEvent
from robot_rl.wire.hw_schedule import HwGroup, HwRequest, HwSchedule
from robot_rl.ros_config.label import LabelNodeConfig

OWN_COUNT_HOLD_S = 10.0
"""How long this panel's own usable labels of a scheduled group may run ahead of hw-train's count [s]:
hw-train counts a label from the buffer within about a second. A label still missing after this long
was never recorded (the policy node was down when it was published): the schedule's count wins, and
Start re-opens that rollout instead of waiting forever for a count that will never come."""


@dataclass(frozen=True)
class _Target:
    """What Start opens: a context of a group, rollout k of K."""

    context_id: str
    group_id: str
    instruction: str
    rollout: int
    group_size: int
    context_index: int
    contexts: int
    local_advance: bool = False   # without a schedule: Start moves on to the next context


def _session_id() -> str:
    # Group ids made up without a schedule must not collide with those of an earlier panel run.
    return format(int(time.time() * 1000) % 36**7, "x")


class PanelMachine:
    """See the module docstring. Not thread-safe: the node serialises calls with a lock.

    :param unique: makes the part of episode ids that keeps re-recorded attempts apart
        (default: 6 random hex digits); tests pass a counter.
    """

    _ENDED_KEPT = 256

    def __init__(self, config: LabelNodeConfig, unique: Callable[[], str] | None = None,
                 session: str | None = None) -> None:
        self.config = config
        self._unique = unique or (lambda: secrets.token_hex(3))
        self.session = session or _session_id()
        self.active: Episode | None = None
        self.pending: Label | None = None
        self.last_label: Label | None = None
        self.ended: OrderedDict[str, Label] = OrderedDict()   # episode_id -> how it ended (late labels)
        self.schedule: HwSchedule | None = None
        self.skip_requested = ""                     # group id whose skip hw-train has not answered yet
        self.usable: Counter[str] = Counter()        # usable labels this panel saw per group id
        self._base: dict[str, int] = {}              # group id -> rollouts_done when first seen in a schedule
        self._last_usable: dict[str, float] = {}     # group id -> when its last usable label was published
        self.refused: OrderedDict[str, str] = OrderedDict()  # episode_id -> why policy_node refused its start
        self.last_refused: tuple[Episode, str] | None = None  # shown until the next start
        self.policy_version = -1
        self.estop = False
        self._estop_pressed_at = float("-inf")
        self.error = ""
        self.operator = config.operator
        self.revision = 0                            # bumps on every change: pages redraw on it
        self._own: OrderedDict[tuple[str, str], None] = OrderedDict()  # (event, episode_id) we published
        self._local_index = 0                        # without a schedule: index into config.contexts
        self._local_group = 1                        # ... and the number in the made-up group id
        self.proposal: Proposal | None = None        # the detector's latest verdict on the active episode
        self._confident_streak = 0                   # consecutive confident success verdicts (automatic mode)
        # Automatic mode's record: labels it gave, spot checks sent to the operator, and operator labels
        # that disagreed with a confident proposal (all of them, spot checks included).
        self.auto_stats: Counter[str] = Counter()
        self._overruled: set[str] = set()            # episodes whose automatic label the operator undid
        self.resent_starts = 0                       # starts published again for want of an answer

    # ---- commands ---------------------------------------------------------------------------

    def command(self, cmd: PanelCommand, now: float) -> Outputs:
        """Apply one operator command; raises :class:`PanelError` (state unchanged but ``error``)."""
        operator = cmd.operator or self.operator
        try:
            self._check_episode_guard(cmd)
            out = getattr(self, f"_cmd_{cmd.command}")(cmd, operator, now)
        except PanelError as err:
            self.reject(f"{cmd.command}: {err}")
            raise
        self.operator = operator
        self.error = ""
        self.revision += 1
        return out

    def reject(self, text: str) -> None:
        """Show an error (a refused or malformed command) without changing anything else."""
        self.error = text
        self.revision += 1

    def _check_episode_guard(self, cmd: PanelCommand) -> None:
        if not cmd.episode_id or cmd.command in ("start", "estop", "skip"):
            return
        current = self.active or (self.pending.episode if self.pending else None)
        if current is not None and current.episode_id == cmd.episode_id:
            return
        if cmd.episode_id in self.refused:
            raise PanelError(f"episode '{cmd.episode_id}' was not recorded: policy_node refused its start "
                             f"({self.refused[cmd.episode_id]}); nothing changed")
        ended = self.ended.get(cmd.episode_id)
        if ended is not None:
            raise PanelError(f"late {cmd.command} for episode '{cmd.episode_id}': it already ended "
                             f"({self._describe(ended)}); nothing changed")
        now_running = f"'{current.episode_id}' is the current episode" if current else "no episode is running"
        raise PanelError(f"the page meant episode '{cmd.episode_id}' but {now_running}; nothing changed")

    def _cmd_start(self, _cmd: PanelCommand, operator: str, now: float) -> Outputs:
        if self.estop:
            raise PanelError("the e-stop is latched: clear it on the executor (/robot_rl/clear_estop) before "
                             "starting an episode")
        if self.active is not None:
            raise PanelError(f"episode '{self.active.episode_id}' is running: label it (success/failure) or "
                             "abort it first")
        target = self._target(self._pending_usable(), now)  # raises before anything changes
        if not target.instruction:
            # policy_node would refuse it: it takes the instruction from the start event only.
            raise PanelError(f"context {target.context_id} of group '{target.group_id}' has no instruction "
                             "(hw-train's schedule must carry one): nothing to start")
        episode_id = f"{target.group_id}-{target.rollout}-{self._unique()}"
        try:
            event = EpisodeEvent(event="start", episode_id=episode_id, context_id=target.context_id,
                                 group_id=target.group_id, instruction=target.instruction,
                                 label_source="operator", operator=operator, stamp=now)
        except (ValueError, ConfigError) as err:
            raise PanelError(f"cannot make a start event for group '{target.group_id}': {err}") from None
        out = self._flush_pending()
        if target.local_advance:
            self._local_index += 1
            self._local_group += 1
        self.active = Episode(episode_id, target.context_id, target.group_id, target.instruction, now, True,
                              operator, target.rollout, target.group_size, target.context_index, target.contexts,
                              ack_due=now + self.config.ack_timeout_s, start_event=event,
                              resend_at=now + self.config.start_resend_s)
        self.last_refused = None
        self.proposal = None
        self._confident_streak = 0
        self._remember_own("start", episode_id)
        out.events.append(event)
        return out

    def _cmd_success(self, cmd: PanelCommand, operator: str, now: float) -> Outputs:
        return self._label(cmd.command, operator, now)

    _cmd_failure = _cmd_success
    _cmd_abort = _cmd_success

    def _cmd_accept(self, _cmd: PanelCommand, operator: str, now: float) -> Outputs:
        if self.pending is not None:
            left = max(0.0, (self.pending.pending_until or now) - now)
            raise PanelError(f"episode '{self.pending.episode.episode_id}' is already labelled "
                             f"{self.pending.label} (undo it within {left:.1f} s to change it)")
        if self.active is None:
            raise PanelError(self._no_episode("accept"))
        prop = self._current_proposal()
        if prop is None:
            raise PanelError("accept: no detector proposal for the running episode (no detector loaded, or it has "
                             "not seen a frame yet); label it with success/failure")
        if prop.label == "unsure":
            raise PanelError(f"accept: the detector is unsure (p {prop.p:.2f}, confidence {prop.confidence:.2f} "
                             f"below its threshold {prop.threshold:.2f}); label it with success/failure")
        return self._label(prop.label, operator, now, source="detector_confirmed")

    def on_detector(self, proposal: Proposal, now: float | None = None) -> Outputs:
        """The detector's latest verdict; kept only if it is about the running episode (stale ones are dropped).

        In automatic mode (``auto_label``) ``auto_confirm_verdicts`` consecutive confident success
        verdicts label a recording episode success by themselves (source ``detector``; held for the
        undo window like any label), unless the episode is a spot check (``spot_check_share``): then
        the page asks the operator, who labels it with Y/N/D as usual.
        """
        if self.active is None or proposal.episode_id != self.active.episode_id:
            return Outputs()
        old = self.proposal
        self.proposal = proposal
        if old is None or old.label != proposal.label or abs(old.p - proposal.p) >= 0.005:
            self.revision += 1  # pages redraw only when what they show changes
        self._confident_streak = self._confident_streak + 1 if proposal.label == "success" else 0
        cfg = self.config
        if not cfg.auto_label or self.pending is not None or not self.active.recording \
                or self._confident_streak < cfg.auto_confirm_verdicts:
            return Outputs()
        if self.spot_check or self.active.episode_id in self._overruled:
            return Outputs()
        self.auto_stats["auto_labelled"] += 1
        self.revision += 1
        return self._label("success", "", proposal.stamp if now is None else now, source="detector")

    @property
    def spot_check(self) -> bool:
        """Automatic mode sends the running episode's proposal to the operator (a spot check)."""
        return (self.config.auto_label and self.active is not None
                and is_spot_check(self.active.episode_id, self.config.spot_check_share))

    def _current_proposal(self) -> Proposal | None:
        prop = self.proposal
        if prop is None or self.active is None or prop.episode_id != self.active.episode_id:
            return None
        return prop

    def _label(self, label: str, operator: str, now: float, source: str = "operator") -> Outputs:
        if self.pending is not None:
            left = max(0.0, (self.pending.pending_until or now) - now)
            raise PanelError(f"episode '{self.pending.episode.episode_id}' is already labelled "
                             f"{self.pending.label} (undo it within {left:.1f} s to change it)")
        if self.active is None:
            raise PanelError(self._no_episode(label))
        if label in USABLE and not self.active.recording:
            raise PanelError(self._not_recording(self.active, label))
        prop = self._current_proposal()
        if source == "operator" and prop is not None and prop.label != "unsure" and label in USABLE:
            if self.spot_check:
                self.auto_stats["spot_checks"] += 1
            if label != prop.label:
                self.auto_stats["disagreements"] += 1
                if self.spot_check:
                    self.auto_stats["spot_check_disagreements"] += 1
        elif source == "detector_confirmed" and self.spot_check:
            self.auto_stats["spot_checks"] += 1
        # A plain operator label still records what the detector said, so disagreements can be counted.
        lbl = Label(self.active, label, operator, now, source=source,
                    detector_p=prop.p if prop is not None and label in USABLE else None)
        self.active = None
        self.proposal = None
        self._confident_streak = 0
        self.last_label = lbl
        if self.config.undo_window_s > 0:
            lbl.pending_until = now + self.config.undo_window_s
            self.pending = lbl
            return Outputs()
        return self._publish(lbl)

    def _not_recording(self, ep: Episode, label: str) -> str:
        what = f"episode '{ep.episode_id}' is not being recorded"
        if ep.ack == "waiting":
            return f"{what} yet: waiting for policy_node to confirm its start ({label} ignored; Abort gives it up)"
        if ep.ack == "acting":
            return f"{what}: {ep.ack_reason}; Abort ends it ({label} ignored)"
        return f"{what}: {ep.ack_reason}; Abort it and press Start again ({label} ignored)"

    def _no_episode(self, label: str) -> str:
        if self.last_refused is not None:
            ep, reason = self.last_refused
            return (f"no episode is running: policy_node refused the start of '{ep.episode_id}' ({reason}); "
                    f"nothing was recorded ({label} ignored)")
        last = self.last_label
        if last is None or last.pending_until is not None:
            return f"no episode is running: press Start before labelling ({label} ignored)"
        what = f"episode '{last.episode.episode_id}'"
        if last.label == "abort":
            return f"late {label}: {what} was aborted (re-record it with Start); a label cannot change it"
        if last.label == "estop":
            return f"late {label}: {what} was stopped by the e-stop; it is not usable"
        return f"{what} is already labelled {self._describe(last)}; start the next episode"

    @staticmethod
    def _describe(lbl: Label) -> str:
        who = lbl.operator or lbl.source
        return f"{lbl.label}{' (time limit)' if lbl.timeout else ''} by {who}"

    def _cmd_undo(self, _cmd: PanelCommand, _operator: str, now: float) -> Outputs:
        if self.pending is None or (self.pending.pending_until or 0.0) <= now:
            last = self.last_label
            if last is not None:
                raise PanelError(f"too late to undo the {last.label} of episode '{last.episode.episode_id}': it is "
                                 f"published (undo works for {self.config.undo_window_s:g} s after a label)")
            raise PanelError("nothing to undo")
        if self.pending.source == "detector":
            # The operator overruled an automatic label: the episode is theirs to label from now on.
            self._overruled.add(self.pending.episode.episode_id)
            self.auto_stats["auto_undone"] += 1
        self.active = self.pending.episode
        self.pending = None
        self.last_label = None
        return Outputs()

    def _cmd_skip(self, _cmd: PanelCommand, operator: str, _now: float) -> Outputs:
        if self.active is not None:
            raise PanelError(f"episode '{self.active.episode_id}' is running: label or abort it before skipping "
                             "its context")
        if self.schedule is None:
            if not self.config.contexts:
                raise PanelError("nothing to skip: no hw-train schedule and no contexts configured")
            out = self._flush_pending()
            self._local_index += 1
            self._local_group += 1
            return out
        group = self.schedule.current_group
        if group is None:
            raise PanelError(f"hw-train has no context to skip ({self.schedule.status})")
        if self.skip_requested == group.group_id:
            raise PanelError(f"skipping group '{group.group_id}' is already requested; waiting for hw-train")
        out = self._flush_pending()
        out.requests.append(HwRequest(request="skip_context", group_id=group.group_id, operator=operator))
        self.skip_requested = group.group_id
        return out

    def _cmd_estop(self, _cmd: PanelCommand, operator: str, now: float) -> Outputs:
        self._estop_pressed_at = now
        out = self._close_by_estop(operator, now)
        out.estop = True
        self.estop = True
        return out

    def _close_by_estop(self, operator: str, now: float) -> Outputs:
        episode = self.active or (self.pending.episode if self.pending else None)
        self.active, self.pending = None, None
        if episode is None:
            return Outputs()
        lbl = Label(episode, "estop", operator, now, note="e-stop")
        self.last_label = lbl
        return self._publish(lbl)

    # ---- time -------------------------------------------------------------------------------

    def tick(self, now: float) -> Outputs:
        """Publish a label whose undo window is over; fail an own episode that reached the time limit."""
        out = Outputs()
        if self.pending is not None and now >= (self.pending.pending_until or 0.0):
            out.add(self._flush_pending())
        ep = self.active
        if ep is not None and ep.ack == "waiting" and now >= ep.ack_due:
            ep.ack = "no_answer"
            ep.ack_reason = (f"policy_node did not confirm the start within {self.config.ack_timeout_s:g} s (is it "
                             "running? the start may not have reached it)")
            self.revision += 1
        limit = self.config.time_limit_s
        if self.active is not None and self.active.own and limit > 0 and now - self.active.started_at >= limit:
            if self.active.recording:
                prop = self._current_proposal()
                lbl = Label(self.active, "failure", self.active.operator, now, timeout=True, note="time limit",
                            detector_p=prop.p if prop is not None else None)
            else:  # not in the buffer: a usable failure would be counted for a rollout nobody recorded
                lbl = Label(self.active, "abort", self.active.operator, now, note="time limit, not recorded")
            self.active = None
            self.last_label = lbl
            out.add(self._publish(lbl))
        unanswered = ep is not None and ep is self.active and ep.ack in ("waiting", "no_answer")
        if unanswered and ep.start_event is not None and now >= ep.resend_at:
            # DDS drops a volatile message sent before the reader was matched (a Start pressed while the
            # graph is still discovering itself): repeat it until policy_node answers.
            out.events.append(ep.start_event)
            ep.resend_at = now + self.config.start_resend_s
            self.resent_starts += 1
        if out:
            self.revision += 1
        return out

    # ---- what the graph says ----------------------------------------------------------------

    def on_schedule(self, schedule: HwSchedule) -> None:
        """A new hw-train schedule (it answers any skip request)."""
        self.schedule = schedule
        for g in schedule.groups:
            self._base.setdefault(g.group_id, g.rollouts_done)
        self.skip_requested = ""
        self.revision += 1

    def on_ack(self, ack: EpisodeAck, now: float) -> None:
        """policy_node's answer to a start; only the running episode's counts (a late one included)."""
        ep = self.active
        if ep is None or ep.episode_id != ack.episode_id:
            return  # an older episode's (or one another panel shows)
        if ack.status == "refused":
            self.active = None
            self.last_refused = (ep, ack.reason)
            self.refused[ep.episode_id] = ack.reason
            while len(self.refused) > self._ENDED_KEPT:
                self.refused.popitem(last=False)
            self.error = (f"start of episode '{ep.episode_id}' REFUSED by policy_node: {ack.reason}; nothing is "
                          "recorded")
        else:
            ep.ack, ep.ack_reason = ack.status, ack.reason
            if ep.ack == "acting":
                self.error = f"episode '{ep.episode_id}' is NOT recorded: {ack.reason}"
        self.revision += 1

    def on_policy_version(self, version: int) -> None:
        self.policy_version = int(version)
        self.revision += 1

    def on_estop(self, asserted: bool, now: float) -> Outputs:
        """E-stop state seen on the graph (the e-stop topic, or the executor's diagnostics).

        An e-stop latched elsewhere closes this panel's running episode as ``estop``. ``False`` (the
        executor cleared it) is ignored for 2 s after this panel's own press: the executor's
        diagnostics may predate the press.
        """
        if asserted == self.estop:
            return Outputs()
        if not asserted and now - self._estop_pressed_at < 2.0:
            return Outputs()
        self.estop = asserted
        out = self._close_by_estop(self.operator, now) if asserted else Outputs()
        self.revision += 1
        return out

    def on_episode_event(self, event: EpisodeEvent, now: float) -> None:
        """An episode event from the graph; this panel's own (echoed back by DDS) are ignored."""
        if (event.event, event.episode_id) in self._own:
            return
        if event.event == "start":
            if self.active is not None and self.active.episode_id == event.episode_id:
                return  # another panel repeating its unanswered start
            closed = self.active or (self.pending.episode if self.pending else None)
            if closed is not None:
                self.error = (f"episode '{closed.episode_id}' was ended by a start from elsewhere "
                              f"('{event.episode_id}'); the policy records it as aborted")
                self._remember_ended(Label(closed, "abort", "", now, source="external"))
            self.pending = None
            self.active = Episode(event.episode_id, event.context_id, event.group_id, event.instruction,
                                  event.stamp or now, False, event.operator, ack_due=now + self.config.ack_timeout_s)
            self.revision += 1
            return
        current = self.active or (self.pending.episode if self.pending else None)
        if current is None or current.episode_id != event.episode_id:
            return  # an episode this panel does not show; the policy node judges it
        if self.pending is not None:
            self.error = (f"episode '{current.episode_id}' ended by {event.label_source} ({event.event}) before "
                          f"the {self.pending.label} label was published; the {event.event} stands")
        lbl = Label(current, event.event, event.operator, event.stamp or now, timeout=event.timeout,
                    source=event.label_source)
        self.active, self.pending, self.last_label = None, None, lbl
        self._remember_ended(lbl)
        if event.event in USABLE:
            self._count_usable(current.group_id, now)
        self.revision += 1

    # ---- helpers ----------------------------------------------------------------------------

    def _pending_usable(self) -> Counter[str]:
        extra: Counter[str] = Counter()
        if self.pending is not None and self.pending.label in USABLE:
            extra[self.pending.episode.group_id] += 1
        return extra

    def _count_usable(self, group_id: str, t: float) -> None:
        """Count one usable label of ``group_id`` published at ``t``."""
        group = self._scheduled(group_id)
        if group is not None and t - self._last_usable.get(group_id, float("-inf")) >= OWN_COUNT_HOLD_S:
            # Every earlier label had time to reach hw-train's count: count on from it (labels the
            # policy node never recorded are forgotten).
            self._base[group_id], self.usable[group_id] = group.rollouts_done, 0
        self.usable[group_id] += 1
        self._last_usable[group_id] = t

    def _scheduled(self, group_id: str) -> HwGroup | None:
        if self.schedule is None:
            return None
        return next((g for g in self.schedule.groups if g.group_id == group_id), None)

    def _target(self, extra: Counter[str], now: float | None = None) -> _Target:
        """What Start would open now (``extra``: usable labels about to be published); raises PanelError.

        ``now`` None: this panel's own labels always count (see :data:`OWN_COUNT_HOLD_S`)."""
        if self.schedule is not None:
            s = self.schedule
            g = s.current_group
            if g is None:
                raise PanelError(f"hw-train has nothing to collect now (status {s.status}"
                                 f"{': ' + s.message if s.message else ''})")
            if g.state not in ("pending", "collecting"):
                raise PanelError(f"group '{g.group_id}' is {g.state}; waiting for hw-train's next schedule")
            if self.skip_requested == g.group_id:
                raise PanelError(f"skipping group '{g.group_id}' was requested; waiting for hw-train's next schedule")
            # The buffer's count (via hw-train) lags this panel's own labels by a moment: count from
            # the first schedule that showed the group (it cannot include labels given after it).
            own = self._base.get(g.group_id, g.rollouts_done) + self.usable[g.group_id] + extra[g.group_id]
            recent = (now is None or extra[g.group_id] > 0
                      or now - self._last_usable.get(g.group_id, float("-inf")) < OWN_COUNT_HOLD_S)
            done = max(g.rollouts_done, own) if recent else g.rollouts_done
            if done >= s.group_size:
                raise PanelError(f"group '{g.group_id}' has all {s.group_size} rollouts; waiting for hw-train's "
                                 "next schedule")
            return _Target(g.context_id, g.group_id, g.instruction, done + 1, s.group_size, s.current + 1,
                           len(s.groups))
        contexts = self.config.contexts
        instructions = self.config.instruction_map
        if not contexts:
            raise PanelError("no hw-train schedule and no contexts configured on the label node "
                             "(parameter contexts): nothing to start")
        index, number = self._local_index, self._local_group
        group_id = f"panel-{self.session}-{number}"
        done = self.usable[group_id] + extra[group_id]
        advance = done >= self.config.group_size
        if advance:
            index, number, done = index + 1, number + 1, 0
            group_id = f"panel-{self.session}-{number}"
        context = contexts[index % len(contexts)]
        return _Target(context, group_id, instructions.get(Context.parse(context).task, ""), done + 1,
                       self.config.group_size, index % len(contexts) + 1, len(contexts), local_advance=advance)

    def _flush_pending(self) -> Outputs:
        lbl, self.pending = self.pending, None
        return self._publish(lbl) if lbl is not None else Outputs()

    def _publish(self, lbl: Label) -> Outputs:
        ep = lbl.episode
        published = max(lbl.stamp, lbl.pending_until or lbl.stamp)  # at most the end of its undo window
        lbl.pending_until = None
        event = EpisodeEvent(event=lbl.label, episode_id=ep.episode_id, context_id=ep.context_id,
                             group_id=ep.group_id, operator=lbl.operator, detector_p=lbl.detector_p,
                             label_source=lbl.source if lbl.source in ("operator", "detector_confirmed",
                                                                       "detector") else "operator",
                             timeout=lbl.timeout, stamp=max(lbl.stamp, 0.0), note=lbl.note)
        if lbl.label in USABLE:
            self._count_usable(ep.group_id, published)
        self._remember_own(lbl.label, ep.episode_id)
        self._remember_ended(lbl)
        return Outputs(events=[event])

    def _remember_own(self, kind: str, episode_id: str) -> None:
        self._own[(kind, episode_id)] = None
        while len(self._own) > 4 * self._ENDED_KEPT:
            self._own.popitem(last=False)

    def _remember_ended(self, lbl: Label) -> None:
        self.ended[lbl.episode.episode_id] = lbl
        while len(self.ended) > self._ENDED_KEPT:
            self.ended.popitem(last=False)

    # ---- what the page shows ----------------------------------------------------------------

    def progress_text(self, now: float | None = None) -> str:
        """'context c of C, rollout k of K' of the running episode, else of what Start opens next."""
        current = self.active or (self.pending.episode if self.pending else None)
        if current is not None and current.rollout:
            return (f"context {current.context_index} of {current.contexts}, "
                    f"rollout {current.rollout} of {current.group_size}")
        if current is not None:
            return f"episode '{current.episode_id}' (started elsewhere)"
        try:
            t = self._target(self._pending_usable(), now)
        except PanelError as err:
            return str(err)
        return f"context {t.context_index} of {t.contexts}, rollout {t.rollout} of {t.group_size}"

    def shown_context(self, now: float | None = None) -> tuple[str, str]:
        """(context id, instruction) of the running episode, else of what Start opens next (empty if none)."""
        current = self.active or (self.pending.episode if self.pending else None)
        if current is not None:
            return current.context_id, current.instruction
        try:
            t = self._target(self._pending_usable(), now)
        except PanelError:
            return "", ""
        return t.context_id, t.instruction

    def current_group(self, now: float | None = None) -> str:
        """The group of the running episode, else the group Start opens next ('' if none)."""
        current = self.active or (self.pending.episode if self.pending else None)
        if current is not None:
            return current.group_id
        try:
            return self._target(self._pending_usable(), now).group_id
        except PanelError:
            return ""

    def snapshot(self, now: float) -> dict[str, Any]:
        """The state JSON of the HTTP/WebSocket API (docs/panel.md)."""
        ep = self.active
        episode: dict[str, Any] = {"active": ep is not None, "episode_id": None, "context_id": None,
                                   "group_id": None, "instruction": None, "started_at": None, "elapsed_s": 0.0,
                                   "time_limit_s": self.config.time_limit_s, "own": None, "rollout": None,
                                   "ack": None, "ack_reason": "", "recording": False}
        if ep is not None:
            episode.update(episode_id=ep.episode_id, context_id=ep.context_id, group_id=ep.group_id,
                           instruction=ep.instruction, started_at=ep.started_at,
                           elapsed_s=round(max(0.0, now - ep.started_at), 3), own=ep.own, rollout=ep.rollout or None,
                           ack=ep.ack, ack_reason=ep.ack_reason, recording=ep.recording)
        prop = self._current_proposal()
        episode["detector"] = prop.to_dict() if prop is not None else None
        episode["spot_check"] = self.spot_check
        refused = None
        if self.last_refused is not None:
            rep, reason = self.last_refused
            refused = {"episode_id": rep.episode_id, "context_id": rep.context_id, "group_id": rep.group_id,
                       "instruction": rep.instruction, "reason": reason}
        last = None
        if self.last_label is not None:
            lbl = self.last_label
            last = {"episode_id": lbl.episode.episode_id, "label": lbl.label, "timeout": lbl.timeout,
                    "operator": lbl.operator, "label_source": lbl.source, "stamp": lbl.stamp,
                    "detector_p": lbl.detector_p,
                    "pending": lbl.pending_until is not None, "undo_until": lbl.pending_until}
        context_id, instruction = self.shown_context(now)
        return {
            "revision": self.revision,
            "now": now,
            "episode": episode,
            "last_label": last,
            "refused": refused,
            "instruction": instruction,
            "context_id": context_id,
            "policy_version": self.policy_version,
            "schedule": self.schedule.model_dump() if self.schedule is not None else None,
            "progress_text": self.progress_text(now),
            "group_id": self.current_group(now),
            "cameras": [],  # filled in by the node
            "estop": self.estop,
            "error": self.error,
            "operator": self.operator,
            "undo_window_s": self.config.undo_window_s,
            "auto": {"enabled": self.config.auto_label, **{k: self.auto_stats[k] for k in (
                "auto_labelled", "auto_undone", "spot_checks", "disagreements", "spot_check_disagreements")}},
        }
