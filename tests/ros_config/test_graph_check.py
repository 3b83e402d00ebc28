"""Cross-node checks of a graph and of a running graph, in words (robot-rl up --check, robot-rl doctor)."""

from pathlib import Path

import pytest

from robot_rl.config import validate_config
from robot_rl.ros_config import NODE_CONFIGS
from robot_rl.ros_config.graph import apply_overrides, apply_profile, load_graph, validate_graph
from robot_rl.ros_config.graph_check import NodeInfo, RunningGraph, camera_fit, check_graph, check_running
from robot_rl.spec import load_spec

GRAPHS = Path(__file__).resolve().parents[2] / "launch" / "graphs"
SERIALS = {"agentview_camera.serial": "111", "wrist_camera.serial": "222"}


def findings(graph_name: str, sets: dict, profile: str | None = None) -> list[str]:
    graph = load_graph(GRAPHS / f"{graph_name}.yaml")
    if profile:
        graph = apply_profile(graph, GRAPHS, profile)
    graph = apply_overrides(graph, sets)
    configs = validate_graph(graph, GRAPHS, NODE_CONFIGS)
    return [str(f) for f in check_graph([NodeInfo(n.name, n.executable, configs[n.name]) for n in graph.nodes])]


def errors(out: list[str]) -> list[str]:
    return [f for f in out if f.startswith("error")]


def test_the_shipped_graphs_have_no_cross_node_errors_once_serials_are_set():
    assert errors(findings("sim_robot", {})) == []
    out = findings("robot", SERIALS)
    assert errors(out) == [], out
    assert sum("streams 640x480; policy_node fits it to the spec's 128x128" in f for f in out) == 2
    for profile in ("ur_realsense", "franka_realsense"):
        out = findings("robot", {}, profile)
        assert errors(out) == [], out
        assert any("from /camera/camera/color/image_raw, another driver" in f for f in out)


def test_duplicate_serials_including_both_empty_are_errors():
    both_empty = errors(findings("robot", {}))
    assert len(both_empty) == 1 and "agentview_camera, wrist_camera have no serial" in both_empty[0]
    same = errors(findings("robot", {"agentview_camera.serial": "9", "wrist_camera.serial": "9"}))
    assert len(same) == 1 and "serial '9'" in same[0] and "same device" in same[0]
    # Software/OpenCV sources are not RealSense devices opened by serial.
    assert errors(findings("robot", {"agentview_camera.source": "software", "wrist_camera.source": "software"})) == []


def test_camera_sizes_against_the_spec():
    small = errors(findings("robot", {**SERIALS, "wrist_camera.width": 96, "wrist_camera.height": 96}))
    assert len(small) == 1 and "'wrist' streams 96x96, smaller than the spec's 128x128" in small[0]
    no_resize = errors(findings("robot", {**SERIALS, "policy_node.resize_images": False}))
    assert len(no_resize) == 2 and "resize_images: false" in no_resize[0]
    assert camera_fit("a", (128, 128), (128, 128), True, "x") is None


def test_qos_spec_and_command_mismatches():
    out = errors(findings("robot", {**SERIALS, "policy_node.image_qos": "reliable"}))
    assert len(out) == 2 and "best effort (qos: sensor_data) but policy_node subscribes reliable" in out[0]
    out = errors(findings("robot", {**SERIALS, "action_executor.spec": "arm7_joint"}))
    assert any("nodes name different specs" in f for f in out)
    assert any("command_type pose" in f and "joint-space" in f for f in out)
    out = errors(findings("sim_robot", {"action_executor.command_type": "twist"}))
    assert out == ["error: sim_robot obeys pose commands but action_executor sends twist"]
    names = [f"panda_joint{i}" for i in range(1, 8)]
    out = errors(findings("robot", {"action_executor.joint_names": names}, "franka_realsense"))
    assert len(out) == 1 and "commands joints ['panda_joint1'" in out[0] and "never read" in out[0]
    out = findings("robot", {**SERIALS, "action_executor.command_type": "twist"})
    assert any("MoveIt Servo listens on /servo_node/delta_twist_cmds" in f for f in out)


