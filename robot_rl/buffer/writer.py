"""The one writer of a store: an exclusive lock, chunk-aligned staged writes and the commit protocol.

Commit protocol (docs/rollout_buffer.md): step rows are written past the committed length, then
the episode's table row, then the root group's commit record, which zarr replaces atomically
(temp file + rename, see zarr.storage._local._atomic_write). Readers only read rows below the
commit record, so a writer killed at any moment leaves nothing visible that was not committed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import zarr

from robot_rl.buffer.format import (
    EPISODE_COLUMNS, LOCK_FILE, Commit, StoreHeader, episode_columns, gather, step_layout,
)
from robot_rl.buffer.repair import truncate_store
from robot_rl.buffer.upgrade import upgrade_store
from robot_rl.buffer.validate import validate_episode_meta, validate_steps
from robot_rl.errors import BufferError

log = logging.getLogger(__name__)


def acquire_lock(path: Path) -> int:
    """Take the store's exclusive writer lock (released by the kernel if the writer dies)."""
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise BufferError(f"{path}: another writer holds the lock (pid {holder}); a store has one writer at a "
                          "time; open it with mode='r' to read while it records") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


async def _grow_and_set(array: zarr.Array, start: int, stop: int, rows: np.ndarray) -> None:
    """Grow ``array`` to at least ``stop`` rows (metadata first, so chunks never lie past the shape), then write."""
    if array.shape[0] < stop:
        await array.async_array.resize((stop, *array.shape[1:]))
    await array.async_array.setitem(slice(start, stop), rows)


class _Flusher:
    """Background thread writing staged chunk-aligned blocks, so add_step costs a memcpy, not a write."""

    def __init__(self, write_block: Any) -> None:
        self._write_block = write_block
        self._jobs: queue.Queue = queue.Queue(maxsize=1)  # at most one block waiting: bounded memory
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="buffer-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    self._write_block(*job)
            except BaseException as err:  # surfaced to the caller on its next call
                self._error = err
            finally:
                self._jobs.task_done()

    def submit(self, start: int, block: dict[str, np.ndarray]) -> None:
        self.check()
        self._jobs.put((start, block))

    def wait(self) -> None:
        self._jobs.join()
        self.check()

    def check(self) -> None:
        if self._error is not None:
            raise BufferError(f"background write failed: {self._error!r}") from self._error

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


class WriteSession:
    """Writer-side state of an open store: lock, array handles, commit record."""

    def __init__(self, path: Path, header: StoreHeader, background: bool = True) -> None:
        self.path = path
        self.header = header
        self._lock_fd = acquire_lock(path)
        try:
            store = zarr.storage.LocalStore(path)
            self.root = zarr.open_group(store, mode="r+", zarr_format=3, use_consolidated=False)
            self.layout = step_layout(header.spec)
            self.steps = {lay.name: self._open(f"steps/{lay.name}", lay.name.startswith("images/"))
                          for lay in self.layout}
            self.commit = header.commit
            # Repair with the columns the store's version has, then upgrade an older store (its
            # new columns get fill values for the committed episodes), so every commit writes all.
            stored = {name: self._open(f"episodes/{name}", False) for name in episode_columns(header.format_version)}
            truncate_store(path, self.steps, stored, self.commit)
            self.header = upgrade_store(path, self.root, header)
            self.columns = {name: self._open(f"episodes/{name}", False) for name in EPISODE_COLUMNS}
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._flusher = _Flusher(self._write_block) if background else None
        self.active: EpisodeWriter | None = None

    def _open(self, name: str, always_write: bool) -> zarr.Array:
        # Skipping the "is this chunk all fill value?" scan matters for images: zarr's check costs
        # ~20 ms per 3 MB chunk (measured), more than the write itself. An array takes the setting
        # when it is opened; set this way (not Array.with_config, new in zarr 3.1.6, which needs
        # numpy 2) the buffer runs on zarr 3.1.0-3.1.5 with numpy 1.26 too.
        with zarr.config.set({"array.write_empty_chunks": always_write}):
            return self.root[name]

    def _write_block(self, start: int, block: dict[str, np.ndarray]) -> None:
        """Write rows ``[start, start + n)`` of every step array (growing them first)."""
        stop = start + len(block["episode"])
        gather(*(_grow_and_set(self.steps[name], start, stop, rows) for name, rows in block.items()))

    def write_block(self, start: int, block: dict[str, np.ndarray]) -> None:
        if self._flusher is not None:
            self._flusher.submit(start, block)
        else:
            self._write_block(start, block)

    def drain(self) -> None:
        if self._flusher is not None:
            self._flusher.wait()

    def commit_episode(self, row: dict[str, Any], steps: int) -> int:
        """Write the table row, then the commit record (last: the commit point). Returns the index."""
        self.drain()
        idx = self.commit.episodes
        gather(*(_grow_and_set(self.columns[k], idx, idx + 1, np.asarray([row[k]], dtype=self.columns[k].dtype))
                 for k in EPISODE_COLUMNS))
        new = Commit(idx + 1, self.commit.steps + steps)
        self.root.attrs.update({"commit": new.to_dict()})
        self.commit = new
        return idx

    def discard_uncommitted(self) -> None:
        self.drain()
        truncate_store(self.path, self.steps, self.columns, self.commit)

    def close(self) -> None:
        if self.active is not None:
            self.active.abort()
        if self._flusher is not None:
            self._flusher.close()
            self._flusher = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


