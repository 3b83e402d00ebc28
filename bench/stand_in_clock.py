"""Speed-up of sim time the lab stand-in reaches with the whole graph running (publish_clock, use_sim_time).

For each frame size (640x480 driver frames, the spec's 128 px), reality profile (none, lab) and
clock_speed (1, 3, 10), `robot-rl up sim_robot` runs the stand-in publishing /clock, policy_node (the
tiny VLA on the CPU) and action_executor following it, with the stand-in judging episodes itself
(report_success true) so episodes run back to back. After a warm-up the bench reads the stand-in's
diagnostics: ``clock_speed_reached`` (sim seconds per wall second since its start: the warm-up, spent
mostly waiting for the policy's heartbeat, is subtracted by differencing two readings),
``clock_capped`` (steps taken late: the pace could not be held), ``render_ms_mean`` and the share of
sim time spent stepping episodes (the tabletop spec's 0.1 s period x env steps).

    .venv/bin/python bench/stand_in_clock.py                       # 12 runs of ~25 s
    .venv/bin/python bench/stand_in_clock.py --speeds 1 10 --sizes 640x480 --profiles lab --seconds 30
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


def run_one(checkpoint: Path, tmp: Path, size: str, profile: str, speed: float, seconds: float, warmup: float) -> dict:
    """One graph run; the stand-in's pace over the measured window."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rosgraph_msgs.msg import Clock

    from robot_rl.wire import topics
    from ros_nodes import qos
    from ros_nodes.messages import stamp_to_s

    domain = random.randint(1, 200)
    width, height = (int(v) for v in size.split("x")) if size != "spec" else (0, 0)
    sets = [f"policy_node.checkpoint={checkpoint}", "policy_node.device=cpu", "policy_node.use_sim_time=true",
            "action_executor.use_sim_time=true", f"sim_robot.reality={profile}", f"sim_robot.camera_width={width}",
            f"sim_robot.camera_height={height}", "sim_robot.publish_clock=true", f"sim_robot.clock_speed={speed}",
            "sim_robot.max_steps=30", "sim_robot.episode_gap_s=0.2"]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), MUJOCO_GL="egl", PYOPENGL_PLATFORM="egl", OMP_NUM_THREADS="1",
               FASTDDS_BUILTIN_TRANSPORTS="LARGE_DATA")
    log = (tmp / f"up_{size}_{profile}_{speed}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "robot_rl.cli", "up", "sim_robot", "--domain-id", str(domain),
                             "--log-dir", str(tmp / f"logs_{size}_{profile}_{speed}"),
                             *[x for s in sets for x in ("--set", s)]], env=env, cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("stand_in_clock_bench", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    diag: dict[str, str] = {}
    sim = [0.0]

    def on_diag(msg: DiagnosticArray) -> None:
        for s in msg.status:
            if s.name.startswith("sim_robot"):
                diag.clear()
                diag.update({kv.key: kv.value for kv in s.values})

    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, qos.RELIABLE)
    node.create_subscription(Clock, topics.CLOCK, lambda m: sim.__setitem__(0, stamp_to_s(m.clock)), qos.SENSOR)

    def spin(duration: float) -> None:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.02)

    try:
        spin(warmup)
        sim0, wall0, diag0 = sim[0], time.monotonic(), dict(diag)
        spin(seconds)
        sim1, wall1, diag1 = sim[0], time.monotonic(), dict(diag)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        log.close()
    capped = int(diag1.get("clock_capped", 0)) - int(diag0.get("clock_capped", 0))
    if sim1 <= sim0:  # no /clock heard: the graph did not come up (or DDS never matched); say so, do not print 0
        text = (tmp / f"up_{size}_{profile}_{speed}.log").read_text()[-2000:]
        raise RuntimeError(f"{size} {profile} {speed}x: no /clock received in the window; robot-rl up said:\n{text}")
    env_steps = int(diag1.get("env_steps", 0)) - int(diag0.get("env_steps", 0))
    return {"size": size, "profile": profile, "speed": speed, "reached": (sim1 - sim0) / (wall1 - wall0),
            "capped": capped, "render_ms": float(diag1.get("render_ms_mean", "nan") or "nan"),
            "episodes": int(diag1.get("episodes_started", 0)) - int(diag0.get("episodes_started", 0)),
            # Share of the window's sim time spent in episodes (the rest: gaps, waiting for the policy).
            "stepping": env_steps * 0.1 / max(sim1 - sim0, 1e-9)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speeds", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "spec"], help="WxH or 'spec' (128 px)")
    parser.add_argument("--profiles", nargs="+", default=["none", "lab"])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per run [wall s]")
    parser.add_argument("--warmup", type=float, default=10.0, help="start-up before the window [wall s]")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from robot_rl.policies import make_policy, save_policy
    from robot_rl.spec import load_spec

    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        torch.manual_seed(0)
        save_policy(make_policy("tiny", load_spec("tabletop"), TINY), tmp / "ckpt")
        for size in args.sizes:
            for profile in args.profiles:
                for speed in args.speeds:
                    row = run_one(tmp / "ckpt", tmp, size, profile, speed, args.seconds, args.warmup)
                    rows.append(row)
                    print(f"{size:>8} {profile:>5} clock_speed {speed:>5.1f}: reached {row['reached']:.2f}x, "
                          f"capped {row['capped']} steps, render {row['render_ms']:.1f} ms, "
                          f"{row['episodes']} episodes, {100 * row['stepping']:.0f}% of sim time in episodes",
                          flush=True)
    print("\nclock reached (sim s per wall s) / episode time (episode sim s per wall s) at each clock_speed")
    print("size      profile  " + "  ".join(f"{s:>10.0f}x" for s in args.speeds))
    for size in args.sizes:
        for profile in args.profiles:
            runs = [r for r in rows if r["size"] == size and r["profile"] == profile]
            print(f"{size:<9} {profile:<7} " + "  ".join(f"{r['reached']:>5.2f}/{r['reached'] * r['stepping']:<5.2f}"
                                                         for r in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
