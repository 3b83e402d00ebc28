"""When the policy node decides (DecisionTrigger) and how the spec's measured latencies enter the
timing: camera latency shifts image stamps in the policy node, command latency shifts send times
in the executor; a -1 override means "the spec's value". Known answers, no ROS."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl.robot.observation import ObservationInputs
from robot_rl.robot.proprio import ProprioMap
from robot_rl.robot.trigger import DecisionTrigger
from robot_rl.ros_config import ExecutorConfig, PolicyNodeConfig
from robot_rl.config import validate_config
from robot_rl.spec import EmbodimentSpec, load_spec

SOURCES = ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle", "gripper=joints:gripper"]


@pytest.fixture(scope="module")
def measured() -> EmbodimentSpec:
    data = load_spec("tabletop").to_dict()
    data["cameras"] = [{"name": "agentview", "height": 8, "width": 8}, {"name": "wrist", "height": 8, "width": 8}]
    data["latency"] = {"camera_s": 0.04, "command_s": 0.12}
    return EmbodimentSpec.from_dict(data)


def test_frame_mode_decides_on_the_first_complete_set_of_frames_after_the_tick():
    t = DecisionTrigger(["agentview", "wrist"], "frame", wait_s=0.05)
    assert not t.frame("agentview", 9.99) and not t.frame("wrist", 9.99)  # nothing due: frames only recorded
    assert not t.due(10.0) and t.pending
    assert not t.frame("agentview", 10.012)  # wrist's newest frame predates the tick
    assert not t.deadline(10.04)
    assert t.frame("wrist", 10.015)  # both cameras delivered after the tick: decide now
    t.done()
    assert not t.pending and not t.deadline(10.2) and not t.frame("wrist", 10.03)


def test_frame_mode_falls_back_to_the_deadline_and_tick_mode_decides_at_once():
    t = DecisionTrigger(["wrist"], "frame", wait_s=0.05)
    t.due(10.0)
    assert not t.deadline(10.049) and t.deadline(10.05)  # the camera went quiet: decide with what there is
    tick = DecisionTrigger(["wrist"], "tick", wait_s=0.05)
    assert tick.due(10.0)
    assert not tick.frame("wrist", 10.01)  # frames never trigger in tick mode
    with pytest.raises(ValueError, match="act_on"):
        DecisionTrigger(["wrist"], "sometimes", wait_s=0.05)  # type: ignore[arg-type]


def test_camera_latency_from_the_spec_shifts_image_stamps(measured):
    cfg = PolicyNodeConfig()
    assert cfg.camera_latency_s == -1 and cfg.camera_latency(measured) == 0.04  # -1 = the spec's
    assert PolicyNodeConfig(camera_latency_s=0.0).camera_latency(measured) == 0.0  # explicit override
    inputs = ObservationInputs(measured, ProprioMap(measured, SOURCES), max_age_s=0.1,
                               camera_latency_s=cfg.camera_latency(measured))
    img = np.zeros((8, 8, 3), np.uint8)
    inputs.set_image("agentview", img, 10.0)
    inputs.set_image("wrist", img, 10.0)
    inputs.set_ee_pose(np.zeros(3), np.array([0, 0, 0, 1.0]), 10.0)
    inputs.set_joints(["gripper"], [1.0], 10.0)
    inputs.instruction = "pick"
    _, t_capture = inputs.assemble()
    assert t_capture == pytest.approx(9.96)  # the frames show the world 40 ms before their stamps
    # Stamped 0.07 s ago but showing the world 0.11 s ago: older than max_input_age_s 0.1.
    assert [p.key for p in inputs.problems(10.07)] == ["stale_image_agentview", "stale_image_wrist"]


def test_command_latency_from_the_spec_with_an_explicit_override(measured):
    assert ExecutorConfig().command_latency(measured) == 0.12
    assert ExecutorConfig(command_latency_s=0.0).command_latency(measured) == 0.0
    assert ExecutorConfig(command_latency_s=0.3).command_latency(load_spec("tabletop")) == 0.3
    for model, field in ((ExecutorConfig, "command_latency_s"), (PolicyNodeConfig, "camera_latency_s")):
        with pytest.raises(ConfigError, match=field):
            validate_config(model, {field: -0.5}, "test")


def test_on_sim_time_frames_of_the_ticks_own_instant_count_even_when_they_come_first():
    trigger = DecisionTrigger(["agentview", "wrist"], "frame", wait_s=0.05)
    # The stand-in stepped to 2.0 and published its frames; the policy node's tick for 2.0 runs after them.
    assert not trigger.frame("agentview", 2.0) and not trigger.frame("wrist", 2.0)  # nothing due yet
    assert trigger.due(2.0)  # decide now, on those frames, not a period later
    trigger.done()
    # Frames from before the tick are not fresh enough: wait for the next ones.
    trigger.frame("agentview", 2.05)
    assert not trigger.due(2.1) and trigger.frame("agentview", 2.1) is False and trigger.frame("wrist", 2.1)
