"""One checkpoint's success in process and through the ROS graph, on the same held-out contexts.

The question a lab asks before trusting hardware LOOP: does the policy behave on the robot stack as it
does in the simulator it was trained in? Here the "robot" is sim_robot_node running the very same
simulator (reality ``none``, the default), so any difference comes from the graph: camera -> policy_node ->
action_executor -> pose commands -> stand-in, with real processes, DDS and wall-clock timing. With
``--reality lab`` both sides run the shifted world: the sim-to-real drop as the rehearsal meets it.

    .venv/bin/python bench/ros_vs_sim.py --checkpoint runs/quickstart/loop/policy --episodes 10

Prints, side by side, the in-process success (robot_rl.train.evaluate, the quickstart's suite options
and temperature) and the graph's (the stand-in's own success / timeout events, ``robot-rl up sim_robot``
with the same contexts), each with its binomial standard error, plus the executor's and stand-in's
counters that explain a gap (late actions, chunks started on arrival, ticks spent holding).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This folder holds sim.py: drop it from the import path so `import sim` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")

import numpy as np  # noqa: E402

from robot_rl.config import load_yaml  # noqa: E402
from robot_rl.env import make_suite, suite_kwargs  # noqa: E402


def in_process(ckpt: str, suite_name: str, options: dict[str, Any], contexts: list, temperature: float,
               seed: int) -> dict[str, Any]:
    """`robot-rl eval`'s success table over ``contexts``, one episode each."""
    import torch

    from robot_rl.policies import load_policy
    from robot_rl.rollout.config import RolloutConfig, make_pool
    from robot_rl.rollout.policy_sampler import PolicySampler
    from robot_rl.rollout.worker import SuiteEnvFactory
    from robot_rl.train.evaluate import evaluate

    torch.set_num_threads(1)
    policy = load_policy(ckpt).eval()
    sampler = PolicySampler(policy, temperature, seed=seed)
    with make_pool(SuiteEnvFactory(suite_name, options), RolloutConfig(num_workers=2)) as pool:
        table = evaluate(pool, sampler, contexts, randomize=True)
    return table


