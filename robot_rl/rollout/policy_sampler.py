"""Adapters that turn a policy (torch module or deploy runner) into a rollout :class:`ChunkSampler`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from robot_rl.env import Observation
from robot_rl.policies.batch import collate_observations
from robot_rl.rollout.collector import SampledChunks


def _numpy(x: Any, dtype: Any) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


class PolicySampler:
    """Samples one chunk per observation from ``policy.sample`` at a fixed temperature.

    :param policy: anything with ``sample(obs_batch, temperature, generator=...)`` returning a
        PolicySample (a :class:`~robot_rl.policies.base.Policy` or a deploy runner).
    :param deterministic: use ``policy.act`` (evaluation without exploration noise).
    """

    def __init__(self, policy: Any, temperature: float = 1.0, seed: int | None = None, deterministic: bool = False) -> None:
        self.policy = policy
        self.temperature = temperature
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    @torch.no_grad()
    def __call__(self, observations: list[Observation]) -> SampledChunks:
        batch = collate_observations(observations)
        if self.deterministic:
            action = _numpy(self.policy.act(batch), np.float32)
            assert action is not None
            return SampledChunks(action, np.zeros_like(action))
        s = self.policy.sample(batch, self.temperature, generator=self.generator)
        action = _numpy(s.action, np.float32)
        log_prob = _numpy(s.log_prob, np.float32)
        assert action is not None and log_prob is not None
        return SampledChunks(action, log_prob, _numpy(s.tokens, np.int32), _numpy(s.raw_action, np.float32))
