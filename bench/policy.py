"""VLA inference speed: torch eager vs onnxruntime on the CPU, batch-1 latency and batched throughput.

    .venv/bin/python bench/policy.py [--threads 2] [--iters 200] [--head token] [--policies tiny,hf] [--checkpoint CKPT]

One table per policy: the default tiny VLA, then a tiny random hf VLA (SigLIP + Llama, action tokens
in the vocabulary, all chunk positions from one LM pass) exported by the same `robot-rl export` path.

Latency is end to end through the runner interface (`runner.act(obs)`: spec check, tokenizer,
network, action decoding), which is what a 10 Hz control loop pays. Goals: onnxruntime
p50 <= 0.6x torch eager, p99 < 33 ms (a third of a 10 Hz period) with 2 threads.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from robot_rl.deploy import OnnxRunner, TorchRunner, example_batch, export_onnx
from robot_rl.policies import load_policy, make_policy
from robot_rl.spec import load_spec


def latency_ms(fn, obs, iters: int, warmup: int = 10) -> np.ndarray:
    for _ in range(warmup):
        fn(obs)
    out = np.empty(iters)
    for i in range(iters):
        t = time.perf_counter()
        fn(obs)
        out[i] = (time.perf_counter() - t) * 1e3
    return out


def throughput(fn, obs, batch: int, seconds: float = 3.0) -> float:
    fn(obs)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(obs)
        n += batch
    return n / (time.perf_counter() - t0)


HF_BENCH = {"vision_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                              "num_attention_heads": 4, "image_size": 64, "patch_size": 16},
            "language_config": {"model_type": "llama", "vocab_size": 640, "hidden_size": 256, "intermediate_size": 512,
                                "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
                                "max_position_embeddings": 256},
            "max_instruction_length": 32}
"""A tiny random hf VLA (SigLIP 2x128 + Llama 4x256, no hub): what the hf export path costs, not a 7B figure."""


def measure(policy, args) -> tuple[dict, str]:
    """{runner: (b1 p50 ms, b1 p99 ms, batched obs/s)} for torch eager and onnxruntime, and the ort provider."""
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(policy, Path(tmp) / "policy.onnx")
        runners = {"torch eager": TorchRunner(policy, device=args.device),
                   "onnxruntime": OnnxRunner(onnx_path, device=args.device, threads=args.threads)}
        one, many = example_batch(policy, 1), example_batch(policy, args.batch, seed=1)
        rows = {}
        for name, runner in runners.items():
            act = lambda obs, runner=runner: runner.act(obs).cpu()  # a control loop needs the chunk on the host
            lat = latency_ms(act, one, args.iters)
            rows[name] = (np.percentile(lat, 50), np.percentile(lat, 99), throughput(act, many, args.batch))
    return rows, runners["onnxruntime"].provider


def report(title: str, policy, rows: dict, provider: str, args) -> None:
    n_params = sum(p.numel() for p in policy.parameters())
    spec = policy.spec
    print(f"{title} ({policy.head_kind} head, {n_params / 1e6:.2f} M params), "
          f"{len(spec.cameras)} cameras {spec.cameras[0].width}x{spec.cameras[0].height}, chunk {spec.chunk_length}x{spec.action_dim}, "
          f"{args.threads} threads, {args.iters} iterations, torch on {args.device}, onnxruntime provider {provider}")
    print(f"{'runner':<14}{'b1 p50 ms':>11}{'b1 p99 ms':>11}{f'b{args.batch} obs/s':>13}")
    for name, (p50, p99, tput) in rows.items():
        print(f"{name:<14}{p50:>11.2f}{p99:>11.2f}{tput:>13.0f}")
    (t50, t99, tt), (o50, o99, ot) = rows["torch eager"], rows["onnxruntime"]
    print(f"{'ort/torch':<14}{o50 / t50:>11.2f}{o99 / t99:>11.2f}{ot / tt:>13.2f}")
    print(f"goals: ort p50 <= 0.6x torch: {'met' if o50 <= 0.6 * t50 else 'NOT met'} ({o50 / t50:.2f}x); "
          f"ort p99 < 33 ms: {'met' if o99 < 33 else 'NOT met'} ({o99:.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32, help="batch size for the throughput figure")
    ap.add_argument("--head", default="token", choices=["token", "gaussian", "laplace"])
    ap.add_argument("--policies", default="tiny,hf",
                    help="comma-separated: tiny (the default tiny VLA), hf (a tiny random SigLIP + Llama hf VLA)")
    ap.add_argument("--checkpoint", help="benchmark this checkpoint instead of the fresh policies")
    ap.add_argument("--device", default="cpu", choices=["cpu", "auto", "cuda"],
                    help="runner device: cpu (default, the goals above), auto or cuda (torch on CUDA, onnxruntime's "
                         "CUDA provider when onnxruntime-gpu is installed; the provider line says which ran)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.checkpoint:
        policy = load_policy(args.checkpoint).eval()
        report(f"{policy.policy_type} VLA {args.checkpoint}", policy, *measure(policy, args), args)
        return
    spec = load_spec("tabletop")
    for i, name in enumerate(n.strip() for n in args.policies.split(",")):
        torch.manual_seed(0)
        if name == "tiny":
            policy, title = make_policy("tiny", spec, {"head": {"kind": args.head}}), "tiny VLA"
        elif name == "hf":
            policy = make_policy("hf", spec, {**HF_BENCH, "head": {"kind": args.head}})
            title = "hf VLA (tiny random SigLIP + Llama, parallel chunk decoding)"
        else:
            ap.error(f"--policies: got {name!r}; allowed: tiny, hf")
        if i:
            print()
        report(title, policy.eval(), *measure(policy.eval(), args), args)


if __name__ == "__main__":
    main()
