"""One LOOP update of a VLA-sized hf policy on a GPU: bf16 towers, activation checkpointing, AdamW.

    python bench/gpu_update.py                 # SigLIP-B/16 at 224 px x 2 cameras + a 0.5B Qwen2-shaped LM
    python bench/gpu_update.py --size tiny     # the same code path on a CPU in seconds

Random weights built from configs (no hub): the figures are the cost of the computation, not of a
trained model. It prints, side by side, batched sampling (what rollouts pay per decision), one LOOP
update (forward + backward + AdamW over a batch of policy steps, in minibatches and microbatches as
`loop.minibatch_size` / `loop.microbatch_size` configure it) and batch-1 latency (what the policy node
pays per chunk), with peak GPU memory. scripts/gpu_check.sh runs it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_update, make_optimizer
from robot_rl.devices import resolve_device
from robot_rl.policies import make_policy
from robot_rl.spec import EmbodimentSpec, load_spec

SIZES = {
    # SigLIP-B/16 (86 M) and a Qwen2-0.5B-shaped LM (494 M): the scale of the small open VLAs.
    "base": {"vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                               "num_attention_heads": 12, "image_size": 224, "patch_size": 16},
             "language_config": {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
                                 "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
                                 "num_key_value_heads": 2, "max_position_embeddings": 2048, "tie_word_embeddings": True},
             "max_instruction_length": 32, "image": 224},
    "tiny": {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "image_size": 32, "patch_size": 16},
             "language_config": {"model_type": "llama", "vocab_size": 600, "hidden_size": 32, "intermediate_size": 64,
                                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                                 "max_position_embeddings": 256},
             "max_instruction_length": 16, "image": 32},
}


def spec_for(image: int) -> EmbodimentSpec:
    d = load_spec("tabletop").to_dict()
    d["cameras"] = [{"name": c["name"], "height": image, "width": image} for c in d["cameras"]]
    return EmbodimentSpec.from_dict(d)


def observations(spec: EmbodimentSpec, n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"images": {c.name: rng.integers(0, 256, (n, c.height, c.width, 3), dtype=np.uint8) for c in spec.cameras},
            "proprio": rng.normal(size=(n, spec.proprio_dim)).astype(np.float32),
            "instruction": ["pick up the red cube and put it in the bowl"] * n}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="base")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--head", choices=["token", "gaussian"], default="token")
    ap.add_argument("--steps", type=int, default=256, help="policy steps in the LOOP batch (8 groups x K=8 x 4 decisions)")
    ap.add_argument("--minibatch", type=int, default=64)
    ap.add_argument("--microbatch", type=int, default=16)
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    ap.add_argument("--no-checkpointing", action="store_true")
    ap.add_argument("--iters", type=int, default=50, help="batch-1 latency iterations")
    args = ap.parse_args()

    device = resolve_device(args.device)
    size = dict(SIZES[args.size])
    spec = spec_for(size.pop("image"))
    head = {"kind": args.head, "bins": 256} if args.head == "token" else {"kind": args.head}
    torch.manual_seed(0)
    t0 = time.perf_counter()
    policy = make_policy("hf", spec, {**size, "dtype": args.dtype, "gradient_checkpointing": not args.no_checkpointing,
                                      "head": head}).to(device)
    sync(device)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in policy.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"hf VLA {args.size}: {n_params / 1e6:.1f} M params, {args.dtype}, checkpointing {not args.no_checkpointing}, "
          f"{args.head} head, 2 cameras {spec.cameras[0].width} px, chunk {spec.chunk_length}x{spec.action_dim}, "
          f"on {name} (built in {build_s:.1f} s)")

    # Rollout-side sampling, batched as the trainer's inference does.
    policy.eval()
    obs = observations(spec, args.steps)
    gen = torch.Generator(device=device).manual_seed(0)
    chunks = []
    with torch.no_grad():
        policy.sample(observations(spec, args.microbatch, seed=1), 1.0, gen)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for start in range(0, args.steps, args.minibatch):
            part = {"images": {k: v[start:start + args.minibatch] for k, v in obs["images"].items()},
                    "proprio": obs["proprio"][start:start + args.minibatch],
                    "instruction": obs["instruction"][start:start + args.minibatch]}
            chunks.append(policy.sample(part, 1.0, gen))
        sync(device)
    sample_s = time.perf_counter() - t0
    sample = type(chunks[0])(**{f: (None if getattr(chunks[0], f) is None else torch.cat([getattr(c, f) for c in chunks]))
                                for f in ("action", "log_prob", "tokens", "raw_action")})

    # One LOOP update: one PPO epoch over the batch.
    policy.train()
    cfg = LoopConfig(ppo_epochs=1, minibatch_size=args.minibatch, microbatch_size=args.microbatch,
                     lr_backbone=1e-5, lr_head=1e-4, granularity="token")
    adv = torch.from_numpy(np.random.default_rng(0).choice([-0.5, 0.5], size=args.steps).astype(np.float32))
    optimizer = make_optimizer(policy, cfg)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    stats = loop_update(policy, optimizer, LoopBatch(obs, sample, adv), cfg, generator=torch.Generator().manual_seed(0))
    sync(device)
    update_s = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")

    # Batch-1 latency through the same network (what policy_node pays per chunk on this device).
    policy.eval()
    one = observations(spec, 1, seed=2)
    lat = []
    with torch.no_grad():
        for i in range(args.iters + 5):
            t = time.perf_counter()
            policy.act(one).cpu()
            if i >= 5:
                lat.append((time.perf_counter() - t) * 1e3)

    print(f"{'what':<34}{'figure':>14}")
    print(f"{'sampling, batch ' + str(args.minibatch):<34}{args.steps / sample_s:>10.0f} obs/s")
    print(f"{'LOOP update (1 epoch)':<34}{update_s:>12.2f} s  ({args.steps / update_s:.0f} policy steps/s, "
          f"{int(stats['charts/optimizer_steps'])} AdamW steps, grad norm {stats['charts/grad_norm']:.3g}, "
          f"ratio {stats['charts/ratio_mean']:.4f})")
    print(f"{'batch-1 act() latency':<34}{np.percentile(lat, 50):>10.2f} ms p50, {np.percentile(lat, 99):.2f} ms p99")
    print(f"{'peak GPU memory in the update':<34}{peak:>10.1f} GiB")
    print(f"update / sampling time per policy step: {(update_s / args.steps) / (sample_s / args.steps):.1f}x")


if __name__ == "__main__":
    main()
