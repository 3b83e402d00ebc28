"""The episode table as numpy columns: filters, rows as dicts, and complete K-groups for LOOP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from robot_rl.buffer.format import EPISODE_COLUMNS, USABLE_STATUSES
from robot_rl.errors import BufferError


@dataclass(frozen=True)
class Group:
    """K rollouts from one context under one group id (LOOP's unit of advantage computation)."""

    group_id: str
    context_id: str
    episode_ids: list[int]
    rewards: list[int] = field(default_factory=list)


class EpisodeTable:
    """Committed episodes, one numpy array per column (``EPISODE_COLUMNS``) plus ``episode`` (the index).

    ``table["task"]`` or ``table.task`` gives a column; ``filter(task="pick", status="ok")`` keeps
    rows equal to every given value (a list or tuple value means "any of these").
    """

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self._cols = columns
        if "episode" not in self._cols:
            n = len(next(iter(columns.values()))) if columns else 0
            self._cols["episode"] = np.arange(n, dtype=np.int64)

    @classmethod
    def empty(cls) -> EpisodeTable:
        return cls({k: np.empty(0, dtype="U1" if v == "str" else v) for k, v in EPISODE_COLUMNS.items()})

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def __len__(self) -> int:
        return len(self._cols["episode"])

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cols:
            raise KeyError(f"no episode column '{name}'; columns: {', '.join(self._cols)}")
        return self._cols[name]

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as err:
            raise AttributeError(str(err)) from None

    def filter(self, **equals: Any) -> EpisodeTable:
        """Rows where every given column equals the value (or is in the list/tuple/set given)."""
        keep = np.ones(len(self), dtype=bool)
        for name, value in equals.items():
            col = self[name]
            if isinstance(value, (list, tuple, set, frozenset)):
                keep &= np.isin(col, list(value))
            else:
                keep &= col == value
        return self.take(np.flatnonzero(keep))

    def take(self, rows: np.ndarray) -> EpisodeTable:
        return EpisodeTable({k: v[rows] for k, v in self._cols.items()})

    def to_dicts(self) -> list[dict[str, Any]]:
        """Rows as plain Python dicts (JSON-friendly values)."""
        return [{k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in self._cols.items()} for i in range(len(self))]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.to_dicts())

    def __repr__(self) -> str:
        return f"EpisodeTable({len(self)} episodes; columns: {', '.join(self._cols)})"

    def complete_groups(self, k: int, policy_version: int | None = None) -> list[Group]:
        """Groups (by non-empty ``group_id``) with at least ``k`` usable episodes (status ok/timeout).

        A group with more than ``k`` usable episodes (e.g. a context re-run after a crash) yields
        its first ``k`` by episode index, so the result is deterministic. ``policy_version``
        restricts to episodes sampled by that policy version. Groups come in order of their
        k-th episode (the order they became complete).
        """
        if k < 1:
            raise BufferError(f"complete_groups: k must be >= 1, got {k}")
        t = self.filter(status=list(USABLE_STATUSES))
        if policy_version is not None:
            t = t.filter(policy_version=policy_version)
        members: dict[str, list[int]] = {}
        for row, gid in enumerate(t["group_id"]):
            if gid:
                members.setdefault(str(gid), []).append(row)
        groups = []
        for gid, rows in members.items():
            if len(rows) >= k:
                rows = rows[:k]
                groups.append((rows[-1], Group(gid, str(t["context_id"][rows[0]]),
                                               [int(t["episode"][r]) for r in rows],
                                               [int(t["reward"][r]) for r in rows])))
        return [g for _, g in sorted(groups, key=lambda x: x[0])]
