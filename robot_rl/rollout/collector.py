"""Run rollouts for a list of jobs on an :class:`~robot_rl.rollout.pool.EnvPool`, batching policy inference.

The learner process holds the policy. Every round it waits for all outstanding worker replies,
stacks the observations of every env that needs a decision into one batch, calls the sampler
once, and sends each env its action chunk. Finished episodes are handed to ``on_episode`` (which
typically writes them to the rollout buffer) and their slot takes the next job. A job whose
worker fails is discarded and re-queued (up to ``max_retries`` times).
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from robot_rl.env import Context, Observation
from robot_rl.errors import RobotRLError
from robot_rl.rollout.pool import EnvPool

log = logging.getLogger(__name__)


@dataclass
class SampledChunks:
    """A batch of sampled action chunks and what is needed to score them again.

    action, log_prob: float32 (B, H, A); tokens: int32 (B, H, A) or None; raw_action: float32 (B, H, A) or None.
    """

    action: np.ndarray
    log_prob: np.ndarray
    tokens: np.ndarray | None = None
    raw_action: np.ndarray | None = None


class ChunkSampler(Protocol):
    """Anything that maps a list of observations to one sampled chunk each (a policy, an expert, noise).

    A sampler with a true ``keyed`` attribute is called as ``sampler(observations, keys=...)``
    with one ``(job, decision index within the episode)`` per observation, so it can draw each
    rollout's noise from the job's own seed: the samples then do not depend on which other
    rollouts share the batch (robot_rl.train.seeded_sampler; distributed training needs this).
    """

    def __call__(self, observations: list[Observation]) -> SampledChunks: ...


@dataclass(frozen=True)
class RolloutJob:
    """One rollout to run: the context, and the LOOP group it belongs to (``""`` when ungrouped)."""

    context: Context
    group_id: str = ""
    seed: int | None = None  # per-rollout sampling seed, read by keyed samplers (see ChunkSampler)
    # False: the env runs its nominal scene for this episode (Env.set_randomization); evaluation's default.
    randomize: bool = True


@dataclass
class StepRecord:
    """One policy decision: the observation seen, the chunk sampled, and timing."""

    obs: Observation
    action: np.ndarray  # (H, A)
    log_prob: np.ndarray  # (H, A)
    tokens: np.ndarray | None
    raw_action: np.ndarray | None
    t_capture: float
    t_decision: float
    executed: int = 0  # filled in when the worker reports back


@dataclass
class EpisodeResult:
    """A finished rollout."""

    job: RolloutJob
    success: bool
    env_steps: int
    timed_out: bool
    steps: list[StepRecord] = field(default_factory=list)
    t_start: float = 0.0
    t_end: float = 0.0


@dataclass
class CollectStats:
    episodes: int = 0
    env_steps: int = 0
    decisions: int = 0
    failures: int = 0
    sampler_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class _Active:
    job: RolloutJob
    attempt: int
    steps: list[StepRecord] = field(default_factory=list)
    t_start: float = field(default_factory=time.time)


def collect(
    pool: EnvPool,
    sampler: ChunkSampler,
    jobs: list[RolloutJob],
    on_episode: Callable[[EpisodeResult], None] | None = None,
    keep_steps: bool = False,
    max_retries: int = 3,
    stats: CollectStats | None = None,
) -> list[EpisodeResult]:
    """Run every job to the end of its episode and return the results in completion order.

    :param on_episode: called with each finished episode (with its steps) as soon as it ends.
    :param keep_steps: keep per-step records in the returned results (memory heavy: images).
    :param max_retries: how often one job may be re-queued after its worker failed.
    """
    stats = stats if stats is not None else CollectStats()
    t0 = time.monotonic()
    queue = collections.deque((job, 0) for job in jobs)
    active: dict[int, _Active] = {}
    free = list(range(pool.num_workers))
    results: list[EpisodeResult] = []

    def start_jobs() -> None:
        while free and queue:
            slot = free.pop(0)
            job, attempt = queue.popleft()
            active[slot] = _Active(job, attempt)
            pool.send_reset(slot, job.context, job.randomize)

    start_jobs()
    while active:
        # Wait for every outstanding reply so the policy sees the largest batch.
        needs_action: dict[int, Observation] = {}
        while pool.pending():
            for ev in pool.wait():
                run = active[ev.slot]
                if ev.kind == "failed":
                    stats.failures += 1
                    del active[ev.slot]
                    free.append(ev.slot)
                    if run.attempt >= max_retries:
                        raise RobotRLError(f"rollout of {run.job.context.id} failed {run.attempt + 1} times; last: {ev.reason}")
                    log.warning("re-queueing %s after a worker failure", run.job.context.id)
                    queue.append((run.job, run.attempt + 1))
                    continue
                out = ev.outcome
                assert out is not None
                if run.steps:
                    run.steps[-1].executed = out.executed
                stats.env_steps += out.executed
                if out.done:
                    result = EpisodeResult(
                        run.job, out.success, out.env_steps, timed_out=not out.success,
                        steps=run.steps, t_start=run.t_start, t_end=time.time(),
                    )
                    if on_episode is not None:
                        on_episode(result)
                    if not keep_steps:
                        result.steps = []
                    results.append(result)
                    stats.episodes += 1
                    del active[ev.slot]
                    free.append(ev.slot)
                else:
                    needs_action[ev.slot] = out.obs
        if needs_action:
            slots = sorted(needs_action)
            observations = [needs_action[s] for s in slots]
            t_sample = time.monotonic()
            if getattr(sampler, "keyed", False):
                chunks = sampler(observations, keys=[(active[s].job, len(active[s].steps)) for s in slots])
            else:
                chunks = sampler(observations)
            stats.sampler_s += time.monotonic() - t_sample
            t_decision = time.time()
            for i, slot in enumerate(slots):
                obs = observations[i]
                active[slot].steps.append(
                    StepRecord(
                        obs=obs,
                        action=chunks.action[i],
                        log_prob=chunks.log_prob[i],
                        tokens=None if chunks.tokens is None else chunks.tokens[i],
                        raw_action=None if chunks.raw_action is None else chunks.raw_action[i],
                        t_capture=obs.timestamp,
                        t_decision=t_decision,
                    )
                )
                pool.send_chunk(slot, chunks.action[i])
            stats.decisions += len(slots)
        start_jobs()
    stats.wall_s += time.monotonic() - t0
    return results
