"""Per-rollout seeded sampling: each rollout's noise comes from its own seed, not from the batch.

:class:`~robot_rl.rollout.policy_sampler.PolicySampler` draws one batch of noise per call from one
generator, so what a rollout samples depends on which other rollouts share its inference batch,
and that depends on the number of env workers and, in distributed training, on how contexts are
split across ranks. :class:`SeededPolicySampler` runs the network once on the whole batch and then
draws every row from a generator seeded by ``(job.seed, decision index)``: a rollout samples the
same chunks whether it runs alone, next to other rollouts, on rank 0 or on rank 3, and a rollout
re-run after a worker failure draws the same noise again.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from robot_rl.env import Observation
from robot_rl.errors import RobotRLError
from robot_rl.policies.batch import collate_observations
from robot_rl.policies.sample import PolicySample
from robot_rl.rollout.collector import RolloutJob, SampledChunks


def rollout_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (e.g. run seed, group number, rollout k) with SeedSequence."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def _cat(parts: list[torch.Tensor | None]) -> np.ndarray | None:
    if parts[0] is None:
        return None
    return torch.cat(parts).detach().cpu().numpy()  # type: ignore[arg-type]


class SeededPolicySampler:
    """A keyed :class:`~robot_rl.rollout.collector.ChunkSampler`: batched forward, per-rollout draws.

    :param policy: a :class:`~robot_rl.policies.base.Policy` (needs ``head_outputs`` and
        ``distribution_from_outputs``).
    :param temperature: sampling temperature (the same value must score the PPO ratios).
    :param deterministic: use the distribution's mode (evaluation without exploration noise).
    """

    keyed = True

    def __init__(self, policy: Any, temperature: float = 1.0, deterministic: bool = False) -> None:
        self.policy = policy
        self.temperature = temperature
        self.deterministic = deterministic

    @torch.no_grad()
    def __call__(self, observations: list[Observation],
                 keys: Sequence[tuple[RolloutJob, int]] | None = None) -> SampledChunks:
        if keys is None or len(keys) != len(observations):
            raise RobotRLError("SeededPolicySampler needs one (job, decision index) key per observation; "
                               "run it through robot_rl.rollout.collector.collect")
        outputs = self.policy.head_outputs(collate_observations(observations))  # {name: (B, ...)}
        if self.deterministic:
            action = self.policy.distribution_from_outputs(outputs, 1.0).mode().float().cpu().numpy()
            return SampledChunks(action, np.zeros_like(action))
        rows: list[PolicySample] = []
        for i, (job, decision) in enumerate(keys):
            if job.seed is None:
                raise RobotRLError(f"rollout of {job.context.id} has no seed; give every RolloutJob a seed")
            gen = torch.Generator(device=self.policy.device).manual_seed(rollout_seed(job.seed, decision))
            row = {name: value[i:i + 1] for name, value in outputs.items()}  # (1, ...)
            rows.append(self.policy.distribution_from_outputs(row, self.temperature).sample(gen))
        action = _cat([r.action for r in rows])
        log_prob = _cat([r.log_prob for r in rows])
        assert action is not None and log_prob is not None
        tokens = _cat([r.tokens for r in rows])
        return SampledChunks(action.astype(np.float32), log_prob.astype(np.float32),
                             None if tokens is None else tokens.astype(np.int32), _cat([r.raw_action for r in rows]))
