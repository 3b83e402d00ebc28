"""A pool of persistent env worker processes with crash and hang recovery.

Each worker holds one env for its whole life (envs switch contexts on reset instead of being
rebuilt). Requests are asynchronous: ``send_reset`` / ``send_chunk`` to a slot, then ``wait``
for replies. A worker that dies, raises, or does not answer within ``timeout_s`` is killed and
restarted, and ``wait`` reports a ``failed`` event for its slot so the caller can discard and
re-queue that rollout.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Literal

import numpy as np

from robot_rl.env import Context, Env
from robot_rl.errors import RobotRLError
from robot_rl.rollout.worker import ChunkOutcome, worker_main

log = logging.getLogger(__name__)


@dataclass
class SlotEvent:
    """A reply from one slot: an observation after a reset or chunk, or a failure of its worker."""

    slot: int
    kind: Literal["obs", "failed"]
    outcome: ChunkOutcome | None = None
    reason: str = ""


@dataclass
class _Worker:
    process: Any
    conn: Connection
    deadline: float | None = None  # set while a request is outstanding


class EnvPool:
    """Local worker processes, one env each.

    :param env_factory: picklable callable building the env inside the worker
        (e.g. :class:`~robot_rl.rollout.worker.SuiteEnvFactory`).
    :param num_workers: number of worker processes (= envs stepping in parallel).
    :param timeout_s: a request not answered within this time counts as a hung worker.
    :param start_method: ``spawn`` by default: simulators' GL contexts must not be forked.
    """

    def __init__(
        self,
        env_factory: Callable[[], Env],
        num_workers: int,
        timeout_s: float = 120.0,
        start_timeout_s: float = 300.0,
        start_method: str = "spawn",
    ) -> None:
        if num_workers < 1:
            raise RobotRLError(f"rollout.num_workers must be >= 1, got {num_workers}")
        self._factory = env_factory
        self._ctx = mp.get_context(start_method)
        self._timeout_s = timeout_s
        self._start_timeout_s = start_timeout_s
        self.restarts = 0
        self._workers: list[_Worker | None] = [None] * num_workers
        for slot in range(num_workers):
            self._workers[slot] = self._spawn(slot)
        for slot in range(num_workers):
            self._await_ready(slot)

    @property
    def num_workers(self) -> int:
        return len(self._workers)

    # ---- lifecycle -----------------------------------------------------------------------

    def _spawn(self, slot: int) -> _Worker:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=worker_main, args=(child, self._factory, slot), daemon=True, name=f"env-worker-{slot}")
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _await_ready(self, slot: int) -> None:
        worker = self._workers[slot]
        assert worker is not None
        if not worker.conn.poll(self._start_timeout_s):
            raise RobotRLError(f"env worker {slot} did not start within {self._start_timeout_s:.0f} s")
        try:
            msg = worker.conn.recv()
        except EOFError:
            raise RobotRLError(f"env worker {slot} died while building its env (exit code {worker.process.exitcode})") from None
        if msg[0] != "ready":
            raise RobotRLError(f"env worker {slot} failed to start: {msg[1]}")

    def _restart(self, slot: int, reason: str) -> None:
        worker = self._workers[slot]
        assert worker is not None
        log.warning("restarting env worker %d: %s", slot, reason)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=10)
        worker.conn.close()
        self.restarts += 1
        self._workers[slot] = self._spawn(slot)
        self._await_ready(slot)

    def close(self) -> None:
        """Stop every worker (politely, then by force)."""
        for worker in self._workers:
            if worker is None:
                continue
            try:
                worker.conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for worker in self._workers:
            if worker is None:
                continue
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers = []

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- requests ------------------------------------------------------------------------

    def _send(self, slot: int, msg: tuple[str, Any]) -> None:
        worker = self._workers[slot]
        assert worker is not None
        if worker.deadline is not None:
            raise RobotRLError(f"slot {slot} already has a request outstanding")
        worker.deadline = time.monotonic() + self._timeout_s
        try:
            worker.conn.send(msg)
        except (BrokenPipeError, OSError):
            # The worker is gone; wait() reports it as failed through its sentinel.
            pass

    def send_reset(self, slot: int, context: Context, randomize: bool = True) -> None:
        """Reset the slot's env to ``context``; ``randomize=False`` runs the episode without domain
        randomization (:meth:`~robot_rl.env.Env.set_randomization`)."""
        self._send(slot, ("reset", (context, randomize)))

    def send_chunk(self, slot: int, chunk: np.ndarray) -> None:
        self._send(slot, ("chunk", np.asarray(chunk, dtype=np.float32)))

    def pending(self) -> list[int]:
        """Slots with a request outstanding."""
        return [s for s, w in enumerate(self._workers) if w is not None and w.deadline is not None]

    def wait(self, timeout: float | None = None) -> list[SlotEvent]:
        """Block until at least one outstanding request resolves (or ``timeout``); return the events.

        Hung workers (past their deadline) and dead workers are restarted and reported as ``failed``.
        """
        events: list[SlotEvent] = []
        end = None if timeout is None else time.monotonic() + timeout
        while not events:
            pending = self.pending()
            if not pending:
                return events
            now = time.monotonic()
            next_deadline = min(self._workers[s].deadline for s in pending)  # type: ignore[union-attr]
            limit = next_deadline - now if end is None else min(next_deadline, end) - now
            waitables: dict[Any, int] = {}
            for s in pending:
                w = self._workers[s]
                assert w is not None
                waitables[w.conn] = s
                waitables[w.process.sentinel] = s
            ready = wait(list(waitables), timeout=max(limit, 0.0))
            for slot in sorted({waitables[r] for r in ready}):
                events.append(self._receive(slot))
            now = time.monotonic()
            for s in self.pending():
                w = self._workers[s]
                if w is not None and w.deadline is not None and now > w.deadline:
                    self._restart(s, f"no reply within {self._timeout_s:.0f} s")
                    events.append(SlotEvent(s, "failed", reason=f"hung: no reply within {self._timeout_s:.0f} s"))
            if end is not None and time.monotonic() >= end:
                break
        return events

    def _receive(self, slot: int) -> SlotEvent:
        worker = self._workers[slot]
        assert worker is not None
        worker.deadline = None
        try:
            if worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "obs":
                    return SlotEvent(slot, "obs", outcome=payload)
                reason = f"env raised:\n{payload}"
                log.warning("env worker %d: %s", slot, reason)
                return SlotEvent(slot, "failed", reason=reason)
        except (EOFError, OSError):
            pass
        reason = f"worker process died (exit code {worker.process.exitcode})"
        self._restart(slot, reason)
        return SlotEvent(slot, "failed", reason=reason)
