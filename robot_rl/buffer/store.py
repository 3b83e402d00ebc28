"""RolloutBuffer: create, open (one writer or many readers), refresh and read a rollout store."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from robot_rl.buffer.batches import iter_batches
from robot_rl.buffer.format import (
    Commit, StoreHeader, create_layout, default_steps_per_chunk, read_header,
)
from robot_rl.buffer.reader import ArrayCache, coalesce
from robot_rl.buffer.table import EpisodeTable, Group
from robot_rl.buffer.writer import EpisodeWriter, WriteSession
from robot_rl.errors import BufferError, SpecMismatchError
from robot_rl.spec import EmbodimentSpec


def _to_torch(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch  # lazy: a recording process should not pay torch's import time

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


class RolloutBuffer:
    """A rollout store on disk: append-only episodes of policy steps plus an episode table.

    Use :meth:`create` or :meth:`open`; see docs/rollout_buffer.md for the format.
    """

    def __init__(self, path: Path, header: StoreHeader, mode: Literal["r", "a"], background_flush: bool = True) -> None:
        self.path = path
        self.mode = mode
        self._header = header
        self._session = WriteSession(path, header, background_flush) if mode == "a" else None
        if self._session is not None:
            self._header = header = self._session.header  # the writer upgrades an older store
        self._commit = self._session.commit if self._session else header.commit
        self._cache = ArrayCache(path, header)
        self._table = EpisodeTable.empty()
        self._load_table()

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, spec: EmbodimentSpec, steps_per_chunk: int | None = None,
               compress_images: bool = False, background_flush: bool = True) -> RolloutBuffer:
        """Create an empty store at ``path`` (must not exist or be an empty directory), open for appending.

        The layout is built in a temporary sibling directory and renamed into place, so a crash
        during creation never leaves a half-made store at ``path``.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise BufferError(f"{path}: already exists and is not an empty directory; open it with "
                              "RolloutBuffer.open(path, mode='a') to append")
        spc = steps_per_chunk or default_steps_per_chunk(spec)
        if not 1 <= spc <= 4096:
            raise BufferError(f"steps_per_chunk: got {spc}; allowed 1..4096")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.creating-", dir=path.parent))
        try:
            create_layout(tmp, spec, spc, compress_images)
            if path.exists():
                path.rmdir()
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(path, mode="a", background_flush=background_flush)

    @classmethod
    def open(cls, path: str | Path, mode: Literal["r", "a"] = "r", spec: EmbodimentSpec | None = None,
             background_flush: bool = True) -> RolloutBuffer:
        """Open a store: ``mode="r"`` (any number of readers) or ``"a"`` (the one writer; repairs a crashed
        writer's trailing data). If ``spec`` is given it must match the store's (name and latency may differ)."""
        if mode not in ("r", "a"):
            raise BufferError(f"mode: got {mode!r}; allowed: 'r' (read) or 'a' (append)")
        path = Path(path)
        if not path.is_dir():
            raise BufferError(f"{path}: no rollout buffer here; create one with RolloutBuffer.create(path, spec)")
        header = read_header(path)
        if spec is not None:
            try:
                header.spec.check_compatible(spec, what="requested spec")
            except SpecMismatchError as err:
                raise BufferError(f"{path}: spec mismatch with the store's spec: {err}") from None
        return cls(path, header, mode, background_flush)

    def close(self) -> None:
        """Release the writer lock (aborting an episode in progress). Readers need not close."""
        if self._session is not None:
            self._session.close()
            self._commit = self._session.commit
            self._session = None
            self._load_table()

    def __enter__(self) -> RolloutBuffer:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RolloutBuffer({str(self.path)!r}, mode={self.mode!r}, episodes={self.num_episodes}, steps={self.num_steps})"

    # ---- state -----------------------------------------------------------------------------

    @property
    def spec(self) -> EmbodimentSpec:
        return self._header.spec

    @property
    def steps_per_chunk(self) -> int:
        return self._header.steps_per_chunk

    @property
    def format_version(self) -> int:
        return self._header.format_version

    @property
    def num_episodes(self) -> int:
        """Committed episodes (as of the last :meth:`refresh`; always current for the writer)."""
        return len(self.episodes)

    @property
    def num_steps(self) -> int:
        """Committed policy steps (as of the last :meth:`refresh`; always current for the writer)."""
        self.episodes  # noqa: B018 - syncs the writer's view
        return self._commit.steps

    @property
    def episodes(self) -> EpisodeTable:
        """The committed episodes (as of the last :meth:`refresh`, or the last commit for the writer)."""
        if self._session is not None and self._session.commit != self._commit:
            self._commit = self._session.commit
            self._load_table()
        return self._table

    def refresh(self) -> Commit:
        """Pick up episodes committed since open (by another process); returns the commit record."""
        if self._session is not None:
            self._commit = self._session.commit
        else:
            header = read_header(self.path)
            if header.format_version != self._header.format_version:
                # A writer upgraded the store in place since we opened it: read its new columns.
                self._header, self._cache = header, ArrayCache(self.path, header)
                self._table = EpisodeTable.empty()
            self._commit = header.commit
        self._load_table()
        return self._commit

    def _load_table(self) -> None:
        have = len(self._table)
        if self._commit.episodes > have:
            new = self._cache.read_columns(have, self._commit.episodes)
            old = {k: self._table[k] for k in new}
            self._table = EpisodeTable({k: np.concatenate([old[k], new[k]]) if have else new[k] for k in new})

    # ---- writing ---------------------------------------------------------------------------

    def begin_episode(self) -> EpisodeWriter:
        """Start recording an episode (one at a time per store)."""
        if self._session is None:
            raise BufferError(f"{self.path}: opened read-only; open with mode='a' to record episodes")
        if self._session.active is not None:
            raise BufferError("an episode is already being recorded; commit() or abort() it first")
        self._session.active = EpisodeWriter(self._session)
        return self._session.active

    # ---- reading ---------------------------------------------------------------------------

    def complete_groups(self, k: int, policy_version: int | None = None) -> list[Group]:
        """Complete K-groups by group id; see :meth:`EpisodeTable.complete_groups`."""
        return self.episodes.complete_groups(k, policy_version)

    def _ranges(self, episode_ids: Sequence[int]) -> list[tuple[int, int]]:
        table = self.episodes
        ids = np.asarray(episode_ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(table)):
            raise BufferError(f"episode ids must be in [0, {len(table)}); got {ids.min()}..{ids.max()}")
        starts, counts = table["step_start"][ids], table["step_count"][ids]
        return [(int(s), int(s + c)) for s, c in zip(starts, counts)]

    def read_episode(self, i: int, fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """All step fields of episode ``i`` as numpy arrays with a leading step axis."""
        return self._cache.read_steps(self._ranges([i]), self._commit.steps, fields)

    def read_steps(self, episode_ids: Sequence[int], fields: Sequence[str] | None = None) -> dict[str, Any]:
        """Steps of the given episodes as torch tensors, concatenated in the given order."""
        ranges = coalesce(self._ranges(episode_ids))
        return _to_torch(self._cache.read_steps(ranges, self._commit.steps, fields))

    def iter_batches(self, batch_size: int, episode_ids: Sequence[int] | None = None, shuffle: bool = True,
                     seed: int = 0, fields: Sequence[str] | None = None, drop_last: bool = False,
                     window_chunks: int = 4) -> Iterator[dict[str, Any]]:
        """Training batches (dicts of torch tensors) over the steps of ``episode_ids`` (default: all).

        Reads whole chunk-sized blocks in shuffled block order, ``window_chunks`` blocks at a time,
        and shuffles rows within that window: chunk-aligned reads instead of one read per row.
        """
        ids = np.arange(self.num_episodes) if episode_ids is None else episode_ids
        ranges = self._ranges(ids)
        for batch in iter_batches(self._cache, ranges, self._commit.steps, self.steps_per_chunk, batch_size,
                                  shuffle, seed, fields, drop_last, window_chunks):
            yield _to_torch(batch)
