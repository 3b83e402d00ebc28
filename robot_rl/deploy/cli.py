"""`robot-rl export`: a checkpoint to a self-contained ONNX file, checked against torch."""

from __future__ import annotations

import argparse

from robot_rl.errors import RobotRLError


def _export(args: argparse.Namespace) -> int:
    import torch

    from robot_rl.deploy.export import example_batch, export_onnx
    from robot_rl.deploy.runners import OnnxRunner
    from robot_rl.policies import load_policy

    policy = load_policy(args.checkpoint)
    out = export_onnx(policy, args.out, opset=args.opset)
    print(f"export: wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {policy.policy_type} policy, {policy.head_kind} head)")
    if not args.no_check:
        runner = OnnxRunner(out, device="cpu")
        obs = example_batch(policy, batch=4, seed=1)
        with torch.no_grad():
            ref, got = policy.head_outputs(obs), runner.head_outputs(obs)
        diff = max(float((ref[k] - got[k]).abs().max()) for k in ref)
        print(f"export: onnxruntime ({runner.provider}) vs torch max abs difference {diff:.2e}")
        if diff > args.tolerance:
            raise RobotRLError(f"exported graph disagrees with torch by {diff:.2e} > {args.tolerance:g}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (network only; sampling stays outside)",
        description="Export a policy checkpoint's network to one .onnx file (images, proprio and instruction "
                    "token ids in; logits, or mean and log-scale, out) with the spec, normalisation and "
                    "tokenizer in its metadata, then check it against torch on a random batch.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint directory")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed vs torch (default 1e-4)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-torch check")
    p.set_defaults(func=_export)
