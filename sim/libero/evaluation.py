"""The standard evaluation protocol: every task x its official initial states, success tables.

LIBERO's protocol (as run by OpenVLA, OpenVLA-OFT and RIPT-VLA) rolls the policy out once from
each of the 50 official initial states of every task of a suite, with the suite's episode limit
after 10 settle steps, and reports the success rate per task and over the suite. ``evaluate``
does exactly that with any callable policy; ``tasks`` and ``num_inits`` pick a subset. It only
uses the :class:`~robot_rl.env.Suite` / :class:`~robot_rl.env.Env` interfaces, so it works for
every suite (``robot-rl eval`` is built on it).

A policy is ``policy(obs) -> chunk``: float32 (H, A) (or (A,), one action) in spec units. The
first ``execute`` actions of each chunk are run open-loop (all of them by default), then the
policy is asked again. A policy with a ``reset()`` method has it called before every episode.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from robot_rl.env import Context, Env, Observation, Suite
from robot_rl.errors import ConfigError

log = logging.getLogger(__name__)

Policy = Callable[[Observation], np.ndarray]


@dataclass(frozen=True)
class EpisodeOutcome:
    """One evaluation episode: where it started, whether it succeeded, how many env steps it took."""

    suite: str
    task: str
    init_id: int
    success: bool
    steps: int


@dataclass(frozen=True)
class TaskRow:
    """Success table row of one task."""

    task: str
    episodes: int
    successes: int

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


@dataclass
class EvalReport:
    """Outcomes of one suite's evaluation, with per-task and per-suite success rates."""

    suite: str
    episodes: list[EpisodeOutcome]

    def per_task(self) -> list[TaskRow]:
        """One row per task, in the order the tasks were evaluated."""
        rows: dict[str, list[bool]] = {}
        for ep in self.episodes:
            rows.setdefault(ep.task, []).append(ep.success)
        return [TaskRow(task, len(s), sum(s)) for task, s in rows.items()]

    @property
    def success_rate(self) -> float:
        """Successes over all episodes (equals the mean of task rates when every task has as many episodes)."""
        return sum(ep.success for ep in self.episodes) / len(self.episodes) if self.episodes else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: ``success_rate`` overall, ``per_task`` rates, and every episode."""
        return {
            "suite": self.suite,
            "success_rate": self.success_rate,
            "episodes": len(self.episodes),
            "per_task": {r.task: {"success_rate": r.success_rate, "successes": r.successes, "episodes": r.episodes} for r in self.per_task()},
            "outcomes": [asdict(ep) for ep in self.episodes],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def format_table(reports: Sequence[EvalReport]) -> str:
    """Per-task rows of every suite, then one per-suite summary line each, as plain text."""
    width = max([len(r.task) for rep in reports for r in rep.per_task()] + [len("suite / task")])
    lines = [f"{'suite / task':<{width}}  {'success':>7}  {'episodes':>8}"]
    for rep in reports:
        lines.append(f"{rep.suite}")
        for row in rep.per_task():
            lines.append(f"{row.task:<{width}}  {row.success_rate:7.1%}  {row.episodes:8d}")
    lines.append("-" * len(lines[0]))
    for rep in reports:
        lines.append(f"{rep.suite:<{width}}  {rep.success_rate:7.1%}  {len(rep.episodes):8d}")
    return "\n".join(lines)


def _select_tasks(suite: Suite, tasks: Iterable[str | int] | None) -> list[str]:
    names = [t.task for t in suite.tasks()]
    if tasks is None:
        return names
    out = []
    for t in tasks:
        if isinstance(t, int) or (isinstance(t, str) and t.isdigit()):
            i = int(t)
            if not 0 <= i < len(names):
                raise ConfigError(f"tasks: index {i} out of range; suite '{suite.name}' has {len(names)} tasks (0..{len(names) - 1})")
            out.append(names[i])
        else:
            out.append(suite.task(t).task)  # raises ConfigError listing the tasks
    return out


def run_episode(env: Env, context: Context, policy: Policy, *, execute: int | None = None) -> tuple[bool, int]:
    """Roll ``policy`` out from ``context`` until success or the episode limit: (success, env steps)."""
    if hasattr(policy, "reset"):
        policy.reset()
    obs = env.reset(context)
    steps = 0
    while True:
        chunk = np.asarray(policy(obs), dtype=np.float32)
        chunk = chunk[None] if chunk.ndim == 1 else chunk  # (H, A)
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise ConfigError(f"policy output: got shape {chunk.shape}; expected (H, A) or (A,) with A = {env.spec.action_dim}")
        for action in chunk[: execute or len(chunk)]:
            result = env.step(action)
            steps += 1
            if result.done:
                return result.success, steps
        obs = result.obs


def evaluate(
    suite: Suite,
    policy: Policy,
    *,
    tasks: Iterable[str | int] | None = None,
    num_inits: int | None = None,
    init_ids: Sequence[int] | None = None,
    execute: int | None = None,
    env: Env | None = None,
    on_episode: Callable[[EpisodeOutcome], None] | None = None,
) -> EvalReport:
    """Run the standard protocol on ``suite``: every selected task x its eval init states.

    :param tasks: task names or indices (default: all tasks, in the suite's order).
    :param num_inits: only the first N eval init states of each task (default: all, 50 for LIBERO).
    :param init_ids: explicit init-state ids instead (applied to every selected task).
    :param execute: actions of each chunk run before re-querying the policy (default: the whole chunk).
    :param env: an env of this suite to reuse (default: ``suite.make_env()``, closed at the end).
    :param on_episode: called after each episode (progress reporting, logging).
    """
    if num_inits is not None and num_inits <= 0:
        raise ConfigError(f"num_inits: got {num_inits}; must be at least 1")
    own_env = env is None
    env = env or suite.make_env()
    outcomes: list[EpisodeOutcome] = []
    try:
        for task in _select_tasks(suite, tasks):
            contexts = suite.contexts(task, split="eval")
            if init_ids is not None:
                known = {c.init_id for c in contexts}
                bad = [i for i in init_ids if i not in known]
                if bad:
                    raise ConfigError(f"init_ids: {bad} are not eval init states of '{task}' (0..{len(contexts) - 1})")
                contexts = [Context(task, i) for i in init_ids]
            for ctx in contexts[:num_inits]:
                success, steps = run_episode(env, ctx, policy, execute=execute)
                outcome = EpisodeOutcome(suite.name, task, ctx.init_id, success, steps)
                outcomes.append(outcome)
                log.info("%s %s: %s in %d steps", suite.name, ctx.id, "success" if success else "failure", steps)
                if on_episode is not None:
                    on_episode(outcome)
    finally:
        if own_env:
            env.close()
    return EvalReport(suite.name, outcomes)


def evaluate_suites(suites: Sequence[Suite], policy: Policy, **kwargs) -> list[EvalReport]:
    """:func:`evaluate` over several suites (each with its own env); print them with :func:`format_table`."""
    if "env" in kwargs:
        raise ConfigError("evaluate_suites builds one env per suite; pass no 'env'")
    return [evaluate(s, policy, **kwargs) for s in suites]
