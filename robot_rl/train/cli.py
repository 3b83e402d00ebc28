"""`robot-rl train` (LOOP in simulation, or from a rollout buffer) and `robot-rl plot`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


from robot_rl.config import parse_yaml
from robot_rl.errors import ConfigError


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["loop.clip_high=0.28", "updates=5"]`` -> ``{"loop.clip_high": 0.28, "updates": 5}`` (values parsed as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set: expected KEY=VALUE (e.g. loop.clip_high=0.28), got {item!r}")
        out[key.strip()] = parse_yaml(value, f"--set {key.strip()}")
    return out


def _train(args: argparse.Namespace) -> int:
    from robot_rl.train.config import TrainConfig

    overrides = parse_overrides(args.set)
    if args.policy:
        overrides["policy"] = args.policy
    cfg = TrainConfig.load(args.config, overrides)
    if args.from_buffer:
        from robot_rl.train.from_buffer import update_from_buffer

        metrics = update_from_buffer(args.from_buffer, cfg.require_policy(), args.out, cfg.loop, args.policy_version, cfg.seed)
        print(json.dumps(metrics, indent=1) if args.json else
              f"updated on {int(metrics['rollout/groups'])} groups; new policy in {Path(args.out) / 'policy'}")
        return 0

    from robot_rl.train.distributed import init_distributed, shutdown_distributed
    from robot_rl.train.plots import plot_run
    from robot_rl.train.trainer import LoopTrainer

    # Under torchrun (WORLD_SIZE > 1) every rank runs this; only rank 0 writes the summary and plots.
    dist = init_distributed(cfg.distributed.backend)
    try:
        summary = LoopTrainer(cfg, args.out, resume=args.resume, dist=dist).run()
    finally:
        shutdown_distributed(dist)
    if not dist.is_main:
        return 0
    plot_run(args.out)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1))
    for name in ("success_before", "success_after"):
        if name in summary:
            print(f"{name}: {summary[name]['success_rate']:.3f}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from robot_rl.train.plots import plot_run

    for path in plot_run(args.run_dir):
        print(path)
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from robot_rl.train.quickstart import format_summary, run_quickstart

    summary = run_quickstart(args.config, args.out, parse_overrides(args.set), seed=args.seed)
    print(format_summary(summary))
    print(f"summary: {Path(args.out) / 'summary.json'}; plots: {Path(args.out) / 'loop'}/*.png")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    qs = subparsers.add_parser(
        "quickstart", help="the main job: demos -> SFT -> evaluate -> LOOP -> evaluate on the tabletop suite",
        description="Record a few scripted-expert demonstrations per task, SFT the tiny VLA on them, evaluate it "
                    "on held-out initial states, improve it with LOOP, evaluate again, and write OUT/summary.json "
                    "(success_before / success_after, overall and per task) and plots. Re-running with the same "
                    "--out reuses the demos and the SFT checkpoint and redoes the LOOP stage.")
    qs.add_argument("--out", default="runs/quickstart", help="output directory (default runs/quickstart)")
    qs.add_argument("--config", default=str(Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"),
                    help="quickstart config YAML (default configs/quickstart.yaml)")
    qs.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training field, e.g. --set updates=5 (repeatable)")
    qs.add_argument("--seed", type=int, help="seed of the whole run (demos, SFT, LOOP, evaluation); default: the config's")
    qs.set_defaults(func=_quickstart)

    p = subparsers.add_parser(
        "train", help="LOOP training in simulation, or one update from a rollout buffer (hardware)",
        description="Run LOOP (RLOO advantages + PPO clipping, dynamic rejection) from CONFIG. In simulation: "
                    "collect K rollouts per context, update, evaluate on held-out initial states, checkpoint. "
                    "With --from-buffer: one update on the complete K-groups the buffer holds for the policy's "
                    "version (the hardware fine-tuning path; needs no simulator). Data-parallel on N processes: "
                    "torchrun --nproc_per_node N -m robot_rl.cli train CONFIG --out RUN (docs/distributed.md).")
    p.add_argument("config", help="training config YAML (e.g. configs/libero_spatial_loop.yaml, or DIR/train_config.yaml written by `robot-rl quickstart --out DIR`)")
    p.add_argument("--out", required=True, help="run directory (must be new unless --resume)")
    p.add_argument("--policy", help="start from this policy checkpoint (overrides the config's `policy`)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set loop.clip_high=0.28 (repeatable)")
    p.add_argument("--from-buffer", metavar="PATH", help="update from complete K-groups in this rollout buffer")
    p.add_argument("--policy-version", type=int, help="with --from-buffer: use groups of this version "
                   "(default: the checkpoint's version)")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=_train)

    q = subparsers.add_parser("plot", help="PNG plots of a training run's success rates and losses",
                              description="Write RUN_DIR/success.png (train and eval success against rollouts and "
                                          "env steps) and RUN_DIR/losses.png from RUN_DIR/metrics.jsonl.")
    q.add_argument("run_dir", help="run directory of `robot-rl train` or `quickstart` (holds metrics.jsonl)")
    q.set_defaults(func=_plot)
