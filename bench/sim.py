"""Tabletop simulator speed (and, with --experts, scripted-expert success over every context).

Prints, in one run, side by side:
  * env steps/s for one env, rendering both cameras every step and only on policy decisions
    (every chunk_length-th step, how a chunk executes open loop),
  * the limits beside them: physics-only env steps/s (no rendering) and render-only frames/s,
  * scaling with 1 and 2 worker processes (LP_NUM_THREADS=1 so Mesa renders on one thread each).

    .venv/bin/python bench/sim.py                 # ~40 s
    .venv/bin/python bench/sim.py --seconds 5     # longer, steadier figures
    .venv/bin/python bench/sim.py --experts       # expert success over all 100 contexts of every task
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

# This file is called sim.py: drop its folder from the import path so `import sim` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LP_NUM_THREADS", "1")  # Mesa llvmpipe: one render thread per process

import numpy as np  # noqa: E402

from robot_rl.env import make_suite  # noqa: E402

STEPS_PER_EPISODE = 40  # reset to the next context this often: resets are part of the cost


def _actions(spec, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.3, 0.3, size=(n, spec.action_dim)) * spec.action_high  # (n, A)
    a[:, 6] = np.sign(rng.uniform(-1, 1, n))
    return a.astype(np.float32)


Rate = tuple[float, float]  # (per wall-clock second, per CPU second of this process)


def _rate(n: int, wall0: float, cpu0: float) -> Rate:
    # CPU time counts every thread of the process (Mesa's too): per-CPU-second figures stay
    # comparable when other work shares the machine, wall-clock figures do not.
    return n / (time.perf_counter() - wall0), n / max(time.process_time() - cpu0, 1e-9)


def run_steps(env, contexts, seconds: float, render_every: int) -> Rate:
    """Env steps/s over ``seconds``: render every ``render_every``-th step (0: never)."""
    actions = _actions(env.spec, 1000)
    n, k = 0, 0
    env.reset(contexts[0])
    end = time.perf_counter() + seconds
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() < end:
        for _ in range(STEPS_PER_EPISODE):
            n += 1
            env.step(actions[n % 1000], render=render_every > 0 and n % render_every == 0)
        k += 1
        env.reset(contexts[k % len(contexts)])
    return _rate(n, wall0, cpu0)


def render_only(env, contexts, seconds: float) -> Rate:
    """Frames/s rendering the spec's cameras of a fixed scene (no physics)."""
    env.reset(contexts[0])
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    end = wall0 + seconds
    while time.perf_counter() < end:
        for cam in env.spec.camera_names:
            env.render(cam)
            n += 1
    return _rate(n, wall0, cpu0)


def _worker(seconds: float, barrier, queue) -> None:
    suite = make_suite("tabletop")
    env = suite.make_env()
    contexts = suite.contexts()
    run_steps(env, contexts, 0.3, 1)  # warm up
    barrier.wait()
    queue.put(run_steps(env, contexts, seconds, 1))
    env.close()


def scaling(processes: int, seconds: float) -> list[Rate]:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(seconds, barrier, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return rates


def bench_speed(seconds: float) -> dict:
    suite = make_suite("tabletop")
    env = suite.make_env()
    contexts = suite.contexts()
    chunk = env.spec.chunk_length
    run_steps(env, contexts, 0.3, 1)  # warm up caches and GL
    out = {
        "render_every_step": run_steps(env, contexts, seconds, 1),
        f"render_every_{chunk}_steps": run_steps(env, contexts, seconds, chunk),
        "physics_only": run_steps(env, contexts, seconds, 0),
        "render_only_frames": render_only(env, contexts, seconds),
    }
    env.close()
    one = scaling(1, seconds)
    two = scaling(2, seconds)
    out["one_process"] = (one[0][0], one[0][1])
    out["two_processes"] = (sum(r[0] for r in two), sum(r[1] for r in two))
    out["two_processes_each"] = [r[0] for r in two]
    return out


def bench_experts(noise: float) -> dict:
    suite = make_suite("tabletop")
    env = suite.make_env()
    table = {}
    for info in suite.tasks():
        expert = suite.expert(info.task, noise=noise, seed=0)
        ok, lengths = 0, []
        for ctx in suite.contexts(info.task, "all"):
            env.reset(ctx)
            expert.reset(env)
            for _ in range(env.max_steps):
                result = env.step(expert.act(), render=False)
                if result.done:
                    break
            ok += int(result.success)
            lengths.append(result.info["t"])
        table[info.task] = {"success": ok, "episodes": len(lengths), "mean_steps": float(np.mean(lengths))}
        print(f"  {info.task:<20} {ok:>3}/{len(lengths)}  mean {np.mean(lengths):5.1f} steps "
              f"(limit {info.max_steps})", flush=True)
    env.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--experts", action="store_true", help="measure expert success on all contexts instead")
    parser.add_argument("--noise", type=float, default=0.0, help="expert action noise for --experts")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    if args.experts:
        print(f"scripted-expert success over every context (noise {args.noise}):")
        table = bench_experts(args.noise)
        total = sum(t["success"] for t in table.values())
        n = sum(t["episodes"] for t in table.values())
        print(f"  {'all':<20} {total:>3}/{n}  ({100 * total / n:.1f}%)")
        if args.json:
            print(json.dumps(table))
        return
    r = bench_speed(args.seconds)
    base = r["render_every_step"][0]
    chunk = make_suite("tabletop").spec.chunk_length
    load = os.getloadavg()[0]
    print(f"tabletop, two 128x128 cameras, shadows off; {os.cpu_count()} CPUs, load average {load:.1f}; "
          f"{args.seconds:g} s per figure")
    print(f"  {'figure':<50} {'per wall s':>10} {'per CPU s':>10}  {'x render-every-step':>19}")
    rows = [
        ("env steps/s, render every step", r["render_every_step"]),
        (f"env steps/s, render every {chunk}th step (decisions)", r[f"render_every_{chunk}_steps"]),
        ("env steps/s, physics only (no render)", r["physics_only"]),
        ("frames/s, render only (one camera image)", r["render_only_frames"]),
        ("env steps/s, 1 worker process (render every step)", r["one_process"]),
        ("env steps/s, 2 worker processes together", r["two_processes"]),
    ]
    for name, (wall, cpu) in rows:
        print(f"  {name:<50} {wall:10.1f} {cpu:10.1f}  {wall / base:19.2f}")
    ideal = min(2, os.cpu_count() or 1)
    scale = r["two_processes"][0] / r["one_process"][0]
    print(f"  2-process scaling (wall): {scale:.2f}x of 1 process = {scale / ideal:.2f} of ideal {ideal}x "
          f"(per process {', '.join(f'{x:.0f}' for x in r['two_processes_each'])}); "
          f"meaningful only on an otherwise idle machine")
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
