"""The panel's label state machine: known command sequences -> known episode events; every refused
command leaves the state as it was (only the displayed error changes)."""

from __future__ import annotations

import itertools

import pytest

from robot_rl.panel import PanelCommand, PanelError, PanelMachine, parse_command
from robot_rl.panel.machine import OWN_COUNT_HOLD_S
from robot_rl.wire.episode_event import EpisodeAck, EpisodeEvent, parse_episode_event
from robot_rl.wire.hw_schedule import HwGroup, HwSchedule
from robot_rl.ros_config.label import LabelNodeConfig

VOLATILE = ("error", "revision", "now")


def machine(**cfg) -> PanelMachine:
    counter = itertools.count(1)
    cfg = {"undo_window_s": 3.0, "time_limit_s": 60.0, "contexts": ["pick_red/0", "pick_blue/1"],
           "instructions": ["pick_red=pick up the red cube", "pick_blue=pick up the blue cube"], **cfg}
    return PanelMachine(LabelNodeConfig(**cfg), unique=lambda: f"u{next(counter)}", session="s")


def ack(m: PanelMachine, status: str, now: float, reason: str = "", episode_id: str = "") -> None:
    """policy_node's answer to the running episode's start."""
    m.on_ack(EpisodeAck(episode_id=episode_id or m.active.episode_id, status=status, reason=reason), now)


def cmd(m: PanelMachine, command: str, now: float, operator: str = "ana", recorded: bool = True, **kw):
    """One command; a start is confirmed as recording by policy_node at once unless ``recorded`` is False."""
    out = m.command(PanelCommand(command=command, operator=operator, **kw), now)
    if command == "start" and recorded:
        ack(m, "recording", now)
    return out


def schedule(done: int = 0, k: int = 3, state: str = "collecting", current: int = 0) -> HwSchedule:
    groups = [HwGroup(group_id="c1-g0", context_id="pick_red/2", instruction="pick up the red cube",
                      rollouts_done=done, state=state),
              HwGroup(group_id="c1-g1", context_id="pick_blue/0", instruction="pick up the blue cube")]
    return HwSchedule(cycle=1, policy_version=3, group_size=k, groups_needed=2, status="collecting",
                      groups=groups, current=current)


def stable(m: PanelMachine, now: float) -> dict:
    return {k: v for k, v in m.snapshot(now).items() if k not in VOLATILE}


def refused(m: PanelMachine, command: str, now: float, match: str, status: int = 409, **kw) -> None:
    before = stable(m, now)
    with pytest.raises(PanelError, match=match) as err:
        cmd(m, command, now, **kw)
    assert err.value.status == status
    assert stable(m, now) == before, "a refused command changed the state"
    assert m.snapshot(now)["error"].startswith(f"{command}: "), "the refusal is not shown on the panel"


def test_start_uses_the_schedule_group_and_labels_wait_for_the_undo_window():
    m = machine()
    m.on_schedule(schedule(done=1))
    assert m.progress_text() == "context 1 of 2, rollout 2 of 3"
    out = cmd(m, "start", 10.0)
    (start,) = out.events
    assert start == EpisodeEvent(event="start", episode_id="c1-g0-2-u1", context_id="pick_red/2", group_id="c1-g0",
                                 instruction="pick up the red cube", label_source="operator", operator="ana",
                                 stamp=10.0)
    assert parse_episode_event(start.to_json()) == start  # what goes on the wire round-trips
    snap = m.snapshot(12.5)
    assert snap["episode"]["active"] and snap["episode"]["elapsed_s"] == 2.5 and snap["operator"] == "ana"
    assert snap["progress_text"] == "context 1 of 2, rollout 2 of 3" and snap["group_id"] == "c1-g0"

    assert not cmd(m, "success", 14.0)              # held for the undo window
    assert m.snapshot(14.0)["last_label"] == {"episode_id": "c1-g0-2-u1", "label": "success", "timeout": False,
                                              "operator": "ana", "label_source": "operator", "stamp": 14.0,
                                              "pending": True, "undo_until": 17.0, "detector_p": None}
    assert not m.tick(16.9)
    (end,) = m.tick(17.0).events
    assert (end.event, end.episode_id, end.label_source, end.operator, end.stamp) == (
        "success", "c1-g0-2-u1", "operator", "ana", 14.0)  # stamped when the operator judged
    assert m.snapshot(17.0)["last_label"]["pending"] is False
    assert m.progress_text() == "context 1 of 2, rollout 3 of 3"  # counts its own label before hw-train does


