"""The Ray backend of the env pool: env workers as Ray actors, possibly on other machines.

Same interface as :class:`~robot_rl.rollout.pool.EnvPool` (``send_reset``, ``send_chunk``,
``pending``, ``wait``, ``close``, ``restarts``), so :func:`~robot_rl.rollout.collector.collect`
and the trainer do not care where envs run. Start a cluster with ``ray start --head`` on one
machine and ``ray start --address=HEAD:6379`` on the others, then set ``rollout.backend: ray``
and ``rollout.ray_address: auto``. Ray is imported lazily: ``pip install 'ray>=2.9'``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

import numpy as np

from robot_rl.env import Context, Env
from robot_rl.errors import RobotRLError
from robot_rl.rollout.pool import SlotEvent
from robot_rl.rollout.worker import ChunkOutcome, run_chunk

log = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RobotRLError("rollout.backend 'ray' needs Ray: pip install 'ray>=2.9'") from err
    return ray


class EnvActor:
    """Holds one env inside a Ray actor process; methods mirror the local worker protocol."""

    def __init__(self, env_factory: Callable[[], Env]) -> None:
        self.env = env_factory()
        self.steps = 0

    def reset(self, context: Context, randomize: bool = True) -> ChunkOutcome:
        self.env.set_randomization(randomize)
        obs = self.env.reset(context)
        self.steps = 0
        return ChunkOutcome(obs, False, False, 0, 0, self.env.max_steps)

    def chunk(self, chunk: np.ndarray) -> ChunkOutcome:
        obs, success, done, executed = run_chunk(self.env, chunk, self.steps)
        self.steps += executed
        return ChunkOutcome(obs, success, done, executed, self.steps, self.env.max_steps)

    def ping(self) -> bool:
        return True

    def pid(self) -> int:
        return os.getpid()


class RayEnvPool:
    """Env workers as Ray actors (one env each), with the local pool's failure handling.

    :param address: Ray cluster address (``"auto"`` to join a running cluster); ``None`` starts a
        local Ray instance if none is initialised.
    :param num_cpus_per_worker: CPUs Ray reserves for each env actor.
    """

    def __init__(
        self,
        env_factory: Callable[[], Env],
        num_workers: int,
        timeout_s: float = 120.0,
        address: str | None = None,
        num_cpus_per_worker: float = 1.0,
        start_timeout_s: float = 300.0,
    ) -> None:
        if num_workers < 1:
            raise RobotRLError(f"rollout.num_workers must be >= 1, got {num_workers}")
        self._ray = _import_ray()
        if not self._ray.is_initialized():
            self._ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self._actor_cls = self._ray.remote(num_cpus=num_cpus_per_worker)(EnvActor)
        self._factory = env_factory
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s
        self.restarts = 0
        self._actors = [self._actor_cls.remote(env_factory) for _ in range(num_workers)]
        self._inflight: dict[int, tuple[Any, float]] = {}  # slot -> (object ref, deadline)
        self._ray.get([a.ping.remote() for a in self._actors], timeout=start_timeout_s)

    @property
    def num_workers(self) -> int:
        return len(self._actors)

    def _submit(self, slot: int, ref: Any) -> None:
        if slot in self._inflight:
            raise RobotRLError(f"slot {slot} already has a request outstanding")
        self._inflight[slot] = (ref, time.monotonic() + self._timeout_s)

    def send_reset(self, slot: int, context: Context, randomize: bool = True) -> None:
        self._submit(slot, self._actors[slot].reset.remote(context, randomize))

    def send_chunk(self, slot: int, chunk: np.ndarray) -> None:
        self._submit(slot, self._actors[slot].chunk.remote(np.asarray(chunk, dtype=np.float32)))

    def pending(self) -> list[int]:
        return sorted(self._inflight)

    def _restart(self, slot: int, reason: str) -> None:
        log.warning("restarting Ray env actor %d: %s", slot, reason)
        self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._actor_cls.remote(self._factory)
        self._ray.get(self._actors[slot].ping.remote(), timeout=self._start_timeout_s)
        self.restarts += 1

    def wait(self, timeout: float | None = None) -> list[SlotEvent]:
        """Block until at least one outstanding request resolves; restart dead or hung actors."""
        events: list[SlotEvent] = []
        end = None if timeout is None else time.monotonic() + timeout
        while not events and self._inflight:
            now = time.monotonic()
            next_deadline = min(d for _, d in self._inflight.values())
            limit = next_deadline - now if end is None else min(next_deadline, end) - now
            by_ref = {ref: slot for slot, (ref, _) in self._inflight.items()}
            ready, _ = self._ray.wait(list(by_ref), num_returns=len(by_ref), timeout=max(limit, 0.0))
            for ref in ready:
                slot = by_ref[ref]
                del self._inflight[slot]
                try:
                    events.append(SlotEvent(slot, "obs", outcome=self._ray.get(ref)))
                except self._ray.exceptions.RayActorError as err:
                    self._restart(slot, f"actor died: {err}")
                    events.append(SlotEvent(slot, "failed", reason=f"actor died: {err}"))
                except self._ray.exceptions.RayTaskError as err:
                    events.append(SlotEvent(slot, "failed", reason=f"env raised:\n{err}"))
            now = time.monotonic()
            for slot, (_, deadline) in list(self._inflight.items()):
                if now > deadline:
                    del self._inflight[slot]
                    self._restart(slot, f"no reply within {self._timeout_s:.0f} s")
                    events.append(SlotEvent(slot, "failed", reason=f"hung: no reply within {self._timeout_s:.0f} s"))
            if end is not None and time.monotonic() >= end:
                break
        return events

    def actor_pid(self, slot: int) -> int:
        """Process id of a slot's actor (for fault-injection tests)."""
        return int(self._ray.get(self._actors[slot].pid.remote()))

    def close(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        self._inflight = {}

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