class EpisodeWriter:
    """Adds policy steps of one episode, then commits or aborts it. Get one from ``RolloutBuffer.begin_episode``.

    Steps are staged in memory up to the next chunk boundary and written as one chunk-aligned block,
    so memory stays bounded for long episodes and each write touches one chunk per array.
    """

    def __init__(self, session: WriteSession) -> None:
        self._s = session
        self._spec = session.header.spec
        self._per_chunk = session.header.steps_per_chunk
        self._start = session.commit.steps  # first row of this episode
        self._episode = session.commit.episodes
        self._count = 0  # steps added so far
        self._has_tokens: bool | None = None
        self._has_raw: bool | None = None
        self._t_start = 0.0
        self._t_end = 0.0
        self._env_steps = 0
        self._block: dict[str, np.ndarray] | None = None
        self._block_start = self._start
        self._block_fill = 0
        self._done = False

    @property
    def num_steps(self) -> int:
        """Steps added so far."""
        return self._count

    @property
    def episode_index(self) -> int:
        """The index this episode gets if it is committed."""
        return self._episode

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if not self._done:
            self.abort()

    def add_step(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, action: np.ndarray,
                 log_prob: np.ndarray, tokens: np.ndarray | None = None, raw_action: np.ndarray | None = None,
                 t_capture: float = 0.0, t_decision: float = 0.0, executed: int | None = None) -> None:
        """Add one policy step: images per camera ``(H, W, 3)`` uint8, proprio ``(D,)``, chunks ``(H, A)``."""
        h = self._spec.chunk_length
        self.add_steps(
            images={k: np.asarray(v)[None] for k, v in images.items()} if isinstance(images, Mapping) else images,
            proprio=np.asarray(proprio)[None], action=np.asarray(action)[None], log_prob=np.asarray(log_prob)[None],
            tokens=None if tokens is None else np.asarray(tokens)[None],
            raw_action=None if raw_action is None else np.asarray(raw_action)[None],
            t_capture=[t_capture], t_decision=[t_decision], executed=[h if executed is None else executed],
        )

    def add_steps(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, action: np.ndarray,
                  log_prob: np.ndarray, tokens: np.ndarray | None = None, raw_action: np.ndarray | None = None,
                  t_capture: Any = None, t_decision: Any = None, executed: Any = None) -> None:
        """Add N steps at once (every argument with a leading axis N); validated as a whole."""
        self._check_open()
        n = len(np.asarray(proprio)) if np.ndim(proprio) else -1
        if n <= 0:
            raise BufferError(f"proprio: expected shape (N, {self._spec.proprio_dim}) with N >= 1")
        h = self._spec.chunk_length
        steps = validate_steps(self._spec, n, images, proprio, action, log_prob, tokens, raw_action,
                               np.zeros(n) if t_capture is None else t_capture,
                               np.zeros(n) if t_decision is None else t_decision,
                               np.full(n, h) if executed is None else executed)
        for flag, field, given in (("_has_tokens", "tokens", tokens is not None),
                                   ("_has_raw", "raw_action", raw_action is not None)):
            if getattr(self, flag) is None:
                setattr(self, flag, given)
            elif getattr(self, flag) != given:
                raise BufferError(f"{field}: given for some steps of the episode and not others; "
                                  "give it for every step or for none")
        if self._count == 0:
            self._t_start = float(steps["t_capture"][0])
        self._t_end = float(steps["t_decision"][-1])
        self._env_steps += int(steps["executed"].sum())
        steps["episode"] = np.full(n, self._episode, dtype=np.int64)
        self._stage(steps, n)
        self._count += n

    def _new_block(self) -> dict[str, np.ndarray]:
        # A block covers rows up to the next chunk boundary; unused arrays keep their fill value.
        return {lay.name: np.full((self._per_chunk, *lay.row_shape), lay.fill, dtype=lay.dtype)
                for lay in self._s.layout}

    def _stage(self, steps: dict[str, np.ndarray], n: int) -> None:
        done = 0
        while done < n:
            if self._block is None:
                self._block = self._new_block()
                self._block_fill = 0
            capacity = self._per_chunk - self._block_start % self._per_chunk
            take = min(n - done, capacity - self._block_fill)
            for name, rows in steps.items():
                self._block[name][self._block_fill:self._block_fill + take] = rows[done:done + take]
            self._block_fill += take
            done += take
            if self._block_fill == capacity:
                self._flush()

    def _flush(self) -> None:
        if self._block is None or self._block_fill == 0:
            return
        block = {k: v[:self._block_fill] for k, v in self._block.items()}
        self._s.write_block(self._block_start, block)
        self._block_start += self._block_fill
        self._block = None
        self._block_fill = 0

    def commit(self, task: str, reward: int, label_source: str, context_id: str = "", init_id: int = -1,
               instruction: str = "", group_id: str = "", policy_version: int = 0, status: str = "ok",
               operator: str = "", env_steps: int | None = None, t_label: float | None = None,
               temperature: float | None = None, detector_p: float | None = None) -> int:
        """Make the episode visible with its metadata; returns its episode index.

        ``env_steps`` defaults to the number of executed actions. ``reward`` is 0 or 1,
        ``label_source`` one of sim/expert/operator/detector/detector_confirmed, ``status`` one of ok/timeout/aborted/estop/error.
        ``t_label`` is when the reward was decided [s, the clock of ``t_decision``]: the operator's
        judgement, the simulator's success check or step limit; None or NaN when nobody labelled it.
        ``temperature`` is the temperature the policy sampled every step of the episode at (the
        trainer scores PPO ratios at it); None or NaN when no policy sampled it (a demonstration).
        ``detector_p`` is the success detector's calibrated probability of success when the label was
        given (required for label sources detector/detector_confirmed); None or NaN when none ran.
        """
        self._check_open()
        if self._count == 0:
            raise BufferError("commit: the episode has no steps; add_step at least once or abort() it")
        meta = validate_episode_meta(
            task=task, context_id=context_id, init_id=init_id, instruction=instruction, group_id=group_id,
            reward=reward, label_source=label_source, policy_version=policy_version, status=status,
            operator=operator, env_steps=self._env_steps if env_steps is None else env_steps, t_label=t_label,
            temperature=temperature, detector_p=detector_p)
        self._flush()
        row = dict(meta, step_start=self._start, step_count=self._count, t_start=self._t_start,
                   t_end=self._t_end, has_tokens=bool(self._has_tokens), has_raw_action=bool(self._has_raw))
        try:
            idx = self._s.commit_episode(row, self._count)
        finally:
            self._finish()
        return idx

    def abort(self) -> None:
        """Discard the episode: nothing of it becomes visible and its rows are truncated away."""
        if self._done:
            return
        self._block = None
        try:
            self._s.discard_uncommitted()
        finally:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self._s.active = None

    def _check_open(self) -> None:
        if self._done:
            raise BufferError("this episode was already committed or aborted; call begin_episode() for a new one")