def test_undo_within_the_window_forgets_the_label_and_the_episode_runs_on():
    m = machine()
    cmd(m, "start", 0.0)
    cmd(m, "failure", 5.0)
    assert not cmd(m, "undo", 7.9, operator="bo")
    snap = m.snapshot(8.0)
    assert snap["episode"]["active"] and snap["episode"]["episode_id"] == "panel-s-1-1-u1"
    assert snap["last_label"] is None
    assert not m.tick(20.0)  # nothing was published, nothing will be
    assert not cmd(m, "success", 21.0, operator="bo")
    (end,) = m.tick(24.0).events
    assert (end.event, end.operator) == ("success", "bo")


def test_start_publishes_a_pending_label_first():
    m = machine()
    cmd(m, "start", 0.0)
    cmd(m, "success", 5.0)
    out = cmd(m, "start", 6.0)
    assert [(e.event, e.episode_id) for e in out.events] == [("success", "panel-s-1-1-u1"), ("start", "panel-s-2-1-u2")]
    assert out.events[1].context_id == "pick_blue/1"  # group_size 1: the next context


def test_local_contexts_cycle_in_groups_of_group_size_and_abort_re_records():
    m = machine(group_size=2, undo_window_s=0.0)
    seen = []
    for label in ("success", "abort", "failure", "success", "success"):
        start = cmd(m, "start", 0.0).events[-1]
        seen.append((start.context_id, start.group_id, start.episode_id))
        cmd(m, label, 1.0)
    assert seen == [("pick_red/0", "panel-s-1", "panel-s-1-1-u1"),
                    ("pick_red/0", "panel-s-1", "panel-s-1-2-u2"),   # aborted: rollout 2 again
                    ("pick_red/0", "panel-s-1", "panel-s-1-2-u3"),
                    ("pick_blue/1", "panel-s-2", "panel-s-2-1-u4"),
                    ("pick_blue/1", "panel-s-2", "panel-s-2-2-u5")]
    assert cmd(m, "start", 0.0).events[-1].context_id == "pick_red/0"  # cycles


def test_time_limit_fails_the_episode_at_once_with_timeout():
    m = machine(time_limit_s=30.0)
    cmd(m, "start", 100.0)
    assert not m.tick(129.9)
    (end,) = m.tick(130.0).events
    assert (end.event, end.timeout, end.label_source, end.operator) == ("failure", True, "operator", "ana")
    refused(m, "undo", 130.5, "too late to undo the failure")
    refused(m, "success", 131.0, "already labelled failure \\(time limit\\)")


def test_estop_publishes_true_and_closes_the_running_or_pending_episode():
    m = machine()
    cmd(m, "start", 0.0)
    cmd(m, "success", 1.0)
    out = cmd(m, "estop", 2.0)
    assert out.estop and [(e.event, e.episode_id) for e in out.events] == [("estop", "panel-s-1-1-u1")]
    assert m.snapshot(2.0)["estop"] and m.pending is None and not m.tick(10.0)
    refused(m, "start", 3.0, "e-stop is latched")
    refused(m, "undo", 3.0, "too late to undo the estop")
    assert cmd(m, "estop", 4.0).estop and not cmd(m, "estop", 4.0).events  # pressing again is fine
    assert not m.on_estop(False, 5.0) and m.estop  # executor diagnostics from before the press
    m.on_estop(False, 7.0)
    assert not m.estop
    assert cmd(m, "start", 8.0).events


def test_an_estop_from_elsewhere_closes_the_panel_episode():
    m = machine()
    cmd(m, "start", 0.0)
    (ev,) = m.on_estop(True, 1.0).events
    assert ev.event == "estop" and m.estop and m.active is None


def test_skip_requests_hw_train_and_waits_for_its_answer():
    m = machine()
    m.on_schedule(schedule())
    out = cmd(m, "skip", 1.0, operator="cy")
    assert out.requests[0].model_dump() == {"request": "skip_context", "group_id": "c1-g0", "operator": "cy"}
    refused(m, "skip", 1.5, "already requested")
    refused(m, "start", 1.5, "skipping group 'c1-g0' was requested")
    m.on_schedule(schedule(state="skipped", current=1))
    assert cmd(m, "start", 2.0).events[0].group_id == "c1-g1"
    refused(m, "skip", 3.0, "is running: label or abort it before skipping")


def test_skip_without_a_schedule_moves_to_the_next_context():
    m = machine()
    assert not cmd(m, "skip", 0.0)
    assert cmd(m, "start", 0.0).events[0].context_id == "pick_blue/1"


