"""Evaluation: one rollout per context, success rate per task and overall."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from robot_rl.env import Context
from robot_rl.rollout.collector import ChunkSampler, CollectStats, EpisodeResult, RolloutJob, collect


def success_table(results: list[EpisodeResult]) -> dict[str, Any]:
    """``{"success_rate": overall, "episodes": n, "stderr": s, "per_task": {task: {"success_rate", "episodes", "stderr"}}}``.

    The overall rate is the mean of the per-task rates (each task weighs the same, as in LIBERO tables);
    ``stderr`` is each rate's binomial standard error (episodes as independent draws).
    """
    per: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        per[r.job.context.task].append(r.success)
    per_task = {t: {"success_rate": float(np.mean(v)), "episodes": len(v), "stderr": _binomial_stderr(v)}
                for t, v in sorted(per.items())}
    overall = float(np.mean([v["success_rate"] for v in per_task.values()])) if per_task else 0.0
    # The mean of independent per-task rates: its variance is the mean of their variances over the task count.
    stderr = float(np.sqrt(sum(v["stderr"] ** 2 for v in per_task.values())) / len(per_task)) if per_task else 0.0
    return {"success_rate": overall, "episodes": len(results), "stderr": stderr, "per_task": per_task}


def _binomial_stderr(outcomes: list[bool]) -> float:
    """Standard error of a success rate from n independent episodes, sqrt(p (1 - p) / n)."""
    p = float(np.mean(outcomes))
    return float(np.sqrt(p * (1.0 - p) / len(outcomes)))


def evaluate(pool: Any, sampler: ChunkSampler, contexts: list[Context], max_retries: int = 3,
             on_episode: Any = None, randomize: bool = False) -> dict[str, Any]:
    """Run each context once with ``sampler`` and return :func:`success_table` plus env-step counts.

    :param randomize: apply the envs' configured domain randomization; by default evaluation runs
        the nominal scene (:meth:`~robot_rl.env.Env.set_randomization`), so the same workers can
        serve randomized training and nominal evaluation.
    """
    stats = CollectStats()
    results = collect(pool, sampler, [RolloutJob(c, randomize=randomize) for c in contexts], on_episode=on_episode,
                      max_retries=max_retries, stats=stats)
    table = success_table(results)
    table["env_steps"] = stats.env_steps
    table["wall_s"] = round(stats.wall_s, 2)
    return table
