"""Each shipped robot profile (launch/config/profiles) against a driver emulator process
(tests/ros/driver_emulator.py): only the vendor drivers, which cannot run here, are emulated
(realsense-ros, ur_robot_driver + MoveIt Servo + a tf-to-pose relay, franka_ros2's controllers),
with their topic names, message types, QoS, frames, encodings and units. The real policy_node (a
tiny policy saved in the test) and action_executor run from the same parameter files as the robot
graph (node file, common.yaml, the profile) plus the test's own overrides (checkpoint, CPU, act
without a panel episode, dry_run off). What the emulator receives must be: finite commands within
the profile's limits, in the driver's frame, on the driver's topics, the gripper in the driver's units.
The panel is not started (its e-stop and image paths have their own tests); the executor's heartbeat
list is the policy's alone here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from std_msgs.msg import String

from ros_harness import ROOT, NodeProcess, Probe, ros_env
from robot_rl.config import load_yaml
from robot_rl.policies import make_policy, save_policy
from robot_rl.wire import topics
from robot_rl.spec import load_spec
from ros_nodes import qos

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CONFIG = ROOT / "launch" / "config"
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
CASES = {  # profile: (emulated robot, camera encoding)
    "ur_realsense": ("ur", "rgb8"),
    "franka_realsense": ("franka", "bgr8"),
}


def _profile(name: str) -> dict:
    return load_yaml(CONFIG / "profiles" / f"{name}.yaml")


def _wait_for(probe: Probe, path: Path, predicate, timeout: float, procs: list, what: str) -> list[dict]:
    end = time.monotonic() + timeout
    while True:
        probe.spin_for(0.2)
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        if predicate(lines):
            return lines
        dead = [p for p in procs if not p.alive()]
        if dead or time.monotonic() > end:
            logs = "\n".join(f"--- {p.log_path.name}\n{p.log()[-3000:]}" for p in procs)
            raise AssertionError(f"{what}: got {len(lines)} commands; dead: {len(dead)}\n{logs}")


@pytest.mark.parametrize("profile", sorted(CASES))
def test_profile_commands_reach_the_emulated_driver(profile, tmp_path, domain_id, node_logs):
    robot, encoding = CASES[profile]
    prof = _profile(profile)
    spec = load_spec(prof["/**"]["ros__parameters"]["spec"])
    torch.manual_seed(0)
    save_policy(make_policy("tiny", spec, TINY), tmp_path / "ckpt")
    overrides = {
        "policy_node": {"ros__parameters": {
            "checkpoint": str(tmp_path / "ckpt"), "device": "cpu", "act_outside_episodes": True,
            "max_input_age_s": 1.0, "replan_every": 1}},
        "action_executor": {"ros__parameters": {
            "dry_run": False, "heartbeat_topics": ["/robot_rl/heartbeat/policy"],
            "max_observation_age_s": 1.5, "watchdog": {"chunk_hold_s": 2.0, "chunk_stop_s": 4.0}}},
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(overrides))
    env = dict(ros_env(domain_id, large_data=True), OMP_NUM_THREADS="1")
    out = tmp_path / "received.jsonl"
    files = {"policy_node": "policy.yaml", "action_executor": "executor.yaml"}
    procs = [NodeProcess(node, [a for f in (CONFIG / file, CONFIG / "common.yaml", CONFIG / "profiles" /
                                            f"{profile}.yaml", tmp_path / "test.yaml")
                                for a in ("--params-file", str(f))], env, node_logs)
             for node, file in files.items()]
    # The emulator logs to a file like the nodes (shown on failure; an unread pipe could also block it).
    procs.append(NodeProcess(f"{robot}_driver_emulator", [], env, node_logs, command=[
        sys.executable, str(Path(__file__).with_name("driver_emulator.py")), robot, encoding, str(out)]))
    probe = Probe(domain_id, large_data=True)  # the operator's side: the task instruction (latched)
    probe.node.create_publisher(String, topics.INSTRUCTION, qos.LATCHED).publish(String(data="pick up the cube"))
    try:
        grip = "/robot_rl/command/gripper"
        lines = _wait_for(probe, out, lambda ls: sum(x["topic"] != grip for x in ls) >= 5
                          and any(x["topic"] == grip for x in ls), 90, procs, "commands at the emulated driver")
    finally:
        for p in procs:
            p.stop()
        probe.close()
    ex = prof["action_executor"]["ros__parameters"]
    grippers = [x["data"] for x in lines if x["topic"] == grip]
    lo, hi = sorted(ex["gripper_command_range"])
    assert all(np.isfinite(g) and lo - 1e-9 <= g <= hi + 1e-9 for g in grippers), grippers  # driver units
    arm = [x for x in lines if x["topic"] != grip]
    if robot == "ur":
        limits = load_yaml(CONFIG / "executor.yaml")["action_executor"]["ros__parameters"]["limits"]
        for x in arm:
            assert x["topic"] == "/servo_node/delta_twist_cmds" and x["frame_id"] == "base_link"
            lin, ang = np.array(x["linear"]), np.array(x["angular"])
            assert np.isfinite(lin).all() and np.isfinite(ang).all()
            assert np.linalg.norm(lin) <= limits["max_linear_speed_m_s"] + 1e-6
            assert np.linalg.norm(ang) <= limits["max_angular_speed_rad_s"] + 1e-6
        assert any(np.linalg.norm(x["linear"]) > 0 for x in arm), "the policy's motion never reached Servo"
    else:
        jl = ex["joint_limits"]
        for x in arm:
            assert x["topic"] == "/fr3_arm_controller/joint_trajectory" and x["frame_id"] == "fr3_link0"
            assert x["joint_names"] == ex["joint_names"]
            points = np.array(x["points"])  # (m, 7)
            assert points.ndim == 2 and points.shape[1] == 7 and np.isfinite(points).all()
            assert (points >= np.array(jl["position_low"]) - 1e-9).all()
            assert (points <= np.array(jl["position_high"]) + 1e-9).all()
            steps = np.diff(np.vstack([x["current"], points]), axis=0)
            assert np.abs(steps).max() <= jl["max_step_rad"][0] + 1e-6
