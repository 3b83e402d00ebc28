"""`robot-rl export`: a checkpoint to a self-contained ONNX file, checked against torch."""

from __future__ import annotations

import argparse
import copy

from robot_rl.errors import RobotRLError


def _export(args: argparse.Namespace) -> int:
    import torch

    from robot_rl.deploy.export import example_batch, export_onnx
    from robot_rl.deploy.runners import OnnxRunner
    from robot_rl.policies import load_policy

    policy = load_policy(args.checkpoint)
    out = export_onnx(policy, args.out, opset=args.opset, external_data=True if args.external_data else None)
    sidecar = out.with_name(out.name + ".data")
    size = out.stat().st_size + (sidecar.stat().st_size if sidecar.is_file() else 0)
    print(f"export: wrote {out}{' + ' + sidecar.name if sidecar.is_file() else ''} ({size / 1e6:.1f} MB, "
          f"{policy.policy_type} policy, {policy.head_kind} head)")
    if not args.no_check:
        reference = policy
        if any(p.dtype != torch.float32 for p in policy.parameters()):
            # The graph is fp32 (onnxruntime's CPU kernels have no bf16 matmul): check it against fp32 torch.
            reference = copy.deepcopy(policy).float()
            print("export: the checkpoint's weights are not fp32; exported and checked in fp32")
        runner = OnnxRunner(out, device="cpu")
        obs = example_batch(policy, batch=4, seed=1)
        with torch.no_grad():
            ref, got = reference.head_outputs(obs), runner.head_outputs(obs)
        diff = max(float((ref[k] - got[k]).abs().max()) for k in ref)
        print(f"export: onnxruntime ({runner.provider}) vs torch max abs difference {diff:.2e}")
        if "logits" in ref:
            same = (ref["logits"].argmax(-1) == got["logits"].argmax(-1)).float().mean().item()
            print(f"export: deterministic action tokens agree on {100 * same:.1f}% of chunk positions")
        if diff > args.tolerance:
            raise RobotRLError(f"exported graph disagrees with torch by {diff:.2e} > {args.tolerance:g}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a tiny or hf checkpoint to ONNX (network only; sampling stays outside)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Export a policy checkpoint's network to one .onnx file (uint8 images per camera, raw proprio and\n"
            "instruction token ids in; logits (B, H, A, K), or mean and log-scale (B, H, A), out) with the spec,\n"
            "normalisation and tokenizer in its metadata, then check it against torch on a random batch.\n"
            "robot_rl.deploy.load_runner(OUT) samples and acts on it with onnxruntime.\n\n"
            "policy types:\n"
            "  tiny  the built-in VLA\n"
            "  hf    SigLIP vision + Llama/Qwen LM, action tokens in the LM vocabulary; all H*A action\n"
            "        positions come from one LM pass (parallel chunk decoding). LoRA adapters are merged\n"
            "        into the weights, bf16 weights are exported (and checked) in fp32, the LM tokenizer\n"
            "        travels in the metadata; past 2 GB of weights they go to OUT.data next to OUT.\n\n"
            "Only the batch axis is dynamic: image sizes, instruction length and chunk shape are fixed by\n"
            "the checkpoint."))
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="checkpoint directory (tiny or hf policy)")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed vs torch (default 1e-4)")
    p.add_argument("--external-data", action="store_true",
                   help="keep the weights in OUT.data even below 2 GB (default: only when they do not fit one file)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime-vs-torch check")
    p.set_defaults(func=_export)