def test_the_panel_and_the_policy_show_the_same_camera_topics():
    out = findings("robot", {"success_label_node.image_topics": ["wrist=/camera/other/color/image_raw"]},
                   "ur_realsense")
    assert any("success_label_node shows camera 'wrist' from /camera/other/color/image_raw but policy_node acts "
               "on /camera/wrist/color/image_raw" in f for f in out), out


def test_a_missing_camera_publisher_is_an_error():
    out = errors(findings("robot", {**SERIALS, "wrist_camera.camera_name": "side"}))
    assert any("nothing in this graph publishes wrist/image_raw" in f for f in out), out


def test_running_graph_findings():
    spec = load_spec("arm7_joint")
    topics = {"agentview": "/camera/camera/color/image_raw", "wrist": "/camera/wrist/color/image_raw"}
    sources = ["joint_pos=joints:fr3_joint1,fr3_joint2,fr3_joint3,fr3_joint4,fr3_joint5,fr3_joint6,fr3_joint7",
               "gripper=joints:fr3_finger_joint1 from 0..0.04 to -1..1"]
    seen = RunningGraph(
        publishers={"/camera/camera/color/image_raw": [("camera", "best_effort")],
                    "/joint_states": [("joint_state_broadcaster", "reliable")],
                    "/diagnostics": [("action_executor", "best_effort")]},
        subscribers={"/camera/camera/color/image_raw": [("policy_node", "best_effort")],
                     "/camera/wrist/color/image_raw": [("policy_node", "best_effort")],
                     "/joint_states": [("policy_node", "best_effort")],
                     "/diagnostics": [("success_label_node", "reliable")],
                     "/robot_rl/instruction": [("policy_node", "reliable")]},
        joint_names=[f"fr3_joint{i}" for i in range(1, 8)],
        image_sizes={"/camera/camera/color/image_raw": (64, 48)})
    out = [str(f) for f in check_running(seen, spec, topics, sources)]
    assert any("policy_node subscribe(s) to /camera/wrist/color/image_raw but nothing publishes it" in f
               for f in out), out
    assert any("success_label_node subscribes to /diagnostics reliable but every publisher" in f for f in out)
    assert any("no joint(s) ['fr3_finger_joint1']" in f for f in out)
    assert any("streams 64x48, smaller than the spec's 128x128" in f for f in out)
    assert not any("/robot_rl/instruction" in f for f in out)  # the graph's own optional inputs may be quiet
    assert all(f.startswith("error") for f in out), out


def test_policy_config_image_topics_map():
    cfg = validate_config(NODE_CONFIGS["policy_node"], {"image_topics": ["wrist=/w"]})
    assert cfg.image_topics_map() == {"wrist": "/w"}
    with pytest.raises(Exception, match="given twice"):
        validate_config(NODE_CONFIGS["policy_node"], {"image_topics": ["wrist=/w", "wrist=/v"]})


def test_up_check_prints_the_findings_and_fails_on_errors(capsys):
    """Through the CLI function (entry-point metadata comes from the main install, so not via `robot-rl`)."""
    import argparse

    from robot_rl.up_cli import register
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["up", "robot", "--check"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "cross-node check: 1 error(s), 2 warning(s)" in out and "would open the same device" in out
    args = parser.parse_args(["up", "robot", "--check", "--profile", "ur_realsense"])
    assert args.func(args) == 0
    assert "cross-node check: 0 error(s)" in capsys.readouterr().out
    args = parser.parse_args(["up", "robot", "--profile", "default"])  # refuses to start what --check refuses
    assert args.func(args) == 1
    assert "nothing started" in capsys.readouterr().err


def test_image_topics_for_a_camera_the_spec_lacks_is_an_error_not_a_crash():
    out = errors(findings("robot", {"policy_node.image_topics": ["side=/x"]}, "ur_realsense"))
    assert any("policy_node: image_topics names camera(s) ['side']" in f for f in out), out