def test_schedule_limits_start_to_k_usable_rollouts_even_before_hw_train_catches_up():
    m = machine(undo_window_s=0.0)
    m.on_schedule(schedule(done=2))
    cmd(m, "start", 0.0)
    cmd(m, "success", 1.0)
    refused(m, "start", 2.0, "has all 3 rollouts")
    m.on_schedule(schedule(done=3, state="complete"))
    refused(m, "start", 2.0, "is complete")
    m.on_schedule(HwSchedule(status="training", message="update 1 of 1"))
    refused(m, "start", 2.0, "nothing to collect now \\(status training: update 1 of 1\\)")


def test_pending_label_that_completes_the_group_blocks_start_without_publishing_it():
    m = machine()
    m.on_schedule(schedule(done=2))
    cmd(m, "start", 0.0)
    cmd(m, "success", 1.0)
    refused(m, "start", 2.0, "has all 3 rollouts")
    assert m.pending is not None  # still undoable: nothing was published by the refused Start


@pytest.mark.parametrize("setup, command, match", [
    ([], "success", "no episode is running: press Start"),
    ([], "undo", "nothing to undo"),
    (["start"], "start", "is running: label it"),
    (["start", "success"], "success", "already labelled success \\(undo it within"),
    (["start", "success"], "failure", "already labelled success"),
    (["start", "success"], "abort", "already labelled success"),
    (["start", "abort", "TICK"], "success", "late success: episode 'panel-s-1-1-u1' was aborted"),
    (["start", "success", "TICK"], "failure", "is already labelled success by ana; start the next"),
    (["start", "success", "TICK"], "undo", "too late to undo"),
])
def test_every_refused_command_changes_nothing(setup, command, match):
    m = machine()
    for step in setup:
        m.tick(100.0) if step == "TICK" else cmd(m, step, 1.0)
    refused(m, command, 2.0, match)


def test_no_contexts_and_no_schedule_refuses_start():
    m = machine(contexts=[])
    refused(m, "start", 0.0, "no hw-train schedule and no contexts")
    refused(m, "skip", 0.0, "nothing to skip")
    assert "no contexts" in m.progress_text()


def test_a_label_meant_for_another_episode_is_refused():
    m = machine(undo_window_s=0.0)
    cmd(m, "start", 0.0)
    cmd(m, "abort", 1.0)
    cmd(m, "start", 2.0)
    refused(m, "success", 3.0, "late success for episode 'panel-s-1-1-u1': it already ended \\(abort by ana\\)",
            episode_id="panel-s-1-1-u1")
    refused(m, "success", 3.0, "the page meant episode 'nope'", episode_id="nope")
    assert cmd(m, "success", 3.0, episode_id="panel-s-1-1-u2").events[0].event == "success"


@pytest.mark.parametrize("body, match", [
    ("start", "expected a JSON object"),
    ({}, "missing key 'command'"),
    ({"command": "succes"}, "unknown command 'succes'; allowed: start, success"),
    ({"command": 3}, "unknown command 3"),
    ({"command": "start", "operator": 5}, "operator"),
    ({"command": "start", "operator": "x" * 129}, "operator"),
    ({"command": "start", "operator": "a\nb"}, "operator"),
    ({"command": "start", "extra": 1}, "extra: unknown key"),
])
def test_malformed_commands_are_400_with_a_clear_message(body, match):
    with pytest.raises(PanelError, match=match) as err:
        parse_command(body)
    assert err.value.status == 400


def test_operator_defaults_and_sticks():
    m = machine(undo_window_s=0.0, operator="night-shift")
    assert m.snapshot(0.0)["operator"] == "night-shift"
    assert cmd(m, "start", 0.0, operator="").events[0].operator == "night-shift"
    cmd(m, "success", 1.0, operator="dee")
    assert cmd(m, "start", 2.0, operator="").events[0].operator == "dee"


def test_external_events_are_shown_and_own_echoes_ignored():
    m = machine()
    out = cmd(m, "start", 0.0)
    m.on_episode_event(out.events[0], 0.1)  # DDS echoes our own start: nothing changes
    assert m.active is not None and m.active.own and m.error == ""
    sim_success = EpisodeEvent(event="success", episode_id="panel-s-1-1-u1", label_source="sim")
    m.on_episode_event(sim_success, 1.0)
    assert m.active is None and m.last_label.source == "sim"
    refused(m, "failure", 2.0, "already labelled success by sim")
    other = EpisodeEvent(event="start", episode_id="sim-7", context_id="pick_red/5", group_id="simg")
    m.on_episode_event(other, 3.0)
    snap = m.snapshot(4.0)
    assert snap["episode"]["episode_id"] == "sim-7" and snap["episode"]["own"] is False
    assert not m.tick(1000.0)  # the time limit applies to the panel's own episodes only


