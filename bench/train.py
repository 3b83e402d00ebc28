"""LOOP training throughput for the quickstart configuration: rollouts vs updates.

Runs a few LOOP updates with the quickstart's training config (dynamic rejection off, so every
update trains on a full batch) from a freshly initialised tiny VLA or --policy CKPT, and prints,
side by side: rollout throughput (env steps/s and policy decisions/s), update throughput (policy
steps/s through PPO, all epochs counted), and the share of wall time spent collecting vs updating.

    python bench/train.py [--updates 2] [--policy CKPT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/sim.py would shadow the `sim` package (suites load through it): drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main() -> None:
    import torch

    from robot_rl.config import load_yaml
    from robot_rl.env import make_suite
    from robot_rl.policies import make_policy, save_policy
    from robot_rl.train.config import TrainConfig
    from robot_rl.train.trainer import LoopTrainer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=2)
    ap.add_argument("--policy", help="start checkpoint (default: a fresh tiny VLA)")
    args = ap.parse_args()

    qs = load_yaml(ROOT / "configs" / "quickstart.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    suite_options = qs.get("suite_options", {})
    if args.policy is None:
        torch.manual_seed(0)
        args.policy = str(tmp / "policy")
        save_policy(make_policy(qs["policy_type"], make_suite(qs["suite"], **suite_options).spec, qs["policy"]), args.policy)
    data = dict(qs["train"])
    data.update(policy=args.policy, updates=args.updates, checkpoint_every=max(1, args.updates),
                suite={"name": qs["suite"], "options": suite_options})
    data["schedule"] = {**data.get("schedule", {}), "dynamic_rejection": False}
    data["eval"] = {**data.get("eval", {}), "contexts_per_task": 1}
    cfg = TrainConfig.model_validate(data)
    LoopTrainer(cfg, tmp / "run").run()

    train = [json.loads(x) for x in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["kind"] == "train"]
    collect_s = sum(r["time/collect_s"] for r in train)
    update_s = sum(r.get("time/update_s", 0.0) for r in train)
    env_steps = train[-1]["charts/env_steps"]
    decisions = sum(r.get("charts/update_steps", 0) for r in train)
    ppo_rows = sum(r.get("charts/update_steps", 0) * r.get("charts/ppo_epochs_run", cfg.loop.ppo_epochs) for r in train)
    sampler_s = sum(r["time/sampler_s"] for r in train)
    total = collect_s + update_s
    print(f"LOOP throughput, quickstart config ({args.updates} updates, {cfg.schedule.groups_per_batch} groups x "
          f"K={cfg.loop.group_size}, {cfg.rollout.num_workers} workers, torch threads {cfg.torch_threads})")
    print(f"{'':28}{'value':>12}")
    print(f"{'rollouts: env steps/s':28}{env_steps / collect_s:12.1f}")
    print(f"{'rollouts: decisions/s':28}{decisions / collect_s:12.1f}")
    print(f"{'  of which inference':28}{sampler_s / collect_s:12.1%}")
    print(f"{'update: policy steps/s':28}{ppo_rows / max(update_s, 1e-9):12.1f}")
    print(f"{'wall share: collect':28}{collect_s / total:12.1%}")
    print(f"{'wall share: update':28}{update_s / total:12.1%}")


if __name__ == "__main__":
    main()
