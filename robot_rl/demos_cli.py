"""`robot-rl demos`: record scripted-expert demonstrations into a rollout buffer.

By default each env step becomes one buffer step: the observation there and the next H actions
the expert executed from it (closed loop, so the chunk is what a policy imitating it must
output; ``executed`` counts the actions that exist before the episode ends). ``--decisions-only``
keeps one row per decision (every H env steps), the layout of a policy's own rollouts.
Log-probs are zeros and the label source is ``expert``. Suites that offer
``suite.expert(task, noise=, seed=)`` (``tabletop``, ``point_reach``) can record demos.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.env import Context, Env, Suite, make_suite
from robot_rl.errors import ConfigError

log = logging.getLogger(__name__)

EXPERT_POLICY_VERSION = 0  # the buffer accepts versions >= 0; label_source "expert" marks these episodes


def record_episode(env: Env, suite: Suite, context: Context, writer: Any, noise: float, seed: int,
                   every_step: bool = True) -> tuple[bool, int]:
    """Run the expert from ``context`` into ``writer``; returns (success, env steps).

    ``every_step``: one buffer step per env step, each with the next H expert actions as its chunk
    (``executed`` counts those that exist before the episode ends): H times more supervised data
    from the same demonstrations, as ACT-style chunked behaviour cloning uses. Otherwise one
    buffer step per decision (every H env steps), the rows a policy's own rollout would have.
    """
    spec = env.spec
    horizon, adim = spec.chunk_shape
    expert = suite.expert(context.task, noise=noise, seed=seed)  # type: ignore[attr-defined]
    obs = env.reset(context)
    expert.reset(env)
    observations, actions, stamps = [], [], []
    t, success, done = 0, False, False
    while not done:
        if every_step or t % horizon == 0:
            observations.append(obs)
            stamps.append(time.time())
        action = expert.act(obs)
        actions.append(action)
        # Render only where a row will be written (every step, or the next decision).
        result = env.step(action, render=every_step or (t + 1) % horizon == 0)
        t += 1
        done, success, obs = result.done, result.success, result.obs
    actions_arr = np.asarray(actions, dtype=np.float32)  # (T, A)
    stride = 1 if every_step else horizon
    n = len(observations)
    chunks = np.zeros((n, horizon, adim), dtype=np.float32)  # (N, H, A); unexecuted tail stays zero
    executed = np.zeros(n, dtype=np.int64)
    for i in range(n):
        part = actions_arr[i * stride : i * stride + horizon]
        chunks[i, : len(part)] = part
        executed[i] = len(part)
    writer.add_steps(images={c: np.stack([o.images[c] for o in observations]) for c in spec.camera_names},
                     proprio=np.stack([o.proprio for o in observations]), action=chunks,
                     log_prob=np.zeros_like(chunks), t_capture=stamps, t_decision=stamps, executed=executed)
    return success, t


def record_demos(suite: Suite, tasks: list[str], episodes: int, out: str | Path, noise: float = 0.1, seed: int = 0,
                 split: str = "train", keep_failures: bool = False, every_step: bool = True) -> dict[str, list[int]]:
    """Record ``episodes`` expert episodes (round-robin over ``tasks`` and their contexts) into the buffer at ``out``.

    Failed expert episodes are discarded unless ``keep_failures``. Returns {task: [successes, attempts]}.
    """
    from robot_rl.buffer import RolloutBuffer  # the buffer pulls in zarr: import on use

    if not callable(getattr(suite, "expert", None)):
        raise ConfigError(f"suite '{suite.name}' has no scripted expert; suites with experts: tabletop, point_reach")
    if episodes < 1:
        raise ConfigError(f"--episodes: got {episodes}; must be >= 1")
    contexts = {task: suite.contexts(task, split) for task in tasks}  # type: ignore[arg-type]
    out = Path(out)
    buf = RolloutBuffer.open(out, mode="a", spec=suite.spec) if out.exists() and any(out.iterdir()) \
        else RolloutBuffer.create(out, suite.spec)
    env = suite.make_env()
    kept = attempts = 0
    per_task = {task: [0, 0] for task in tasks}
    try:
        while kept < episodes and attempts < 2 * episodes + 10:
            task = tasks[attempts % len(tasks)]
            ctxs = contexts[task]
            ctx = ctxs[(attempts // len(tasks)) % len(ctxs)]
            attempts += 1
            writer = buf.begin_episode()
            success, steps = record_episode(env, suite, ctx, writer, noise, seed=seed * 100_003 + attempts, every_step=every_step)
            judged = time.time()  # the env has just said success or reached its step limit: the label time
            per_task[task][1] += 1
            if success or keep_failures:
                writer.commit(task=task, reward=int(success), label_source="expert", context_id=ctx.id,
                              init_id=ctx.init_id, instruction=suite.task(task).instruction,
                              policy_version=EXPERT_POLICY_VERSION, status="ok" if success else "timeout",
                              env_steps=steps, t_label=judged)
                kept += 1
                per_task[task][0] += int(success)
            else:
                writer.abort()
                log.info("expert failed on %s; episode discarded", ctx.id)
    finally:
        env.close()
        buf.close()
    if kept < episodes:
        raise ConfigError(f"the expert succeeded on only {kept} of {attempts} attempts; wanted {episodes} episodes")
    return per_task


def _demos(args: argparse.Namespace) -> int:
    suite = make_suite(args.suite)
    tasks = [suite.task(args.task).task] if args.task else [t.task for t in suite.tasks()]
    per_task = record_demos(suite, tasks, args.episodes, args.out, args.noise, args.seed, args.split, args.keep_failures,
                            every_step=not args.decisions_only)
    print(f"recorded {args.episodes} expert episodes into {args.out} ({sum(n for _, n in per_task.values())} attempts)")
    for task, (ok, n) in per_task.items():
        print(f"  {task:<22} {ok}/{n} successful")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demos", help="record scripted-expert demonstrations into a rollout buffer",
        description="Run a suite's scripted expert on its contexts (round-robin over tasks and initial states) "
                    "and record each episode into the rollout buffer at --out (created if missing): one step per "
                    "decision with the observation and the expert's next chunk of actions, label source 'expert'.")
    parser.add_argument("--suite", default="tabletop", help="suite with scripted experts (default: tabletop)")
    parser.add_argument("--task", help="record only this task (default: every task, round-robin)")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes to record")
    parser.add_argument("--out", required=True, help="rollout buffer directory (created, or appended to)")
    parser.add_argument("--split", choices=("train", "eval", "all"), default="train", help="contexts to use")
    parser.add_argument("--noise", type=float, default=0.1, help="expert action noise (0 = deterministic)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the expert noise")
    parser.add_argument("--keep-failures", action="store_true", help="also record failed episodes (reward 0)")
    parser.add_argument("--decisions-only", action="store_true",
                        help="one row per decision (every H env steps) instead of one per env step")
    parser.set_defaults(func=_demos)