def test_an_external_end_while_a_label_is_pending_wins_and_says_so():
    m = machine()
    cmd(m, "start", 0.0)
    cmd(m, "failure", 1.0)
    m.on_episode_event(EpisodeEvent(event="success", episode_id="panel-s-1-1-u1", label_source="sim"), 1.5)
    assert m.pending is None and "before the failure label was published" in m.error
    assert not m.tick(10.0)


def test_a_label_never_recorded_stops_counting_after_the_hold():
    # The policy node was down (restarting) when rollout 1's failure was published: hw-train never counts it.
    m = machine(undo_window_s=0.0)
    m.on_schedule(schedule(done=0, k=2))
    cmd(m, "start", 0.0)
    cmd(m, "failure", 1.0)            # lost
    cmd(m, "start", 2.0)
    cmd(m, "success", 3.0)            # recorded: hw-train counts 1
    m.on_schedule(schedule(done=1, k=2))
    refused(m, "start", 4.0, "has all 2 rollouts")  # within the hold the panel's own count wins (the schedule may lag)
    later = 3.0 + OWN_COUNT_HOLD_S
    assert m.snapshot(later)["progress_text"] == "context 1 of 2, rollout 2 of 2"  # then the schedule's count does
    assert cmd(m, "start", later).events[0].episode_id == "c1-g0-2-u3"
    cmd(m, "success", later + 1.0)    # counting goes on from the schedule's 1: this label completes the group
    refused(m, "start", later + 2.0, "has all 2 rollouts")
    assert m.snapshot(later + 2.0 + OWN_COUNT_HOLD_S)["progress_text"] == "context 1 of 2, rollout 2 of 2"
    m.on_schedule(schedule(done=2, k=2))
    refused(m, "start", later + 3.0 + OWN_COUNT_HOLD_S, "has all 2 rollouts")


# ---- policy_node's acknowledgement of a start --------------------------------------------------

def test_local_contexts_send_their_instruction_with_the_start():
    m = machine(undo_window_s=0.0)
    snap = m.snapshot(0.0)  # what Start opens, before any start
    assert (snap["instruction"], snap["context_id"]) == ("pick up the red cube", "pick_red/0")
    first = cmd(m, "start", 0.0).events[-1]
    cmd(m, "success", 1.0)
    assert m.snapshot(1.0)["instruction"] == "pick up the blue cube"
    second = cmd(m, "start", 2.0).events[-1]
    assert [(e.context_id, e.instruction) for e in (first, second)] == [
        ("pick_red/0", "pick up the red cube"), ("pick_blue/1", "pick up the blue cube")]


def test_labels_wait_until_policy_node_confirms_recording():
    m = machine(undo_window_s=0.0)
    cmd(m, "start", 0.0, recorded=False)
    snap = m.snapshot(0.5)["episode"]
    assert (snap["active"], snap["ack"], snap["recording"]) == (True, "waiting", False)
    refused(m, "success", 0.5, "not being recorded yet: waiting for policy_node to confirm its start")
    ack(m, "recording", 0.6, episode_id="panel-s-0-9-zz")  # another episode's answer changes nothing
    assert not m.active.recording
    ack(m, "recording", 0.7)
    assert m.snapshot(0.8)["episode"]["recording"] is True
    assert cmd(m, "success", 1.0).events[0].event == "success"


def test_a_refused_start_shows_refused_and_cannot_be_labelled():
    m = machine(undo_window_s=0.0)
    start = cmd(m, "start", 0.0, recorded=False).events[0]
    ack(m, "refused", 0.1, reason="no policy loaded (set parameter checkpoint)")
    snap = m.snapshot(0.2)
    assert not snap["episode"]["active"] and "REFUSED by policy_node: no policy loaded" in snap["error"]
    assert snap["refused"] == {"episode_id": start.episode_id, "context_id": "pick_red/0", "group_id": "panel-s-1",
                               "instruction": "pick up the red cube",
                               "reason": "no policy loaded (set parameter checkpoint)"}
    refused(m, "success", 0.3, "policy_node refused the start of 'panel-s-1-1-u1' \\(no policy loaded")
    refused(m, "failure", 0.3, "'panel-s-1-1-u1' was not recorded: policy_node refused its start",
            episode_id=start.episode_id)
    # Nothing was recorded: Start opens the same rollout again, and the refusal is no longer shown.
    assert snap["progress_text"] == "context 1 of 2, rollout 1 of 1"
    again = cmd(m, "start", 1.0).events[0]
    assert (again.context_id, again.group_id, again.episode_id) == ("pick_red/0", "panel-s-1", "panel-s-1-1-u2")
    assert m.snapshot(1.0)["refused"] is None


