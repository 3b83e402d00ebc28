"""Capture-to-chunk latency over DDS vs the same policy in-process, dropped control ticks, and where the ms go.

This process plays camera + robot driver: it publishes two 128x128 rgb8 cameras at 30 Hz (stamped
at publish = capture), the end-effector pose and joint states at 50 Hz and the instruction, to a
real ``policy_node`` process running the tiny VLA (onnxruntime CPU when robot_rl.deploy can export
it, else torch) at the tabletop spec's 10 Hz, deciding every tick. It runs the node twice, side by
side: ``act_on: tick`` (decide at a free-running control tick with the newest inputs: the old
behaviour) and ``act_on: frame`` (decide on the first frames after each tick).

Goal figure: frame -> chunk = chunk published - capture stamp of the (oldest) camera frame the
policy saw, measured in the node. Also measured here: arrival of the chunk's stamp message - the
chunk's stamp, which is the observation's capture time: the *oldest* input (frames or the 50 Hz
proprio, up to 20 ms older than the frame), so it is never shorter than frame -> chunk. Dropped ticks = due decisions that ended without a chunk (the node's ``decisions_missed`` over the
window); chunks received here over the window are printed next to the control ticks it spans.
Breakdown (from the node's /diagnostics): image delivery (stamp -> callback), wait (decision due ->
taken), oldest frame's age when the decision starts, inference. Baseline: ``runner.sample`` on
the same batch in-process.

    .venv/bin/python bench/ros_latency.py                 # 60 s per mode
    .venv/bin/python bench/ros_latency.py --seconds 15 --modes frame
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

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


def run_mode(act_on: str, checkpoint: str, seconds: float, tmp: Path, frames: dict[str, np.ndarray]) -> dict:
    """Start a policy_node deciding on ``act_on``, feed it for ``seconds``; figures of the window."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import Header, String

    from robot_rl.wire import topics
    from ros_nodes import qos
    from ros_nodes.messages import image_to_msg, stamp_to_s

    params = {"policy_node": {"ros__parameters": {
        "spec": "tabletop", "checkpoint": checkpoint, "device": "cpu", "replan_every": 1, "act_outside_episodes": True,
        "act_on": act_on, "max_input_age_s": 0.3,
        "proprio_sources": ["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle", "gripper=joints:gripper"]}}}
    (tmp / f"params_{act_on}.yaml").write_text(yaml.safe_dump(params))
    exe = Path(sys.executable).parent / "policy_node"
    log = tmp / f"policy_node_{act_on}.log"
    node_proc = subprocess.Popen([str(exe), "--ros-args", "--params-file", str(tmp / f"params_{act_on}.yaml")],
                                 stdout=log.open("w"), stderr=subprocess.STDOUT, env=os.environ)

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("ros_latency_bench", context=context)
    image_pubs = {c: node.create_publisher(Image, topics.image_topic(c), qos.SENSOR) for c in frames}
    pose_pub = node.create_publisher(PoseStamped, topics.EE_POSE, qos.SENSOR)
    joint_pub = node.create_publisher(JointState, topics.JOINT_STATES, qos.SENSOR)
    instr_pub = node.create_publisher(String, topics.INSTRUCTION, qos.LATCHED)
    arrivals: list[tuple[float, float]] = []  # (arrival, capture stamp) in ROS time
    diag: dict[str, str] = {}

    def now_s() -> float:
        return node.get_clock().now().nanoseconds * 1e-9

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("policy_node"):
                diag.clear()
                diag.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(Header, topics.ACTION_CHUNK_STAMP, lambda m: arrivals.append((now_s(), stamp_to_s(m.stamp))),
                             qos.RELIABLE)
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, qos.RELIABLE)

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
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(node)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.005)

    def counters() -> tuple[int, int]:
        return int(diag.get("decisions_due", 0)), int(diag.get("decisions_missed", 0))

    try:
        deadline = time.monotonic() + 120
        while (len(arrivals) < 20 or not diag) and time.monotonic() < deadline:  # start-up, discovery, warm-up
            spin(0.5)
        if len(arrivals) < 20:
            raise SystemExit(f"policy_node produced no chunks; see {log}")
        spin(1.1)  # fresh counters
        due0, missed0 = counters()
        arrivals.clear()
        t0 = now_s()
        spin(seconds)
        t1 = now_s()
        spin(1.1)  # the diagnostics covering the window
        due1, missed1 = counters()
        final = dict(diag)
    finally:
        node_proc.send_signal(2)
        node_proc.wait(timeout=20)
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    ros = np.array([(a - c) * 1e3 for a, c in arrivals if t0 <= a <= t1])
    return {"ros": ros, "seconds": t1 - t0, "due": due1 - due0, "missed": missed1 - missed0, "diag": final}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured run length per mode (default 60)")
    parser.add_argument("--modes", nargs="+", default=["tick", "frame"], choices=["tick", "frame"],
                        help="policy_node act_on modes to compare (default: both)")
    parser.add_argument("--large-data", action="store_true",
                        help="FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (TCP) instead of the default UDP + shared memory")
    args = parser.parse_args()
    if args.large_data:
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    else:
        os.environ.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 200)))

    from robot_rl.deploy import load_runner
    from robot_rl.policies import make_policy, save_policy
    from robot_rl.spec import load_spec

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
    load = os.getloadavg()
    print(f"policy: tiny VLA via {runner.provider} ({Path(checkpoint).name}); transports: "
          f"{'LARGE_DATA' if args.large_data else 'default'}; load average {load[0]:.1f} on {os.cpu_count()} cores")

    rng = np.random.default_rng(0)
    frames = {c.name: rng.integers(0, 255, c.shape, dtype=np.uint8) for c in spec.cameras}
    results = {mode: run_mode(mode, checkpoint, args.seconds, tmp, frames) for mode in args.modes}

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
    load_after = os.getloadavg()

    modes = list(results)
    header = "".join(f"{f'act_on={m}':>22s}" for m in modes)
    print(f"\n{'[ms] p50 / p99':34s}{header}")

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:34s}" + "".join(f"{c:>22s}" for c in cells))

    row("in-process runner.sample", [f"{np.percentile(local, 50):.1f} / {np.percentile(local, 99):.1f}"] * len(modes))
    def node_row(label: str, key: str) -> None:
        row(label, [f"{float(r['diag'][f'{key}_p50_ms']):.1f} / {float(r['diag'][f'{key}_p99_ms']):.1f}"
                    for r in results.values()])

    node_row("ROS frame -> chunk published", "frame_to_chunk")
    node_row("  image delivery (DDS)", "image_delivery")
    node_row("  wait: decision due -> taken", "wait")
    node_row("  oldest frame age at decision", "frame_age")
    node_row("  inference in the node", "inference")
    node_row("ROS capture -> chunk published", "latency")
    row("ROS capture -> chunk arrival here", [f"{np.percentile(r['ros'], 50):.1f} / {np.percentile(r['ros'], 99):.1f}"
                                              for r in results.values()])
    row("ROS overhead (frame->chunk p50 / in-proc)",
        [f"{float(r['diag']['frame_to_chunk_p50_ms']) / np.percentile(local, 50):.2f}x" for r in results.values()])
    row("chunks received / control ticks", [f"{len(r['ros'])} / {r['seconds'] * spec.control_rate_hz:.0f}"
                                            for r in results.values()])
    row("dropped ticks (decisions missed)", [f"{r['missed']} of {r['due']}" for r in results.values()])
    print(f"goals: p99 frame -> chunk < 50 ms, 0 dropped ticks, overhead < 2x; "
          f"load average {load_after[0]:.1f} at the end")


if __name__ == "__main__":
    main()
