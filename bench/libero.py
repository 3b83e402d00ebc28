"""LIBERO env steps/s on this machine: physics only, and two cameras with each render setting.

One env (libero_spatial task 0) renders agentview + wrist at --size px; the render settings are
switched on the same env between runs so only rendering differs:

  physics-only     no renderer at all (render=False env)
  fast             no shadows, no reflections (our CPU default)
  libero-default   reflections on, lights without shadows (LIBERO's scenes as shipped)
  shadows          every light casts shadows, reflections on

Usage: MUJOCO_GL=egl python bench/libero.py [--steps 20] [--size 128] [--backend egl|osmesa]
Short by default: env creation (~6-15 s per env) dominates the run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script, bench/ comes first on sys.path and bench/sim.py would shadow the sim package.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def _rate(env, ctx, steps: int) -> float:
    env.reset(ctx)
    action = np.zeros(7, np.float32)
    action[6] = 1.0  # open gripper, no motion
    env.step(action)  # warm-up (first render after a reset uploads nothing new, but keep it out of timing)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(action)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed env steps per setting (default 20)")
    parser.add_argument("--size", type=int, default=128, help="camera image size in px (default 128)")
    parser.add_argument("--backend", choices=["egl", "osmesa"], default=None, help="MuJoCo GL backend (default $MUJOCO_GL or egl)")
    args = parser.parse_args()

    from robot_rl.env import Context
    from sim.libero.rendering import apply_render_flags
    from sim.libero.suite import LiberoSuite

    suite = LiberoSuite("libero_spatial", image_size=args.size, render_backend=args.backend, max_steps=3 * args.steps + 5)
    ctx = Context(suite.tasks()[0].task, 0)
    rows = []

    t0 = time.perf_counter()
    physics = suite.make_env(render=False)
    physics.reset(ctx)
    rows.append(("env creation + first reset, physics-only [s]", time.perf_counter() - t0))
    rows.append(("physics-only [steps/s]", _rate(physics, ctx, args.steps * 3)))
    physics.close()

    t0 = time.perf_counter()
    env = suite.make_env()
    env.reset(ctx)
    rows.append((f"env creation + first reset, 2 cameras {args.size}px [s]", time.perf_counter() - t0))
    t0 = time.perf_counter()
    for i in range(3):
        env.reset(Context(ctx.task, i))
    rows.append(("reset to a new context, same task (10 settle steps) [s]", (time.perf_counter() - t0) / 3))
    for label, shadows, reflections in [("fast: no shadows, no reflections", False, False),
                                        ("libero-default: reflections, no shadows", False, True),
                                        ("shadows + reflections", True, True)]:
        apply_render_flags(env.raw_env.sim, shadows=shadows, reflections=reflections)
        rows.append((f"2 cameras {args.size}px, {label} [steps/s]", _rate(env, ctx, args.steps)))
    env.close()

    print(f"LIBERO libero_spatial task 0, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, {os.cpu_count()} CPUs")
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:8.2f}")


if __name__ == "__main__":
    main()
