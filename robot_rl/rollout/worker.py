"""The env worker process: holds one env for its whole life and executes resets and action chunks.

Protocol over a ``multiprocessing`` pipe (requests from the pool, one reply each):

- ``("reset", (Context, bool))`` -> ``("obs", ChunkOutcome)`` with ``executed == 0``; the flag
  says whether this episode applies the env's domain randomization (``Env.set_randomization``)
- ``("chunk", float32 (H, A))`` -> ``("obs", ChunkOutcome)``: the actions run open-loop until the
  chunk ends or the episode is done (success or episode limit)
- ``("close", None)``           -> the process exits
- any exception                 -> ``("error", traceback text)``; the worker keeps serving

The env is built inside the worker (simulators hold GL contexts and native state that must not
cross a fork), from a picklable factory such as :class:`SuiteEnvFactory`.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable

import numpy as np

from robot_rl.env import Context, Env, Observation, make_suite


@dataclass(frozen=True)
class SuiteEnvFactory:
    """Picklable recipe for an env: ``make_suite(suite, **suite_options).make_env(**env_options)``."""

    suite: str
    suite_options: dict[str, Any] = field(default_factory=dict)
    env_options: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Env:
        return make_suite(self.suite, **self.suite_options).make_env(**self.env_options)


@dataclass
class ChunkOutcome:
    """What a worker reports after a reset or a chunk: the next observation and the episode state."""

    obs: Observation
    success: bool
    done: bool
    executed: int  # actions of the chunk actually executed (0 for a reset)
    env_steps: int  # env steps since the last reset
    max_steps: int


def run_chunk(env: Env, chunk: np.ndarray, steps_so_far: int) -> tuple[Observation, bool, bool, int]:
    """Execute ``chunk`` (H, A) open-loop; stop early on success or at the episode limit.

    Returns the last observation, whether the task succeeded, whether the episode is done and how
    many actions ran. Shared by the worker processes and the in-process rollout loop.
    """
    obs, success, done, executed = None, False, False, 0
    for i, action in enumerate(chunk):
        # Only the observation after the last action is seen by the policy: skip rendering before it.
        result = env.step(action, render=i == len(chunk) - 1)
        executed += 1
        obs, success = result.obs, result.success
        done = result.done or steps_so_far + executed >= env.max_steps
        if done:
            break
    assert obs is not None, "empty action chunk"
    return obs, success, done, executed


def worker_main(conn: Connection, env_factory: Callable[[], Env], worker_id: int) -> None:
    """Entry point of one worker process."""
    # Rendering and numpy in each worker use one thread: the pool gets its parallelism from processes.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    env = env_factory()
    steps = 0
    conn.send(("ready", worker_id))
    while True:
        try:
            cmd, arg = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if cmd == "close":
            break
        try:
            if cmd == "reset":
                context, randomize = arg
                assert isinstance(context, Context)
                # Sent with every reset (not once per pool) so a restarted worker cannot lose it.
                env.set_randomization(randomize)
                obs = env.reset(context)
                steps = 0
                conn.send(("obs", ChunkOutcome(obs, False, False, 0, 0, env.max_steps)))
            elif cmd == "chunk":
                obs, success, done, executed = run_chunk(env, np.asarray(arg, dtype=np.float32), steps)
                steps += executed
                conn.send(("obs", ChunkOutcome(obs, success, done, executed, steps, env.max_steps)))
            else:
                conn.send(("error", f"unknown command {cmd!r}"))
        except Exception:  # noqa: BLE001 - reported to the pool, which discards the episode
            conn.send(("error", traceback.format_exc()))
    env.close()