def through_graph(ckpt: str, options: dict[str, Any], spec: str, contexts: list, temperature: float,
                  timeout_s: float, log_dir: Path, domain_id: int, reality: str = "none",
                  reality_seed: int = 0, reality_options: dict[str, Any] | None = None,
                  driver: tuple[int, int] | None = None, clock_speed: float | None = None,
                  record: str | None = None) -> tuple[dict[str, bool], dict[str, dict]]:
    """Context id -> success from the stand-in's events; the nodes' last diagnostics."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import String

    from robot_rl.wire import topics
    from robot_rl.wire.episode_event import parse_episode_event
    from ros_nodes import qos

    sets = {
        # A YAML string holding JSON (--set values are YAML).
        "sim_robot.suite_options": "'" + json.dumps({k: v for k, v in options.items() if k != "max_steps"}) + "'",
        "sim_robot.contexts": json.dumps([c.id for c in contexts]),
        "sim_robot.group_size": 1, "sim_robot.num_episodes": len(contexts),
        "sim_robot.max_steps": int(options.get("max_steps", 0)),
        "policy_node.checkpoint": ckpt, "policy_node.temperature": temperature, "policy_node.device": "cpu",
        "policy_node.spec": spec, "action_executor.spec": spec,
        "sim_robot.reality": reality, "sim_robot.reality_seed": reality_seed,
        "sim_robot.reality_options": "'" + json.dumps(reality_options or {}) + "'",
    }
    if driver is not None:  # driver-sized frames (the policy node crops and resizes them)
        sets.update({"sim_robot.camera_width": driver[0], "sim_robot.camera_height": driver[1]})
    if record:  # the episodes as the policy node saw them (spec-sized images), e.g. to compare with simulation's
        sets["policy_node.buffer_path"] = str(Path(record).resolve())
    if clock_speed is not None:  # the stand-in owns time, as in the rehearsal
        sets.update({"sim_robot.publish_clock": "true", "sim_robot.clock_speed": clock_speed,
                     "policy_node.use_sim_time": "true", "action_executor.use_sim_time": "true"})
    cmd = [sys.executable, "-m", "robot_rl.cli", "up", "sim_robot", "--domain-id", str(domain_id),
           "--log-dir", str(log_dir)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), OMP_NUM_THREADS="1")
    graph = subprocess.Popen(cmd, env=env, stdout=(log_dir / "up.log").open("w"), stderr=subprocess.STDOUT)
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    rclpy.init()
    node = rclpy.create_node("ros_vs_sim_probe")
    results: dict[str, bool] = {}
    started: dict[str, str] = {}  # episode id -> context id
    diag: dict[str, dict] = {}

    def on_event(msg: String) -> None:
        e = parse_episode_event(msg.data)
        if e.event == "start":
            started[e.episode_id] = e.context_id
        elif e.label_source == "sim" and e.episode_id in started:
            results[started[e.episode_id]] = e.event == "success"

    def on_diag(msg: DiagnosticArray) -> None:
        for s in msg.status:
            diag[s.name.split(":")[0]] = {kv.key: kv.value for kv in s.values}

    node.create_subscription(String, topics.EPISODE_EVENT, on_event, qos.RELIABLE)
    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, qos.RELIABLE)
    end = time.monotonic() + timeout_s
    try:
        while len(results) < len(contexts) and time.monotonic() < end and graph.poll() is None:
            rclpy.spin_once(node, timeout_sec=0.2)
        for _ in range(15):  # the last diagnostics
            rclpy.spin_once(node, timeout_sec=0.2)
    finally:
        graph.send_signal(2)
        try:
            graph.wait(timeout=30)
        except subprocess.TimeoutExpired:
            graph.kill()
        node.destroy_node()
        rclpy.shutdown()
    return results, diag


def _rate(values: list[bool]) -> str:
    n = len(values)
    if not n:
        return "   -  "
    p = float(np.mean(values))
    return f"{p:.2f} +- {np.sqrt(p * (1 - p) / n):.2f} (n={n})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="runs/quickstart/loop/policy")
    p.add_argument("--config", default="configs/quickstart.yaml", help="quickstart config: suite, options, tasks")
    p.add_argument("--episodes", type=int, default=10, help="held-out contexts per task")
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain-id", type=int, default=77)
    p.add_argument("--skip-in-process", action="store_true")
    p.add_argument("--reality", default="none", help="the stand-in's (and the in-process env's) reality profile")
    p.add_argument("--reality-seed", type=int, default=0)
    p.add_argument("--reality-options", default="{}", metavar="JSON",
                   help='which shifts of the profile, e.g. \'{"only": ["latency"]}\' (docs/reality.md)')
    p.add_argument("--driver", metavar="WxH", help="the stand-in publishes WxH frames like a camera driver "
                                                   "(the rehearsal: 640x480); default: the spec's size")
    p.add_argument("--clock-speed", type=float, help="the stand-in publishes /clock at this speed and the nodes use "
                                                    "sim time, as in the rehearsal; default: wall-clock time")
    p.add_argument("--record", metavar="BUF", help="the policy node records the graph's episodes into this rollout "
                                                   "buffer (what the policy saw and did)")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--log-dir", metavar="DIR", help="keep the nodes' logs here (default: a temporary folder)")
    args = p.parse_args()
    reality_options = json.loads(args.reality_options)

    qs = load_yaml(Path(args.config))
    options = dict(qs.get("suite_options", {}))
    suite = make_suite(qs["suite"], **options)
    contexts = [c for t in qs["tasks"] for c in suite.contexts(t, split="eval")[:args.episodes]]
    print(f"checkpoint {args.checkpoint}; {len(contexts)} held-out contexts; T={args.temperature}; "
          f"reality {args.reality} (seed {args.reality_seed}) {reality_options or ''}", flush=True)
    out: dict[str, Any] = {"contexts": [c.id for c in contexts]}
    if not args.skip_in_process:
        t0 = time.time()
        shifted = suite_kwargs(qs["suite"], options, args.reality, args.reality_seed, reality_options)
        table = in_process(args.checkpoint, qs["suite"], shifted, contexts, args.temperature, args.seed)
        out["in_process"] = table
        n = len(contexts)
        rate = table["success_rate"]
        print(f"in process:  {rate:.2f} +- {np.sqrt(rate * (1 - rate) / n):.2f} (n={n})  ({time.time() - t0:.0f} s)",
              flush=True)
    with tempfile.TemporaryDirectory(prefix="ros_vs_sim_") as tmp:
        if args.log_dir:
            tmp = args.log_dir
            Path(tmp).mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        res, diag = through_graph(args.checkpoint, options, options.get("spec", "tabletop"), contexts,
                                  args.temperature, timeout_s=60 + 15 * len(contexts), log_dir=Path(tmp),
                                  domain_id=args.domain_id, reality=args.reality, reality_seed=args.reality_seed,
                                  reality_options=reality_options,
                                  driver=tuple(map(int, args.driver.split("x"))) if args.driver else None,
                                  clock_speed=args.clock_speed, record=args.record)
        wall = time.time() - t0
        if len(res) < len(contexts):
            for log_file in sorted(Path(tmp).glob("*.log")):
                print(f"== {log_file.name}\n{log_file.read_text()[-2000:]}")
    out["graph"] = res
    print(f"ROS graph:   {_rate(list(res.values()))}  ({wall:.0f} s)", flush=True)
    keys = {"action_executor": ["chunks_accepted", "chunks_started_on_arrival", "refused.late_action",
                                "refused.chunk_stale_hold", "refused.no_action_due", "commands"],
            "sim_robot": ["env_steps", "hold_steps", "commands", "ignored_commands", "clock_capped", "clock_speed_reached"],
            "policy_node": ["decisions_missed", "starts_recording", "starts_acting"]}
    for name, ks in keys.items():
        d = diag.get(name, {})
        print(f"  {name}: " + ", ".join(f"{k}={d.get(k, '?')}" for k in ks))
    out["diagnostics"] = diag
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