def test_no_answer_in_time_is_shown_and_only_abort_or_a_late_confirmation_help():
    m = machine(undo_window_s=0.0, ack_timeout_s=2.0, start_resend_s=10.0)
    cmd(m, "start", 0.0, recorded=False)
    before = m.revision
    assert not m.tick(1.9) and m.active.ack == "waiting"
    m.tick(2.0)
    assert m.active.ack == "no_answer" and m.revision > before
    refused(m, "failure", 2.5, "did not confirm the start within 2 s")
    ack(m, "recording", 3.0)  # a late answer still counts
    assert cmd(m, "failure", 3.5).events[0].event == "failure"

    cmd(m, "start", 4.0, recorded=False)
    m.tick(10.0)
    (abort,) = cmd(m, "abort", 10.5).events  # abort needs no recording: it gives the episode up
    assert abort.event == "abort"


def test_an_unanswered_start_is_published_again_until_policy_node_answers():
    """DDS drops a volatile start sent before the policy node's reader matched: the panel repeats it."""
    m = machine(undo_window_s=0.0, ack_timeout_s=2.0, start_resend_s=0.5)
    (start,) = cmd(m, "start", 0.0, recorded=False).events
    assert not m.tick(0.4)
    assert m.tick(0.5).events == [start]          # the same event, stamp included
    assert not m.tick(0.9)
    assert m.tick(1.0).events == [start] and m.tick(2.5).events == [start]  # no_answer: still repeated
    assert m.active.ack == "no_answer" and m.resent_starts == 3
    m.on_episode_event(start, 2.6)                # our own repeat echoed back changes nothing
    assert m.active.own and m.error == ""
    ack(m, "recording", 2.7)
    assert not m.tick(10.0) and m.resent_starts == 3  # answered: no more repeats


def test_a_repeated_start_from_another_panel_changes_nothing():
    m = machine()
    other = EpisodeEvent(event="start", episode_id="p2-1", context_id="pick_red/5", group_id="g", instruction="x")
    m.on_episode_event(other, 0.0)
    ack(m, "recording", 0.1)
    m.on_episode_event(other, 0.6)                # the other panel had not seen the answer yet
    assert m.active.episode_id == "p2-1" and m.active.recording and m.error == "" and not m.ended


def test_acting_without_recording_offers_abort_only():
    m = machine(undo_window_s=0.0)
    cmd(m, "start", 0.0, recorded=False)
    ack(m, "acting", 0.1, reason="policy_node records nowhere (parameter buffer_path is empty)")
    assert "NOT recorded" in m.snapshot(0.2)["error"]
    refused(m, "success", 0.5, "not being recorded: policy_node records nowhere")
    assert cmd(m, "abort", 1.0).events[0].event == "abort"


def test_an_external_start_is_labelled_only_once_recording():
    m = machine(undo_window_s=0.0)
    m.on_episode_event(EpisodeEvent(event="start", episode_id="sim-1", context_id="pick_red/5", group_id="g",
                                    instruction="pick up the red cube"), 0.0)
    refused(m, "success", 0.5, "waiting for policy_node")
    ack(m, "recording", 0.6)
    assert cmd(m, "success", 1.0).events[0].episode_id == "sim-1"


def test_a_scheduled_group_without_instruction_is_not_started():
    m = machine()
    m.on_schedule(HwSchedule(group_size=2, status="collecting", current=0,
                             groups=[HwGroup(group_id="c3-g0", context_id="pick_red/1")]))
    refused(m, "start", 0.0, "group 'c3-g0' has no instruction")


def test_the_time_limit_aborts_an_episode_that_is_not_recorded():
    m = machine(time_limit_s=10.0)
    cmd(m, "start", 0.0, recorded=False)
    before = m.progress_text()
    (end,) = m.tick(10.0).events
    assert (end.event, end.timeout, end.note) == ("abort", False, "time limit, not recorded")
    assert m.progress_text() == before  # nothing counted: Start re-opens the same rollout
