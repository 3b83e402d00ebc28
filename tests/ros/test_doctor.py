"""`robot-rl doctor` against a running graph: the franka_realsense profile's policy_node (a real
process) beside the driver emulator (tests/ros/driver_emulator.py: realsense-ros and franka_ros2,
which cannot run here). Called through its CLI function (entry-point metadata comes from the main
install). It must see the emulator's 640x480 frames (fitted: a warning), the joints on /joint_states,
report a proprio joint the driver does not publish, and a camera topic nobody publishes."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ros_harness import ROOT, NodeProcess, ros_env
from ros_nodes.doctor import register

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CONFIG = ROOT / "launch" / "config"


def wait_started(proc: NodeProcess, timeout: float = 60.0) -> None:
    """Until the node logged (its imports are done and it exists on DDS)."""
    end = time.monotonic() + timeout
    while "[policy_node]" not in proc.log():
        assert proc.alive() and time.monotonic() < end, proc.log()
        time.sleep(0.2)


def doctor(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["doctor", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_doctor_reports_what_the_running_graph_shows(tmp_path, domain_id, node_logs, capsys, monkeypatch):
    env = ros_env(domain_id, large_data=True)
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")  # the doctor's own participant samples images
    files = [CONFIG / "policy.yaml", CONFIG / "common.yaml", CONFIG / "profiles" / "franka_realsense.yaml"]
    policy = NodeProcess("policy_node", [a for f in files for a in ("--params-file", str(f))], env, node_logs)
    emulator = subprocess.Popen([sys.executable, str(Path(__file__).with_name("driver_emulator.py")), "franka",
                                 "bgr8", str(tmp_path / "received.jsonl")], env=env)
    base = ["robot", "--profile", "franka_realsense", "--domain-id", str(domain_id), "--wait", "6"]
    try:
        wait_started(policy)
        code, out = doctor(capsys, *base)
        assert policy.alive(), policy.log()
        assert "policy_node" in out and "franka_driver_emulator" in out, out
        assert code == 0, out
        assert out.count("streams 640x480; policy_node fits it to the spec's 128x128") == 2, out
        # A proprio joint the driver does not publish, and a camera topic nothing publishes.
        sources = ("[\"joint_pos=joints:fr3_joint1,fr3_joint2,fr3_joint3,fr3_joint4,fr3_joint5,fr3_joint6,"
                   "fr3_joint7\",\"gripper=joints:panda_finger_joint1 from 0..0.04 to -1..1\"]")
        code, out = doctor(capsys, *base, "--set", f"policy_node.proprio_sources={sources}")
        assert code == 1 and "/joint_states has no joint(s) ['panda_finger_joint1']" in out, out
    finally:
        policy.stop()
        emulator.terminate()
        emulator.wait(timeout=10)


def test_doctor_reports_a_subscription_without_publisher(tmp_path, domain_id, node_logs, capsys, monkeypatch):
    """The policy node subscribes to the realsense topics, but no camera driver runs."""
    env = ros_env(domain_id, large_data=False)
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "DEFAULT")
    files = [CONFIG / "policy.yaml", CONFIG / "common.yaml", CONFIG / "profiles" / "ur_realsense.yaml"]
    policy = NodeProcess("policy_node", [a for f in files for a in ("--params-file", str(f))], env, node_logs)
    try:
        wait_started(policy)
        code, out = doctor(capsys, "robot", "--profile", "ur_realsense", "--domain-id", str(domain_id),
                           "--wait", "5")
        assert code == 1, out
        assert "policy_node subscribe(s) to /camera/camera/color/image_raw but nothing publishes it" in out
        assert "/joint_states but nothing publishes it" in out
    finally:
        policy.stop()
