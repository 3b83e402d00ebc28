"""The stand-in's verdict message (robot_rl/wire/sim_verdict.py) and its reality parameters (SimRobotConfig)."""

from __future__ import annotations

import json

import pytest

from robot_rl.config import validate_config
from robot_rl.env import suite_kwargs, suite_reality_profiles
from robot_rl.errors import ConfigError
from robot_rl.ros_config.sim_robot import SimRobotConfig
from robot_rl.wire import topics
from robot_rl.wire.sim_verdict import SimVerdict, parse_sim_verdict


def test_verdict_round_trips_through_json() -> None:
    v = SimVerdict(episode_id="sim1-g0-1", verdict="failure", context_id="pick_red/3", group_id="sim1-g0",
                   steps=60, timeout=True, stamp=12.5, reported=False)
    back = parse_sim_verdict(v.to_json())
    assert back == v and not back.success and back.context.init_id == 3
    assert parse_sim_verdict('{"episode_id": "e1", "verdict": "success", "context_id": "t/0", "steps": 3}').success


@pytest.mark.parametrize("text, needle", [
    ("not json", "not JSON"),
    ("[1, 2]", "expected a mapping"),
    ('{"episode_id": "e1", "verdict": "win", "context_id": "t/0", "steps": 3}', "verdict"),
    ('{"episode_id": "e1", "verdict": "success", "context_id": "t", "steps": 3}', "task/123"),
    ('{"episode_id": "e1", "verdict": "success", "context_id": "t/0", "steps": -1}', "steps"),
    ('{"episode_id": "e1", "verdict": "success", "context_id": "t/0", "steps": 1, "timeout": true}', "timeout"),
    ('{"episode_id": "e1", "verdict": "success", "context_id": "t/0", "steps": 1, "extra": 1}', "extra: unknown key"),
    ('{"verdict": "success", "context_id": "t/0", "steps": 1}', "episode_id: required"),
])
def test_bad_verdicts_are_refused_naming_the_field(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="sim verdict") as err:
        parse_sim_verdict(text)
    assert needle in str(err.value)


def test_topic_names_of_the_contract() -> None:
    assert topics.SIM_VERDICT == "/sim_robot/verdict" and topics.CLOCK == "/clock"


def test_reality_profiles_per_suite() -> None:
    assert suite_reality_profiles("tabletop") == ("none", "lab", "hard")
    assert suite_reality_profiles("point_reach") == ("none",)
    kwargs = suite_kwargs("tabletop", {"max_steps": 40}, "lab", 3, {"without": ["latency"]})
    assert kwargs == {"max_steps": 40, "reality": {"profile": "lab", "seed": 3, "without": ["latency"]}}
    assert suite_kwargs("point_reach", {"a": 1}) == {"a": 1}  # none: the options untouched


@pytest.mark.parametrize("params, needles", [
    ({"reality": "lap"}, ["unknown profile 'lap'", "allowed: none, lab, hard"]),
    ({"suite": "point_reach", "reality": "lab"}, ["unknown profile 'lab'", "allowed: none"]),
    ({"reality": "lab", "reality_options": '{"only": ["camera"]}'}, ["'camera'", "'camera_pose'", "'latency'"]),
    ({"reality": "lab", "reality_options": '{"overrides": {"latency": {"delay": 1}}}'},
     ["overrides.latency.delay", "allowed: latency_s"]),
    ({"reality_options": '{"onyl": []}'}, ["onyl", "allowed: only, without, overrides"]),
    ({"reality_options": "[1]"}, ["JSON object"]),
    ({"reality": "lab", "suite_options": '{"reality": {"profile": "hard"}}'}, ["set the reality twice"]),
    ({"camera_width": 640}, ["give both or neither"]),
    ({"clock_speed": -1.0}, ["clock_speed"]),
])
def test_sim_robot_config_refuses_bad_reality(params: dict, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(SimRobotConfig, params, "sim_robot")
    for needle in needles:
        assert needle in str(err.value)


def test_sim_robot_config_builds_the_suite_options() -> None:
    cfg = validate_config(SimRobotConfig, {"reality": "hard", "reality_seed": 2, "suite_options": '{"max_steps": 30}',
                                           "reality_options": json.dumps({"only": ["camera_pose"]}),
                                           "camera_width": 640, "camera_height": 480, "publish_clock": True,
                                           "clock_speed": 0.0}, "sim_robot")
    assert cfg.suite_kwargs() == {"max_steps": 30,
                                  "reality": {"profile": "hard", "seed": 2, "only": ["camera_pose"]}}
    assert SimRobotConfig().suite_kwargs() == {}  # default: the training simulator, wall-clock time
    assert not SimRobotConfig().publish_clock and SimRobotConfig().reality == "none"
