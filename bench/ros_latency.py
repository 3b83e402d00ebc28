"""Capture-to-chunk latency over DDS vs the same policy in-process, and dropped control ticks.

This process plays camera + robot driver: it publishes two 128x128 rgb8 cameras at 30 Hz (stamped
at publish = capture), the end-effector pose and joint states at 50 Hz and the instruction, to a
real ``policy_node`` process running the tiny VLA (onnxruntime CPU when robot_rl.deploy can export
it, else torch) at the tabletop spec's 10 Hz, acting every tick. Latency = arrival of the chunk's
stamp message here - the observation's capture stamp (the oldest input). Dropped ticks = control
ticks (10 Hz x run time) without a chunk. Baseline: ``runner.sample`` on the same batch in-process.

    .venv/bin/python bench/ros_latency.py            # 60 s run
    .venv/bin/python bench/ros_latency.py --seconds 15
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured run length (default 60)")
    args = parser.parse_args()
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 200)))

    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Header, String

    from robot_rl.deploy import load_runner
    from robot_rl.policies import make_policy, save_policy
    from robot_rl.ros_config import topics
    from robot_rl.spec import load_spec
    from ros_nodes import qos
    from ros_nodes.messages import image_to_msg, stamp_to_s

    spec = load_spec("tabletop")
    tmp = Path(tempfile.mkdtemp(prefix="ros_latency-"))
    torch.manual_seed(0)
    policy = make_policy("tiny", spec, TINY)
    save_policy(policy, tmp / "ckpt")
    try:
        from robot_rl.deploy import export_onnx
        checkpoint = str(export_onnx(policy, tmp / "policy.onnx"))
    except Exception as err:  # noqa: BLE001 - fall back to torch and say so
        print(f"ONNX export failed ({err}); using torch")
        checkpoint = str(tmp / "ckpt")
    runner = load_runner(checkpoint, device="cpu")
    print(f"policy: tiny VLA via {runner.provider} ({Path(checkpoint).name})")

    params = {"policy_node": {"ros__parameters": {
        "spec": "tabletop", "checkpoint": checkpoint, "device": "cpu", "replan_every": 1, "act_outside_episodes": True,
        "max_input_age_s": 0.3, "proprio_sources": ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle",
                                                    "gripper=joints:gripper"]}}}
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    exe = Path(sys.executable).parent / "policy_node"
    node_proc = subprocess.Popen([str(exe), "--ros-args", "--params-file", str(tmp / "params.yaml")],
                                 stdout=(tmp / "policy_node.log").open("w"), stderr=subprocess.STDOUT, env=os.environ)

    rclpy.init()
    node = rclpy.create_node("ros_latency_bench")
    rng = np.random.default_rng(0)
    frames = {c.name: rng.integers(0, 255, c.shape, dtype=np.uint8) for c in spec.cameras}
    image_pubs = {c: node.create_publisher(__import__("sensor_msgs.msg", fromlist=["Image"]).Image,
                                           topics.image_topic(c), qos.SENSOR) for c in frames}
    pose_pub = node.create_publisher(PoseStamped, topics.EE_POSE, qos.SENSOR)
    joint_pub = node.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR)
    instr_pub = node.create_publisher(String, topics.INSTRUCTION, qos.LATCHED)
    arrivals: list[tuple[float, float]] = []  # (arrival, capture stamp) in ROS time

    def now_s() -> float:
        return node.get_clock().now().nanoseconds * 1e-9

    node.create_subscription(Header, topics.ACTION_CHUNK_STAMP, lambda m: arrivals.append((now_s(), stamp_to_s(m.stamp))),
                             qos.RELIABLE)

    def cameras() -> None:
        stamp = node.get_clock().now().to_msg()
        for c, pub in image_pubs.items():
            pub.publish(image_to_msg(frames[c], "rgb8", stamp, c))

    def state() -> None:
        stamp = node.get_clock().now().to_msg()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, "base_link"
        pose.pose.orientation.w = 1.0
        pose_pub.publish(pose)
        js = JointState()
        js.header.stamp, js.name, js.position = stamp, ["gripper"], [1.0]
        joint_pub.publish(js)

    node.create_timer(1 / 30, cameras)
    node.create_timer(1 / 50, state)
    instr_pub.publish(String(data="pick up the red cube"))
    ex = SingleThreadedExecutor()
    ex.add_node(node)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.005)

    try:
        deadline = time.monotonic() + 120
        while len(arrivals) < 20 and time.monotonic() < deadline:  # start-up, discovery, warm-up
            spin(0.5)
        if len(arrivals) < 20:
            raise SystemExit(f"policy_node produced no chunks; see {tmp / 'policy_node.log'}")
        arrivals.clear()
        t0 = now_s()
        spin(args.seconds)
        t1 = now_s()
    finally:
        node_proc.send_signal(2)
        node_proc.wait(timeout=20)
    ros = np.array([(a - c) * 1e3 for a, c in arrivals if t0 <= a <= t1])
    expected = int(round((t1 - t0) * spec.control_rate_hz))
    dropped = max(0, expected - len(ros))

    batch = {"images": {c: f[None] for c, f in frames.items()}, "proprio": np.zeros((1, spec.proprio_dim), np.float32),
             "instruction": ["pick up the red cube"]}
    for _ in range(10):
        runner.sample(batch)
    local = []
    for _ in range(300):
        t = time.perf_counter()
        runner.sample(batch)
        local.append((time.perf_counter() - t) * 1e3)
    local = np.array(local)

    print(f"\n{'':28s}{'p50 [ms]':>10s}{'p99 [ms]':>10s}{'n':>7s}")
    print(f"{'in-process sample':28s}{np.percentile(local, 50):10.2f}{np.percentile(local, 99):10.2f}{len(local):7d}")
    print(f"{'ROS capture -> chunk':28s}{np.percentile(ros, 50):10.2f}{np.percentile(ros, 99):10.2f}{len(ros):7d}")
    print(f"ROS overhead (p50 ratio): {np.percentile(ros, 50) / np.percentile(local, 50):.2f}x   goal < 2x")
    print(f"p99 capture -> chunk: {np.percentile(ros, 99):.1f} ms   goal < 50 ms")
    print(f"control ticks: {expected} expected over {t1 - t0:.1f} s, {len(ros)} chunks, {dropped} dropped   goal 0")
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
