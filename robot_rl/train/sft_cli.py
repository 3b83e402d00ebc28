"""`robot-rl sft` (behaviour cloning from a buffer into a checkpoint) and `robot-rl calibrate-scale`."""

from __future__ import annotations

import argparse
from typing import Any

from robot_rl.algorithms.sft import SftConfig, calibrate_scale
from robot_rl.config import load_config, load_yaml, validate_config
from robot_rl.train.sft import load_demos, run_sft


def _sft_config(args: argparse.Namespace) -> SftConfig:
    data: dict[str, Any] = {}
    if args.config:
        data = dict(load_config(SftConfig, args.config, section="sft").model_dump())
    for key in ("steps", "batch_size", "lr", "seed", "calibrate_steps"):
        value = getattr(args, key, None)
        if value is not None:
            data[key] = value
    return validate_config(SftConfig, data, "sft options")


def _sft(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _sft_config(args)
    policy_cfg: dict[str, Any] = {}
    if args.config:
        policy_cfg = dict((load_yaml(args.config) or {}).get("policy", {}) or {})
    policy_cfg["head"] = {**policy_cfg.get("head", {}), "kind": args.head}
    print(f"sft: {args.policy} policy, {args.head} head, {cfg.steps} steps on {args.buffer}")
    s = run_sft(args.buffer, args.policy, policy_cfg, cfg, args.out, successful_only=not args.all_episodes)
    print(f"sft: {s['demo_steps']} demo steps; loss {s['loss_first']:.4f} -> {s['loss_last']:.4f} in {s['seconds']} s")
    if "nll_after" in s:
        print(f"calibrate-scale: NLL per dimension {s['nll_before']:.4f} -> {s['nll_after']:.4f}")
    print(f"sft: wrote checkpoint {args.out}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from robot_rl.policies import load_policy, save_policy

    policy = load_policy(args.checkpoint)
    data = load_demos(args.buffer, successful_only=not args.all_episodes, spec=policy.spec)
    cfg = SftConfig(calibrate_steps=args.steps, calibrate_lr=args.lr, seed=args.seed)
    result = calibrate_scale(policy, data, cfg)
    out = args.out or args.checkpoint
    save_policy(policy, out)
    print(f"calibrate-scale: NLL per dimension {result.nll_before:.4f} -> {result.nll_after:.4f}; wrote {out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--buffer", required=True, metavar="DEMOS", help="rollout buffer with demonstration episodes")
    p.add_argument("--all-episodes", action="store_true", help="train on every ok episode, not only reward-1 ones")


def register(subparsers: argparse._SubParsersAction) -> None:
    sft = subparsers.add_parser(
        "sft", help="behaviour-clone a policy on buffer episodes and write a checkpoint",
        description="Supervised fine-tuning: fits normalisation stats and action bounds on the demonstrations, "
                    "trains the policy by behaviour cloning, fits the scale layer by NLL for gaussian/laplace "
                    "heads, and writes a checkpoint directory that eval, train and export load.")
    _common(sft)
    sft.add_argument("--policy", choices=["tiny", "hf"], default="tiny", help="policy type (default tiny)")
    sft.add_argument("--head", choices=["token", "gaussian", "laplace"], default="token", help="action head (default token)")
    sft.add_argument("--out", required=True, metavar="CKPT", help="checkpoint directory to write")
    sft.add_argument("--steps", type=int, help="optimiser steps (default 1500)")
    sft.add_argument("--batch-size", type=int, help="batch size (default 32)")
    sft.add_argument("--lr", type=float, help="peak learning rate (default 1e-3)")
    sft.add_argument("--calibrate-steps", type=int, help="scale-calibration steps for continuous heads (default 200)")
    sft.add_argument("--seed", type=int, help="random seed (default 0)")
    sft.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    sft.add_argument("--config", help="YAML with an 'sft' section (SftConfig) and optionally a 'policy' section")
    sft.set_defaults(func=_sft)


def register_calibrate(subparsers: argparse._SubParsersAction) -> None:
    cal = subparsers.add_parser(
        "calibrate-scale", help="fit the learned-scale layer of a gaussian/laplace policy by NLL",
        description="Fit only the scale layer of a continuous-head checkpoint by negative log-likelihood on "
                    "demonstrations, with the backbone and mean frozen, and save the checkpoint.")
    cal.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint directory")
    _common(cal)
    cal.add_argument("--out", help="write here instead of overwriting CKPT")
    cal.add_argument("--steps", type=int, default=200, help="optimiser steps (default 200)")
    cal.add_argument("--lr", type=float, default=1e-2, help="learning rate (default 1e-2)")
    cal.add_argument("--seed", type=int, default=0, help="random seed of the minibatch draws (default 0)")
    cal.set_defaults(func=_calibrate)
