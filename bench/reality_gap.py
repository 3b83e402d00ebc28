"""The sim-to-real gap, in process: success of a simulation-trained policy under each reality profile, and which
shift causes how much of the `lab` drop.

Evaluates one checkpoint (default: the quickstart's LOOP policy) on the quickstart's held-out contexts
(eval split) with the quickstart's suite options, once per condition:

  * `none` (the training simulator), `lab`, `hard`;
  * `lab` with ONE shift alone (`only: [shift]`) for every shift: what each costs on its own;
  * with --without, `lab` minus one shift (`without: [shift]`): what removing it wins back.

Each row is the mean of the per-task success rates (as `robot-rl eval` prints it) over --episodes contexts per
task, with its standard error (binomial, per task), and the drop from `none`. The same rows come from

    robot-rl eval --policy CKPT --suite tabletop --task pick_red --episodes 50 --temperature 0.5 \\
        --suite-option spec=tabletop_64 --suite-option layout_jitter=0.01 --suite-option gripper_jitter=0.01 \\
        --suite-option max_steps=40 --suite-option reality.profile=lab --suite-option 'reality.only=[camera_pose]'

    .venv/bin/python bench/reality_gap.py --checkpoint runs/quickstart/loop/policy     # ~2 min on 2 cores (--without: ~4)
    .venv/bin/python bench/reality_gap.py --only none lab --episodes 20                 # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# This folder holds sim.py: drop it from the import path so `import sim` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from robot_rl.config import load_yaml  # noqa: E402
from robot_rl.env import make_suite  # noqa: E402
from sim.tabletop.reality import SHIFT_NAMES  # noqa: E402


def conditions(without: bool) -> list[tuple[str, dict[str, Any]]]:
    """(row name, reality options) for every row of the table."""
    rows = [("none", {"profile": "none"}), ("lab", {"profile": "lab"}), ("hard", {"profile": "hard"})]
    rows += [(f"lab: {s} alone", {"profile": "lab", "only": [s]}) for s in SHIFT_NAMES]
    if without:
        rows += [(f"lab without {s}", {"profile": "lab", "without": [s]}) for s in SHIFT_NAMES]
    return rows


def standard_error(table: dict[str, Any]) -> float:
    """Of the mean of per-task rates: sqrt(sum p(1-p)/n) / tasks (binomial, tasks independent)."""
    rows = table["per_task"].values()
    var = sum(r["success_rate"] * (1 - r["success_rate"]) / r["episodes"] for r in rows)
    return float(np.sqrt(var) / len(rows))


def evaluate_condition(ckpt: str, suite_name: str, options: dict[str, Any], tasks: list[str], episodes: int,
                       temperature: float, seed: int, workers: int) -> dict[str, Any]:
    import torch

    from robot_rl.policies import load_policy
    from robot_rl.rollout.config import RolloutConfig, make_pool
    from robot_rl.rollout.policy_sampler import PolicySampler
    from robot_rl.rollout.worker import SuiteEnvFactory
    from robot_rl.train.evaluate import evaluate

    torch.set_num_threads(1)  # the env workers use the other cores
    suite = make_suite(suite_name, **options)
    contexts = [c for t in tasks for c in suite.contexts(t, split="eval")[:episodes]]
    policy = load_policy(ckpt).eval()
    policy.spec.check_compatible(suite.spec, "suite spec")
    sampler = PolicySampler(policy, temperature, seed=seed)
    with make_pool(SuiteEnvFactory(suite_name, options), RolloutConfig(num_workers=workers)) as pool:
        return evaluate(pool, sampler, contexts, randomize=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="runs/quickstart/loop/policy", help="simulation-trained policy")
    p.add_argument("--config", default="configs/quickstart.yaml", help="quickstart config: suite, options, tasks")
    p.add_argument("--episodes", type=int, default=50, help="held-out contexts per task (default 50)")
    p.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (the quickstart's: 0.5)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--reality-seed", type=int, default=0, help="which lab (the profile's seed)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--without", action="store_true", help="also rows of `lab` minus each shift")
    p.add_argument("--only", nargs="+", metavar="ROW", help="only these rows (e.g. none lab 'lab: image alone')")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args()

    qs = load_yaml(args.config)
    base = dict(qs.get("suite_options", {}))
    tasks = list(qs["tasks"])
    rows = [r for r in conditions(args.without) if not args.only or r[0] in args.only]
    results: list[dict[str, Any]] = []
    print(f"checkpoint {args.checkpoint}; {args.episodes} held-out contexts x {len(tasks)} tasks; T={args.temperature}",
          flush=True)
    header = f"{'condition':<28} {'success':>7} {'+-se':>5} {'drop':>6}  " + "  ".join(f"{t:>9}" for t in tasks)
    print(header, flush=True)
    baseline = None
    for name, reality in rows:
        t0 = time.time()
        options = {**base, "reality": {**reality, "seed": args.reality_seed}}
        table = evaluate_condition(args.checkpoint, qs["suite"], options, tasks, args.episodes, args.temperature,
                                   args.seed, args.workers)
        se = standard_error(table)
        if name == "none":
            baseline = table["success_rate"]
        drop = "" if baseline is None else f"{baseline - table['success_rate']:+.2f}"
        per = "  ".join(f"{table['per_task'][t]['success_rate']:9.2f}" for t in tasks)
        rate = table["success_rate"]
        print(f"{name:<28} {rate:7.2f} {se:5.2f} {drop:>6}  {per}   ({time.time() - t0:.0f} s)", flush=True)
        results.append({"condition": name, "reality": reality, "success_rate": table["success_rate"], "se": se,
                        "per_task": table["per_task"], "wall_s": round(time.time() - t0, 1)})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
