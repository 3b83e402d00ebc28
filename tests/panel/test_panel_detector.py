"""The detector's proposal on the panel: what it shows, what the accept key means in each state, and
the source/probability the label event carries (pure: no ROS, no torch)."""

from __future__ import annotations

import math

import pytest
from test_panel_machine import cmd, machine, refused

from robot_rl.panel.proposal import make_proposal
from robot_rl.wire.episode_event import EpisodeEvent, parse_episode_event
from robot_rl.errors import ConfigError


@pytest.mark.parametrize("p, threshold, label", [
    (0.97, 0.9, "success"), (0.9, 0.9, "success"), (0.5, 0.5, "success"), (0.02, 0.9, "failure"),
    (0.1, 0.9, "failure"), (0.89, 0.9, "unsure"), (0.15, 0.9, "unsure"), (0.99, 1.01, "unsure"),
])
def test_proposal_from_probability_and_abstain_band(p, threshold, label):
    prop = make_proposal("e", p, threshold, 0.0)
    assert prop.label == label and math.isclose(prop.confidence, max(p, 1 - p))


@pytest.mark.parametrize("p, threshold, match", [
    (1.2, 0.9, "detector p: got 1.2"), (float("nan"), 0.9, "detector p"), (True, 0.9, "detector p"),
    (0.5, 0.4, "detector threshold: got 0.4"),
])
def test_bad_detector_outputs_are_refused(p, threshold, match):
    with pytest.raises(ValueError, match=match):
        make_proposal("e", p, threshold, 0.0)


def _running(m, now=0.0):
    cmd(m, "start", now)
    return m.active.episode_id


def test_accept_labels_with_the_proposal_as_detector_confirmed():
    m = machine(undo_window_s=0.0)
    eid = _running(m)
    m.on_detector(make_proposal(eid, 0.96, 0.9, 1.0))
    assert m.snapshot(1.0)["episode"]["detector"] == {"episode_id": eid, "proposal": "success", "p": 0.96,
                                                      "confidence": 0.96, "threshold": 0.9, "stamp": 1.0}
    (end,) = cmd(m, "accept", 2.0).events
    assert (end.event, end.label_source, end.detector_p, end.operator) == ("success", "detector_confirmed", 0.96, "ana")
    assert parse_episode_event(end.to_json()) == end  # the wire form carries source and probability
    assert m.snapshot(2.0)["episode"]["detector"] is None

    eid = _running(m, 3.0)
    m.on_detector(make_proposal(eid, 0.03, 0.9, 4.0))
    (end,) = cmd(m, "accept", 5.0).events
    assert (end.event, end.label_source, end.detector_p) == ("failure", "detector_confirmed", 0.03)


def test_operator_label_keeps_source_operator_but_records_the_detector_p():
    m = machine(undo_window_s=0.0)
    eid = _running(m)
    m.on_detector(make_proposal(eid, 0.95, 0.9, 1.0))
    (end,) = cmd(m, "failure", 2.0).events  # the operator disagrees
    assert (end.event, end.label_source, end.detector_p) == ("failure", "operator", 0.95)
    _running(m, 3.0)  # no detector output for this one
    (end,) = cmd(m, "success", 4.0).events
    assert (end.label_source, end.detector_p) == ("operator", None)


def test_accept_is_refused_without_a_proposal_or_when_unsure_and_stale_proposals_are_dropped():
    m = machine()
    refused(m, "accept", 0.0, "no episode is running")
    eid = _running(m)
    refused(m, "accept", 1.0, "accept: no detector proposal for the running episode")
    m.on_detector(make_proposal("other-episode", 0.99, 0.9, 1.0))  # a late frame of an older episode
    assert m.snapshot(1.0)["episode"]["detector"] is None
    refused(m, "accept", 1.0, "no detector proposal")
    m.on_detector(make_proposal(eid, 0.7, 0.9, 1.5))
    assert m.snapshot(1.5)["episode"]["detector"]["proposal"] == "unsure"
    refused(m, "accept", 2.0, r"the detector is unsure \(p 0.70, confidence 0.70 below its threshold 0.90\)")


def test_accept_waits_for_recording_like_any_label():
    m = machine()
    cmd(m, "start", 0.0, recorded=False)
    m.on_detector(make_proposal(m.active.episode_id, 0.99, 0.9, 1.0))
    refused(m, "accept", 1.0, "not being recorded yet")


