"""Which contexts LOOP rolls out next: multi-task group sampling, dynamic rejection, success cache.

A small state machine the trainer drives; it never touches an env::

    sched = GroupSchedule(suite.contexts(split="train"), ScheduleConfig(groups_per_batch=8), group_size=8, seed=0)
    while not sched.ready():
        for ctx in sched.next_contexts():          # contexts still needed for this batch
            rewards, payload = run_k_rollouts(ctx)  # K rewards in {0, 1}, plus e.g. buffer episode ids
            sched.add_group(ctx, rewards, payload)  # all-equal groups are dropped here
    groups = sched.pop_batch()                      # <= groups_per_batch groups; extras carry over
    log(sched.last_stats)                           # effective batch size, rejections, skips

- **Group sampling**: contexts are drawn without replacement from the whole list ("shuffle":
  a fresh permutation each pass, like a shuffled data loader over all tasks' initial states) or
  task by task ("task_balanced": tasks in turn, each with its own permutation of contexts).
- **Dynamic rejection** (RIPT-VLA §4.2): a group whose K rewards are all equal has zero
  advantage everywhere, so it is dropped and another context drawn, up to ``max_attempts``
  groups per batch; the batch may then be smaller (its size is logged). Groups accepted beyond
  the batch are kept, in order, for the next batch instead of being thrown away.
- **Success cache**: a context whose last ``cache_window`` visits were all solved K/K is skipped
  when drawn; after ``cache_max_skips`` consecutive skips its history is forgotten, so it is
  tried again (the policy may have regressed).

``state_dict()`` holds everything needed for an exact resume (RNG, permutations, cache, carried
groups, contexts issued but not yet reported); payloads must be serialisable by the trainer's
checkpoint (plain Python values such as buffer episode ids).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from robot_rl.algorithms.advantages import has_signal
from robot_rl.config import StrictConfig
from robot_rl.env import Context
from robot_rl.errors import ConfigError, ScheduleError

log = logging.getLogger(__name__)

STATE_VERSION = 1


class ScheduleConfig(StrictConfig):
    """How contexts are chosen for each LOOP batch (K, the group size, comes from the LOOP config)."""

    groups_per_batch: int = Field(8, ge=1, description="B/K: accepted groups (contexts) per update step")
    sampling: Literal["shuffle", "task_balanced"] = Field(
        "shuffle", description="shuffle: permutation of all contexts; task_balanced: tasks in turn")
    dynamic_rejection: bool = Field(True, description="drop groups whose K rewards are all equal")
    max_attempts: int | None = Field(
        None, ge=1, description="groups rolled out per batch at most; null = 4 x groups_per_batch")
    keep_surplus: bool = Field(True, description="carry groups accepted beyond the batch over to the next one")
    cache_enabled: bool = Field(True, description="skip contexts solved K/K in each of their last cache_window visits")
    cache_window: int = Field(1, ge=1, description="M: visits that must all be solved K/K before a context is skipped")
    cache_max_skips: int = Field(
        3, ge=1, description="after this many consecutive skips a context is tried again (RIPT-VLA's equivalent is 4: "
                             "it forgets once the count exceeds 3; docs/loop.md)")

    @property
    def attempt_cap(self) -> int:
        """The effective cap on groups rolled out per batch."""
        return self.max_attempts if self.max_attempts is not None else 4 * self.groups_per_batch


@dataclass
class Group:
    """K rollouts of one context: rewards float (K,) and whatever the trainer attached (e.g. episode ids)."""

    context: Context
    rewards: np.ndarray
    payload: Any = None


class _Cycle:
    """Draws items without replacement; a fresh permutation (from the shared RNG) each pass."""

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.order: list[int] = []
        self.pos = 0

    def next(self, rng: np.random.Generator) -> int:
        if self.pos >= len(self.order):
            self.order = [self.items[i] for i in rng.permutation(len(self.items))]
            self.pos = 0
        self.pos += 1
        return self.order[self.pos - 1]

    def state(self) -> dict[str, Any]:
        return {"order": list(self.order), "pos": self.pos}

    def load(self, state: dict[str, Any]) -> None:
        self.order, self.pos = [int(i) for i in state["order"]], int(state["pos"])


_WINDOW_COUNTERS = ("attempts", "accepted", "rejected_all_success", "rejected_all_failure", "skipped_solved",
                    "cache_expired")


class GroupSchedule:
    """Chooses contexts for LOOP batches; see the module docstring for the protocol."""

    def __init__(self, contexts: Sequence[Context], cfg: ScheduleConfig, group_size: int, seed: int = 0) -> None:
        """
        :param contexts: the training contexts, across tasks; unique, in a stable order.
        :param cfg: sampling, rejection and cache settings.
        :param group_size: K, rollouts per context (each ``add_group`` must bring K rewards).
        :param seed: seeds the draw order.
        """
        if not contexts:
            raise ConfigError("schedule: the context list is empty; give at least one training context")
        ids = [c.id for c in contexts]
        duplicates = sorted(i for i, count in Counter(ids).items() if count > 1)
        if duplicates:
            raise ConfigError(f"schedule: contexts must be unique; repeated: {', '.join(duplicates[:5])}")
        if group_size < 2:
            raise ConfigError(f"schedule: group_size: got {group_size}; need K >= 2 rollouts per context")
        self.cfg = cfg
        self.group_size = group_size
        self.contexts = list(contexts)
        self._index = {c.id: i for i, c in enumerate(self.contexts)}
        self._rng = np.random.default_rng(seed)
        tasks = sorted({c.task for c in self.contexts})
        self._all = _Cycle(list(range(len(self.contexts))))
        self._tasks = _Cycle(list(range(len(tasks))))
        self._per_task = [_Cycle([i for i, c in enumerate(self.contexts) if c.task == t]) for t in tasks]
        self._pending: Counter[str] = Counter()  # issued, not yet reported
        self._reissue: deque[str] = deque()  # pending at checkpoint time: issued again first after a resume
        self._accepted: deque[Group] = deque()
        self._history: dict[str, list[bool]] = {}  # context id -> solved K/K, last cache_window visits
        self._skips: dict[str, int] = {}  # context id -> consecutive skips
        self._window = dict.fromkeys(_WINDOW_COUNTERS, 0)  # since the last pop_batch
        self._totals = dict.fromkeys(_WINDOW_COUNTERS + ("batches", "groups_popped"), 0)
        self.last_stats: dict[str, float] = {}

    # -- drawing -------------------------------------------------------------------------------

    def _draw(self) -> Context:
        if self.cfg.sampling == "task_balanced":
            return self.contexts[self._per_task[self._tasks.next(self._rng)].next(self._rng)]
        return self.contexts[self._all.next(self._rng)]

    def _skip_solved(self, ctx: Context) -> bool:
        """True (and count a skip) if the cache says the policy keeps solving this context."""
        if not self.cfg.cache_enabled:
            return False
        history = self._history.get(ctx.id, [])
        if len(history) < self.cfg.cache_window or not all(history):
            return False
        self._skips[ctx.id] = self._skips.get(ctx.id, 0) + 1
        self._count("skipped_solved")
        if self._skips[ctx.id] >= self.cfg.cache_max_skips:
            # Expire: forget the history so the next draw rolls it out again.
            del self._history[ctx.id]
            self._skips[ctx.id] = 0
            self._count("cache_expired")
        return True

    def _count(self, name: str, by: int = 1) -> None:
        self._window[name] += by
        self._totals[name] += by

    @property
    def pending(self) -> int:
        """Contexts issued by :meth:`next_contexts` whose group has not been added yet."""
        return sum(self._pending.values()) + len(self._reissue)

    def cap_reached(self) -> bool:
        """True once this batch has rolled out ``attempt_cap`` groups."""
        return self._window["attempts"] >= self.cfg.attempt_cap

    def next_contexts(self, n: int | None = None) -> list[Context]:
        """Contexts to roll out next (K rollouts each), skipping cached solved ones.

        :param n: how many; None = as many as the batch still needs
            (``groups_per_batch - accepted - pending``). Never more than the attempt cap allows,
            so an empty list means: wait for pending groups, then :meth:`pop_batch`.
        """
        if n is None:
            n = self.cfg.groups_per_batch - len(self._accepted) - self.pending
        out: list[Context] = []
        while self._reissue and len(out) < n:  # issued before a resume; already counted as attempts
            ctx = self.contexts[self._index[self._reissue.popleft()]]
            self._pending[ctx.id] += 1
            out.append(ctx)
        n = min(n, self.cfg.attempt_cap - self._window["attempts"] + len(out))
        # Each context can be skipped at most cache_max_skips times in a row, so this terminates.
        budget = len(self.contexts) * (self.cfg.cache_max_skips + 1) + n
        while len(out) < n and budget > 0:
            budget -= 1
            ctx = self._draw()
            if self._skip_solved(ctx):
                continue
            self._skips[ctx.id] = 0
            self._pending[ctx.id] += 1
            self._count("attempts")
            out.append(ctx)
        return out

    # -- reporting -----------------------------------------------------------------------------

    def add_group(self, context: Context, rewards: Sequence[float] | np.ndarray, payload: Any = None) -> bool:
        """Report the K rewards of a context; return True if the group was accepted.

        A context that was not issued (e.g. a complete group read from a buffer) is accepted too
        and counts as an attempt.
        """
        if context.id not in self._index:
            raise ScheduleError(f"add_group: context '{context.id}' is not one of the schedule's contexts")
        r = np.asarray(rewards, dtype=np.float64).reshape(-1)  # (K,)
        if r.shape != (self.group_size,):
            raise ScheduleError(f"add_group: context '{context.id}' brought {r.size} rewards; "
                                f"group_size is {self.group_size}")
        if not np.isfinite(r).all():
            raise ScheduleError(f"add_group: context '{context.id}' has NaN or inf rewards")
        if self._pending[context.id] > 0:
            self._pending[context.id] -= 1
            if self._pending[context.id] == 0:
                del self._pending[context.id]
        elif context.id in self._reissue:
            self._reissue.remove(context.id)
        else:
            self._count("attempts")

        solved = bool(r.min() >= 1.0)
        history = self._history.setdefault(context.id, [])
        history.append(solved)
        del history[:-self.cfg.cache_window]  # keep the last M visits

        if self.cfg.dynamic_rejection and not has_signal(r):
            self._count("rejected_all_success" if solved else "rejected_all_failure")
            return False
        self._accepted.append(Group(context, r, payload))
        self._count("accepted")
        return True

    def ready(self) -> bool:
        """True when a batch can be popped: enough groups, or the attempt cap hit with nothing pending."""
        if len(self._accepted) >= self.cfg.groups_per_batch:
            return True
        return self.cap_reached() and self.pending == 0

    def pop_batch(self) -> list[Group]:
        """The next batch: up to ``groups_per_batch`` groups in the order they were accepted.

        Fewer groups (possibly none) when the attempt cap was hit; the trainer should skip an
        empty batch. Per-batch figures land in :attr:`last_stats`.
        """
        if not self.ready():
            raise ScheduleError(
                f"pop_batch: batch not ready: {len(self._accepted)}/{self.cfg.groups_per_batch} groups accepted, "
                f"{self.pending} pending, {self._window['attempts']}/{self.cfg.attempt_cap} attempts; "
                "keep calling next_contexts() and add_group()")
        size = min(self.cfg.groups_per_batch, len(self._accepted))
        batch = [self._accepted.popleft() for _ in range(size)]
        dropped = 0
        if not self.cfg.keep_surplus:
            dropped = len(self._accepted)
            self._accepted.clear()
        w = self._window
        self.last_stats = {
            "rollout/groups": float(size),
            "rollout/effective_batch_size": float(size * self.group_size),
            "rollout/attempts": float(w["attempts"]),
            "rollout/acceptance_rate": w["accepted"] / w["attempts"] if w["attempts"] else 0.0,
            "rollout/rejected_all_success": float(w["rejected_all_success"]),
            "rollout/rejected_all_failure": float(w["rejected_all_failure"]),
            "rollout/skipped_solved": float(w["skipped_solved"]),
            "rollout/cache_expired": float(w["cache_expired"]),
            "rollout/surplus_carried": float(len(self._accepted)),
            "rollout/surplus_dropped": float(dropped),
            "rollout/cap_reached": float(self.cap_reached()),
        }
        if size < self.cfg.groups_per_batch:
            log.warning("rollout schedule: attempt cap %d reached with %d/%d groups accepted",
                        self.cfg.attempt_cap, size, self.cfg.groups_per_batch)
        self._window = dict.fromkeys(_WINDOW_COUNTERS, 0)
        self._totals["batches"] += 1
        self._totals["groups_popped"] += size
        return batch

    def totals(self) -> dict[str, int]:
        """Counters since the schedule was created (survive state_dict round trips)."""
        return dict(self._totals)

    # -- checkpointing -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; plain Python values (JSON-safe if payloads are)."""
        return {
            "version": STATE_VERSION,
            "group_size": self.group_size,
            "contexts": [c.id for c in self.contexts],
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "cycles": {"all": self._all.state(), "tasks": self._tasks.state(),
                       "per_task": [c.state() for c in self._per_task]},
            "pending": list(self._reissue) + [cid for cid, k in sorted(self._pending.items()) for _ in range(k)],
            "accepted": [{"context": g.context.id, "rewards": g.rewards.tolist(), "payload": g.payload}
                         for g in self._accepted],
            "history": {cid: list(h) for cid, h in self._history.items()},
            "skips": dict(self._skips),
            "window": dict(self._window),
            "totals": dict(self._totals),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the context list and K must be the same as when saved.

        Contexts that were pending when saved are issued again first by :meth:`next_contexts`.
        """
        if state.get("version") != STATE_VERSION:
            raise ScheduleError(f"schedule state version {state.get('version')!r}; this code reads {STATE_VERSION}")
        if state["contexts"] != [c.id for c in self.contexts]:
            raise ScheduleError("schedule state was saved for a different context list; "
                                "resume with the same suite, split and task selection")
        if state["group_size"] != self.group_size:
            raise ScheduleError(f"schedule state has group_size {state['group_size']}; "
                                f"this schedule has {self.group_size}")
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._all.load(state["cycles"]["all"])
        self._tasks.load(state["cycles"]["tasks"])
        for cycle, s in zip(self._per_task, state["cycles"]["per_task"], strict=True):
            cycle.load(s)
        self._pending = Counter()
        self._reissue = deque(state["pending"])
        self._accepted = deque(
            Group(self.contexts[self._index[g["context"]]], np.asarray(g["rewards"], dtype=np.float64), g["payload"])
            for g in state["accepted"])
        self._history = {cid: [bool(x) for x in h] for cid, h in state["history"].items()}
        self._skips = {cid: int(k) for cid, k in state["skips"].items()}
        self._window = {k: int(state["window"][k]) for k in _WINDOW_COUNTERS}
        self._totals = {k: int(v) for k, v in state["totals"].items()}
