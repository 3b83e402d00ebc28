"""Group advantages: one scalar per rollout from the K rewards of its context (no critic).

``rewards`` is (G, K): G groups (contexts), K rollouts each, from the same sampling policy.

- RLOO (RIPT-VLA's LOOP, Ahmadian et al. 2024): ``A_k = R_k - mean_{j != k} R_j``.
  Equivalently ``A_k = K / (K - 1) * (R_k - mean_j R_j)``: the leave-one-out baseline is
  independent of rollout k, so the estimator stays unbiased.
- GRPO (Shao et al. 2024): ``A_k = (R_k - mean_j R_j) / (std_j R_j + eps)`` per group.

A group whose K rewards are all equal gets all-zero advantages under both estimators, which is
why the rollout schedule drops such groups (dynamic rejection) instead of spending compute on them:
:func:`has_signal` is that rule, for every place that applies it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from robot_rl.errors import AlgorithmError

AdvantageMethod = Literal["rloo", "grpo"]
ADVANTAGE_METHODS: tuple[str, ...] = ("rloo", "grpo")


def has_signal(group: Any) -> bool:
    """True when a group's K rewards are not all equal, so its advantages are not all zero.

    :param group: the K rewards (a sequence or array), or anything with a ``rewards`` attribute
        holding them (a schedule group, an :class:`~robot_rl.train.batch.EpisodeGroup`).
        An empty group carries no signal.
    """
    r = np.asarray(getattr(group, "rewards", group), dtype=np.float64)
    return bool(r.size) and bool(r.max() != r.min())


def _as_group_rewards(rewards: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate (G, K) rewards and return them as a floating tensor (fp32 at least)."""
    r = torch.as_tensor(rewards)
    if r.ndim != 2:
        raise AlgorithmError(f"rewards must be (G, K): groups x rollouts per group; got shape {tuple(r.shape)}")
    if r.shape[1] < 2:
        raise AlgorithmError(f"a group needs K >= 2 rollouts for a leave-one-out baseline; got K={r.shape[1]}")
    if not torch.isfinite(r).all():
        raise AlgorithmError("rewards contain NaN or inf")
    return r.to(torch.promote_types(r.dtype, torch.float32))


def rloo_advantages(rewards: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Leave-one-out advantages, (G, K) -> (G, K): ``A_k = R_k - mean_{j != k} R_j``.

    :param rewards: (G, K) rewards, K >= 2 rollouts of each of G contexts.
    :return: (G, K) advantages, fp32 (fp64 if the rewards are fp64).
    """
    r = _as_group_rewards(rewards)
    k = r.shape[1]
    baseline = (r.sum(dim=1, keepdim=True) - r) / (k - 1)  # (G, K): mean of the other K-1 rewards
    return r - baseline


def grpo_advantages(rewards: torch.Tensor | np.ndarray, eps: float = 1e-6, unbiased: bool = True) -> torch.Tensor:
    """Group-normalised advantages, (G, K) -> (G, K): ``(R_k - mean R) / (std R + eps)`` per group.

    :param rewards: (G, K) rewards.
    :param eps: added to the standard deviation; an all-equal group gives 0 / eps = 0.
    :param unbiased: Bessel-corrected std (divide by K - 1), as GRPO implementations (torch.std) do;
        False divides by K.
    """
    r = _as_group_rewards(rewards)
    mean = r.mean(dim=1, keepdim=True)  # (G, 1)
    std = r.std(dim=1, keepdim=True, unbiased=unbiased)  # (G, 1)
    return (r - mean) / (std + eps)


def group_advantages(rewards: torch.Tensor | np.ndarray, method: AdvantageMethod = "rloo",
                     eps: float = 1e-6) -> torch.Tensor:
    """The advantage estimator named by ``method`` (``"rloo"`` or ``"grpo"``), (G, K) -> (G, K)."""
    if method == "rloo":
        return rloo_advantages(rewards)
    if method == "grpo":
        return grpo_advantages(rewards, eps=eps)
    raise AlgorithmError(f"advantage method: got {method!r}; allowed: {', '.join(ADVANTAGE_METHODS)}")


def per_step_advantages(group_adv: torch.Tensor, steps_per_episode: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Broadcast episode advantages to policy steps: every step of an episode gets its episode's advantage.

    :param group_adv: (G, K) advantages (or any shape holding E episodes in row-major order).
    :param steps_per_episode: (E,) number of policy steps of each episode, in the same order.
    :return: (sum(steps_per_episode),) advantages, one per policy step.
    """
    adv = group_adv.reshape(-1)  # (E,)
    steps = torch.as_tensor(steps_per_episode, dtype=torch.long, device=adv.device)
    if steps.shape != adv.shape:
        raise AlgorithmError(f"steps_per_episode must have one entry per episode ({adv.numel()}); "
                             f"got shape {tuple(steps.shape)}")
    if (steps < 0).any():
        raise AlgorithmError("steps_per_episode must be >= 0")
    return torch.repeat_interleave(adv, steps)
