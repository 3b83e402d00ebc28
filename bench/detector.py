"""Success detector latency: one live frame (every detector camera + the instruction) -> calibrated verdict.

    .venv/bin/python bench/detector.py [--detector DIR] [--spec tabletop_64] [--threads 1] [--iters 300]

What the panel pays per camera frame when it runs the detector on the live stream: tokenizer,
network and calibration (``SuccessDetector.logits`` + ``verdict``) for one frame per camera.
Without ``--detector`` a randomly initialised default-config detector for ``--spec`` is timed
(the cost does not depend on the weights). Goal: p99 < 30 ms per frame on this CPU (a third of a 10 Hz period, like the policy latency goal).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from robot_rl.detector import SuccessDetector, load_detector
from robot_rl.spec import load_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", help="detector checkpoint (default: a random default-config detector)")
    ap.add_argument("--spec", default="tabletop_64", help="spec for the random detector (default tabletop_64)")
    ap.add_argument("--threads", default="1", help="torch thread counts to time, comma-separated (default 1)")
    ap.add_argument("--iters", type=int, default=300)
    args = ap.parse_args()
    det = load_detector(args.detector) if args.detector else SuccessDetector(load_spec(args.spec)).eval()
    rng = np.random.default_rng(0)
    cams = {c.name: c for c in det.spec.cameras if c.name in det.cameras}
    frames = {n: rng.integers(0, 256, size=(1, *c.shape), dtype=np.uint8) for n, c in cams.items()}
    params = sum(p.numel() for p in det.net.parameters())
    print(f"detector: {args.detector or 'random default config'}, spec {det.spec.name}, cameras "
          f"{', '.join(f'{n} {c.height}x{c.width}' for n, c in cams.items())}, {params / 1e6:.2f} M parameters")
    print(f"{'threads':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   (goal p99 < 30 ms)")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        times = np.empty(args.iters)
        for i in range(args.iters + 20):
            t = time.perf_counter()
            det.verdict(det.logits(frames, ["pick up the red cube"]))
            if i >= 20:  # warm-up
                times[i - 20] = (time.perf_counter() - t) * 1e3
        print(f"{threads:>7} {np.percentile(times, 50):8.2f} {np.percentile(times, 99):8.2f} {times.max():8.2f}")


if __name__ == "__main__":
    main()
