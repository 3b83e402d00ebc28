"""Executed-action masking for the LOOP update: log-probs, entropies and loss masks of what ran.

The last chunk of an episode is cut short by success or the episode limit; its unexecuted tail
never reached the env, so it earned none of the episode's reward. Every helper here takes
``valid`` (bool (n, H): which actions of each chunk were executed, from
:meth:`~robot_rl.algorithms.loop_batch.LoopBatch.action_valid`; None = all) and makes that tail get
no ratio, no gradient and no weight in any denominator.

Granularities (robot_rl.algorithms.ppo): ``token`` (n, H, A), ``action`` (n, H), ``chunk`` (n,).
At ``token`` and ``action`` the tail is masked element-wise (:func:`element_mask`); at ``chunk``
the chunk's log-prob sums its executed actions only (:func:`reduce_executed`).
"""

from __future__ import annotations

from typing import Any

import torch

from robot_rl.algorithms.loop_batch import LoopBatch
from robot_rl.algorithms.loop_config import LoopConfig, LoopPolicy
from robot_rl.algorithms.ppo import Granularity, reduce_log_prob
from robot_rl.errors import AlgorithmError


def reduce_executed(per_dim: torch.Tensor, granularity: Granularity, valid: torch.Tensor | None) -> torch.Tensor:
    """Per-dimension log-probs (N, H, A) to the ratio granularity; a chunk's log-prob sums executed actions only."""
    if valid is None or granularity != "chunk":
        return reduce_log_prob(per_dim, granularity)
    return (per_dim.sum(dim=-1) * valid.to(per_dim.device, per_dim.dtype)).sum(dim=-1)  # (N,)


def row_elements(valid: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """float64 (N,): elements each row contributes to a token-mean denominator (unexecuted actions: none).

    :param like: the log-probs at the ratio granularity, (N,), (N, H) or (N, H, A).
    """
    n = like.shape[0]
    if valid is None:
        per_row = 1
        for size in like.shape[1:]:
            per_row *= int(size)
        return torch.full((n,), float(per_row), dtype=torch.float64)
    if like.ndim == 1:  # chunk: one element when any of its actions ran
        return valid.any(dim=-1).double()
    return valid.sum(dim=-1).double() * (like.shape[2] if like.ndim == 3 else 1)


def element_mask(rows: torch.Tensor, valid: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """The loss mask of ``like`` ((n,), (n, H) or (n, H, A)): row mask (n,) and executed actions (n, H)."""
    if valid is None:
        return rows
    if like.ndim == 1:  # chunk: a step counts when any of its actions ran
        return rows & valid.any(dim=-1)
    m = rows[:, None] & valid  # (n, H)
    return m if like.ndim == 2 else m[..., None].expand(like.shape)  # (n, H) | (n, H, A)


def policy_log_prob(policy: LoopPolicy, part: LoopBatch, cfg: LoopConfig) -> torch.Tensor:
    """log pi(a) of ``part``'s samples at the configured granularity (differentiable).

    With ``part.executed`` set and chunk granularity, the chunk's log-prob is the sum over its
    executed actions only (asked from the policy per action, then summed here).
    """
    valid = part.action_valid()
    if valid is None or cfg.granularity != "chunk":
        return policy.log_prob(part.obs, part.sample, temperature=cfg.temperature, granularity=cfg.granularity)
    per_action = policy.log_prob(part.obs, part.sample, temperature=cfg.temperature, granularity="action")  # (n, H)
    return (per_action * valid.to(per_action.device, per_action.dtype)).sum(dim=-1)  # (n,)


def policy_log_prob_entropy(policy: Any, part: LoopBatch, cfg: LoopConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(a) and the exact entropy of pi at the configured granularity, from one forward pass.

    The entropy of an action (chunk) is the sum of its dimensions' (actions') entropies; with
    ``part.executed`` set, a chunk's entropy sums its executed actions only, like its log-prob.
    """
    if not hasattr(policy, "distribution"):
        raise AlgorithmError("entropy_coef != 0 needs a policy with distribution(obs, temperature)")
    dist = policy.distribution(part.obs, cfg.temperature)
    valid = part.action_valid()  # (n, H) executed actions, or None
    return (reduce_executed(dist.log_prob(part.sample).float(), cfg.granularity, valid),  # log-prob (n, H, A) ->
            reduce_executed(dist.entropy().float(), cfg.granularity, valid))  # entropy, same granularity


def score(policy: Any, part: LoopBatch, cfg: LoopConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi_theta(a) of ``part`` at the ratio granularity, and its exact entropy when ``entropy_coef`` needs it."""
    if cfg.entropy_coef:
        return policy_log_prob_entropy(policy, part, cfg)
    return policy_log_prob(policy, part, cfg), None


@torch.no_grad()
def reference_log_prob(ref_policy: LoopPolicy | None, batch: LoopBatch, cfg: LoopConfig,
                       valid: torch.Tensor | None) -> torch.Tensor:
    """log pi_ref of every sampled element at the ratio granularity (CPU float32), for the KL penalty.

    ``batch.ref_log_prob`` when given; otherwise ``ref_policy`` scores the batch in chunks of one
    microbatch. Raises :class:`AlgorithmError` when neither is there.
    """
    if batch.ref_log_prob is not None:
        return reduce_executed(batch.ref_log_prob.detach().float().cpu(), cfg.granularity, valid)
    if ref_policy is None:
        raise AlgorithmError("kl_coef > 0 needs batch.ref_log_prob or a ref_policy")
    chunk = cfg.microbatch_size or cfg.minibatch_size
    n = len(batch)
    out = []
    for start in range(0, n, chunk):
        part = batch.select(torch.arange(start, min(start + chunk, n)))
        out.append(policy_log_prob(ref_policy, part, cfg).float().cpu())
    return torch.cat(out)
