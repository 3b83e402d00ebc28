"""The scripted operator's decisions, without ROS: panel states in, buttons out."""

from __future__ import annotations

import pytest

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.rehearsal.operator import Action, ScriptedOperator, operator_seconds
from robot_rl.ros_config.rehearsal_operator import OperatorConfig


def _cfg(**kw) -> OperatorConfig:
    base = {"reaction_delay_s": 1.0, "reaction_jitter_s": 0.0, "reset_s": 5.0, "ack_patience_s": 3.0}
    return OperatorConfig(**{**base, **kw})


def _state(active=False, episode_id=None, recording=False, ack=None, status="collecting", current=0, estop=False):
    return {"estop": estop, "schedule": {"status": status, "current": current} if status else None,
            "episode": {"active": active, "episode_id": episode_id, "group_id": "g" if active else None,
                        "context_id": "pick_red/0" if active else None, "recording": recording, "ack": ack}}


def _run_episode(op: ScriptedOperator, t: float, eid: str, success: bool) -> tuple[Action, float]:
    """Start, recording, verdict; returns the label action and when it came."""
    assert op.decide(_state(), t) == Action("start")
    op.on_started(eid, "g", "pick_red/0", t)
    running = _state(True, eid, recording=True, ack="recording")
    assert op.decide(running, t + 0.5) is None          # no verdict yet: keep watching
    op.on_verdict(eid, success, steps=12, now=t + 2.0)
    now = t + 2.0
    while (action := op.decide(running, now)) is None:
        now += 0.1
        assert now < t + 10, "never labelled"
    return action, now


def test_labels_the_truth_after_the_reaction_delay_then_waits_the_reset():
    op = ScriptedOperator(_cfg())
    action, when = _run_episode(op, 0.0, "g-1-a", success=True)
    assert action == Action("success", "g-1-a")
    assert when == pytest.approx(3.0, abs=0.11)          # verdict at 2 s + 1 s reaction
    rec = op.on_ended("success", when)
    assert rec.truth is True and rec.label == "success" and not rec.mislabelled and rec.steps == 12
    # The scene reset: no Start for reset_s after the label, then Start.
    assert op.decide(_state(), when + 4.9) is None
    assert op.decide(_state(), when + 5.0) == Action("start")
    action, when = _run_episode(op, 10.0, "g-2-b", success=False)
    assert action == Action("failure", "g-2-b")
    op.on_ended("failure", when)
    assert op.summary()["labelled"] == 2 and op.summary()["mislabelled"] == 0
    # Operator time: Start -> label of each (3 s) plus one reset each.
    assert op.summary()["operator_s"] == pytest.approx(2 * 3.0 + 2 * 5.0, abs=0.25)


def test_follows_the_schedule_shown_on_the_page():
    op = ScriptedOperator(_cfg())
    assert op.decide(_state(status="training"), 0.0) is None      # hw-train is updating: nothing to collect
    assert op.decide(_state(status="deploying"), 0.0) is None
    assert op.decide(_state(status=None), 0.0) is None             # hw-train not up yet
    assert op.decide(_state(current=-1), 0.0) is None
    assert op.decide(_state(), 0.0) == Action("start")
    assert op.decide(_state(estop=True), 0.0) is None              # nobody presses Start on a latched e-stop
    free = ScriptedOperator(_cfg(), schedule_required=False)
    assert free.decide(_state(status=None), 0.0) == Action("start")


def test_aborts_an_episode_the_policy_node_never_confirmed():
    op = ScriptedOperator(_cfg())
    op.on_started("g-1-a", "g", "pick_red/0", 0.0)
    waiting = _state(True, "g-1-a", recording=False, ack=None)
    assert op.decide(waiting, 2.0) is None
    assert op.decide(waiting, 3.5) == Action("abort", "g-1-a")
    assert op.decide(_state(True, "g-1-a", ack="acting"), 0.1) == Action("abort", "g-1-a")
    rec = op.on_ended("abort", 3.6)
    assert rec.label == "abort" and op.summary()["labelled"] == 0 and op.summary()["aborted"] == 1


def test_an_episode_the_panel_ended_itself_is_closed():
    op = ScriptedOperator(_cfg())
    op.on_started("g-1-a", "g", "pick_red/0", 0.0)
    op.on_verdict("g-1-a", True, 3, 1.0)
    assert op.decide(_state(True, "g-1-a", recording=True, ack="recording"), 1.0) is None  # reaction pending
    assert op.decide(_state(), 1.5) is None            # the panel ended it (time limit): reset time starts
    assert op.episodes[-1].label == "ended" and op.current is None
    assert op.decide(_state(), 6.5) == Action("start")


def test_mislabel_rate_is_seeded_and_about_right():
    def labels(seed: int, rate: float) -> list[bool]:
        op = ScriptedOperator(_cfg(mislabel_rate=rate, seed=seed, reaction_jitter_s=0.5, reset_s=0.0))
        wrong = []
        for i in range(400):
            action, when = _run_episode(op, 20.0 * i, f"g-{i}-x", success=i % 2 == 0)
            rec = op.on_ended(action.command, when)
            assert rec.mislabelled == (action.command != ("success" if i % 2 == 0 else "failure"))
            wrong.append(rec.mislabelled)
        return wrong

    a, b = labels(3, 0.1), labels(3, 0.1)
    assert a == b                                        # same seed, same labels
    assert labels(4, 0.1) != a
    assert 0.06 < sum(a) / len(a) < 0.14
    assert not any(labels(3, 0.0))


def test_operator_seconds_counts_start_to_label_plus_reset():
    op = ScriptedOperator(_cfg())
    op.on_started("e1", "g", "pick_red/0", 10.0)
    op.on_ended("success", 14.0)
    op.on_started("e2", "g", "pick_red/0", 20.0)
    op.on_ended("failure", 21.5)
    assert operator_seconds(op.episodes, 5.0) == pytest.approx(4.0 + 1.5 + 10.0)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="mislabel_rate"):
        validate_config(OperatorConfig, {"mislabel_rate": 1.5})
    with pytest.raises(ConfigError, match="panel_url"):
        validate_config(OperatorConfig, {"panel_url": "127.0.0.1:8080/api"})
    with pytest.raises(ConfigError, match="reaction_dalay_s: unknown key; allowed keys: .*reaction_delay_s"):
        validate_config(OperatorConfig, {"reaction_dalay_s": 1.0})


def test_a_refused_start_is_retried_after_a_pause():
    op = ScriptedOperator(_cfg(retry_s=1.0))
    assert op.decide(_state(), 0.0) == Action("start")
    op.on_start_refused(0.0)              # e.g. "group has all 2 rollouts; waiting for hw-train's next schedule"
    assert op.decide(_state(), 0.9) is None
    assert op.decide(_state(), 1.0) == Action("start")