def test_episode_event_detector_fields_are_validated():
    ok = EpisodeEvent(event="success", episode_id="e", label_source="detector", detector_p=0.99)
    assert parse_episode_event(ok.to_json()) == ok
    assert "detector_p" not in EpisodeEvent(event="success", episode_id="e").to_json()  # older readers see no change
    for bad, match in ((dict(label_source="detector_confirmed"), "needs detector_p"),
                       (dict(detector_p=1.5), "detector_p"),
                       (dict(event="abort", detector_p=0.5), "only meaningful for success/failure")):
        data = {"event": "success", "episode_id": "e", **bad}
        with pytest.raises(ConfigError, match=match):
            parse_episode_event(__import__("json").dumps(data))


# ---- automatic mode -------------------------------------------------------------------------------

def _auto(**cfg):
    return machine(detector="/some/detector", auto_label=True, **cfg)


def test_auto_mode_needs_a_detector():
    from robot_rl.ros_config.label import LabelNodeConfig
    with pytest.raises(ValueError, match="auto_label: true needs a detector"):
        LabelNodeConfig(auto_label=True)


def test_spot_checks_are_a_stable_share_of_episode_ids():
    from robot_rl.panel.proposal import is_spot_check
    ids = [f"g{i}-1-{i:06x}" for i in range(4000)]
    share = sum(is_spot_check(e, 0.25) for e in ids) / len(ids)
    assert 0.22 < share < 0.28
    assert [is_spot_check(e, 0.25) for e in ids[:50]] == [is_spot_check(e, 0.25) for e in ids[:50]]
    assert not any(is_spot_check(e, 0.0) for e in ids) and all(is_spot_check(e, 1.0) for e in ids)


def test_confident_successes_label_themselves_after_the_confirm_streak():
    m = _auto(undo_window_s=0.0, spot_check_share=0.0, auto_confirm_verdicts=2)
    eid = _running(m)
    assert not m.on_detector(make_proposal(eid, 0.97, 0.9, 1.0), 1.0)      # one verdict is not enough
    assert not m.on_detector(make_proposal(eid, 0.5, 0.9, 1.5), 1.5)       # unsure breaks the streak
    assert not m.on_detector(make_proposal(eid, 0.97, 0.9, 2.0), 2.0)
    (end,) = m.on_detector(make_proposal(eid, 0.98, 0.9, 2.5), 2.5).events
    assert (end.event, end.label_source, end.detector_p, end.stamp) == ("success", "detector", 0.98, 2.5)
    assert m.active is None and m.snapshot(3.0)["auto"]["auto_labelled"] == 1
    # Confident failures never end an episode early: the operator or the time limit does.
    eid = _running(m, 4.0)
    for t in (5.0, 6.0, 7.0):
        assert not m.on_detector(make_proposal(eid, 0.01, 0.9, t), t)
    assert m.active is not None


def test_an_undone_automatic_label_leaves_the_episode_to_the_operator():
    m = _auto(undo_window_s=3.0, spot_check_share=0.0, auto_confirm_verdicts=1)
    eid = _running(m)
    assert not m.on_detector(make_proposal(eid, 0.99, 0.9, 1.0), 1.0)  # held for the undo window
    assert m.pending is not None and m.pending.source == "detector"
    cmd(m, "undo", 2.0)
    assert not m.on_detector(make_proposal(eid, 0.99, 0.9, 3.0), 3.0)  # no second automatic label
    assert m.active is not None and m.snapshot(3.0)["auto"]["auto_undone"] == 1
    (end,) = [e for e in cmd(m, "failure", 4.0).events] or m.tick(7.0).events
    assert (end.label_source, end.detector_p) == ("operator", 0.99)
    assert m.snapshot(8.0)["auto"]["disagreements"] == 1


def test_spot_checks_wait_for_the_operator_and_count_disagreements():
    m = _auto(undo_window_s=0.0, spot_check_share=1.0, auto_confirm_verdicts=1)
    eid = _running(m)
    assert m.snapshot(0.5)["episode"]["spot_check"] is True
    assert not m.on_detector(make_proposal(eid, 0.99, 0.9, 1.0), 1.0)  # a spot check: not labelled
    (end,) = cmd(m, "failure", 2.0).events                              # the operator disagrees
    assert (end.label_source, end.detector_p) == ("operator", 0.99)
    eid = _running(m, 3.0)
    m.on_detector(make_proposal(eid, 0.99, 0.9, 4.0), 4.0)
    (end,) = cmd(m, "accept", 5.0).events                               # ... and agrees with the next
    assert end.label_source == "detector_confirmed"
    auto = m.snapshot(6.0)["auto"]
    assert auto == {"enabled": True, "auto_labelled": 0, "auto_undone": 0, "spot_checks": 2, "disagreements": 1,
                    "spot_check_disagreements": 1}
