"""Pure parts of the robot profiles: the gripper command in the driver's units, image topics of
another driver, and a graph with a profile layered in (camera nodes dropped for realsense-ros)."""

from pathlib import Path

import pytest

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.ros_config import ExecutorConfig
from robot_rl.wire import topics
from robot_rl.ros_config.graph import GraphConfig, apply_profile
from robot_rl.ros_config.policy import PolicyNodeConfig


@pytest.mark.parametrize("rng, spec_value, driver", [
    ([-1.0, 1.0], 0.3, 0.3),           # default: the spec's value unchanged
    ([0.0, 0.08], -1.0, 0.0),          # Franka hand width [m]: closed
    ([0.0, 0.08], 1.0, 0.08),          # open
    ([0.0, 0.08], 0.0, 0.04),
    ([0.8, 0.0], -1.0, 0.8),           # Robotiq knuckle [rad]: closed is 0.8
    ([0.8, 0.0], 0.5, 0.2),
])
def test_gripper_command_maps_the_spec_range_onto_the_driver_range(rng, spec_value, driver):
    cfg = validate_config(ExecutorConfig, {"gripper_command_range": rng})
    assert cfg.gripper_command(spec_value) == pytest.approx(driver)


def test_gripper_command_range_refusals():
    for bad in ([0.1, 0.1], [0.0], [0.0, float("nan")]):
        with pytest.raises(ConfigError, match="gripper_command_range"):
            validate_config(ExecutorConfig, {"gripper_command_range": bad})


def test_image_topics_resolve_per_camera():
    assert topics.resolve_image_topics(["agentview", "wrist"], ["wrist=/camera/wrist/color/image_raw"]) == {
        "agentview": "agentview/image_raw", "wrist": "/camera/wrist/color/image_raw"}
    with pytest.raises(ValueError, match=r"camera\(s\) \['side'\] that are not among"):
        topics.resolve_image_topics(["agentview"], ["side=/x"])
    with pytest.raises(ConfigError, match="expected CAMERA=TOPIC"):
        validate_config(PolicyNodeConfig, {"image_topics": ["/camera/camera/color/image_raw"]})


def test_a_profile_with_external_images_drops_the_camera_nodes(tmp_path: Path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "rs.yaml").write_text(
        "policy_node:\n  ros__parameters:\n    image_topics: ['agentview=/camera/camera/color/image_raw']\n")
    (tmp_path / "profiles" / "own.yaml").write_text("policy_node:\n  ros__parameters:\n    device: cpu\n")
    graph = GraphConfig(profiles="profiles", nodes=[
        {"executable": "camera_node", "name": "agentview_camera", "params": ["a.yaml"]},
        {"executable": "policy_node", "name": "policy_node", "params": ["p.yaml"]}])
    rs = apply_profile(graph, tmp_path, "rs")
    assert [(n.name, n.params) for n in rs.nodes] == [("policy_node", ["p.yaml", "profiles/rs.yaml"])]
    assert [n.name for n in apply_profile(graph, tmp_path, "own").nodes] == ["agentview_camera", "policy_node"]
