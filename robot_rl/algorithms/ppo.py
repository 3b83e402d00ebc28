"""The PPO clipped surrogate with separate lower/upper clip, dual clip and loss aggregation modes.

Notation (RIPT-VLA §3, PPO): ``pi_theta`` is the policy being optimised, ``pi_psi`` the frozen
policy that sampled the rollouts (its log-probs are stored in the buffer), ``A`` the advantage of
the rollout a sample belongs to. Per element (token / action / chunk, see :func:`reduce_log_prob`)::

    r     = exp(clamp(log pi_theta - log pi_psi, -c_log, c_log))
    L_el  = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))           # PPO, minimised
    L_el  = min(L_el, -c A)          where A < 0, if dual clip c > 1     # Ye et al. 2020
    loss  = aggregate(L_el, mask)                                       # see :func:`aggregate`

Everything is computed in fp32 whatever the dtype of the log-probs, because ratios of bf16
log-probs are too coarse near 1 to clip at 0.2.
"""

from __future__ import annotations

from typing import Literal

import torch

from robot_rl.algorithms.kl import kl_divergence
from robot_rl.errors import AlgorithmError

Granularity = Literal["token", "action", "chunk"]
Aggregation = Literal["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"]
GRANULARITIES: tuple[str, ...] = ("token", "action", "chunk")
AGGREGATIONS: tuple[str, ...] = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean")


def reduce_log_prob(per_dim: torch.Tensor, granularity: Granularity) -> torch.Tensor:
    """Sum per-dimension log-probs (N, H, A) to the ratio granularity.

    ``token``: (N, H, A), one ratio per action dimension (per token for tokenized heads);
    ``action``: (N, H), one ratio per action of the chunk (sum over A);
    ``chunk``: (N,), one ratio per policy step (sum over H and A).
    """
    if per_dim.ndim != 3:
        raise AlgorithmError(f"per-dimension log-probs must be (N, H, A); got shape {tuple(per_dim.shape)}")
    if granularity == "token":
        return per_dim
    if granularity == "action":
        return per_dim.sum(dim=-1)  # (N, H)
    if granularity == "chunk":
        return per_dim.sum(dim=(-2, -1))  # (N,)
    raise AlgorithmError(f"granularity: got {granularity!r}; allowed: {', '.join(GRANULARITIES)}")


def _expand_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """A bool mask (N,) or of ``like``'s shape, expanded to ``like``'s shape."""
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    mask = mask.to(device=like.device, dtype=torch.bool)
    if mask.shape == like.shape:
        return mask
    if mask.ndim == 1 and mask.shape[0] == like.shape[0]:
        return mask.reshape(-1, *([1] * (like.ndim - 1))).expand_as(like)
    raise AlgorithmError(f"mask must be (N,) or {tuple(like.shape)}; got {tuple(mask.shape)}")


def aggregate(values: torch.Tensor, mask: torch.Tensor | None, mode: Aggregation) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce per-element losses (N, ...) to a scalar over the valid elements.

    With ``m`` the mask expanded to ``values``' shape, a *sequence* being one sample (one policy
    step, i.e. one action chunk) and its elements its tokens / actions:

    - ``token-mean``: ``sum(v * m) / sum(m)``, every valid element weighs the same.
    - ``seq-mean-token-sum``: ``mean over valid samples n of sum_e v[n, e] m[n, e]``.
    - ``seq-mean-token-mean``: ``mean over valid samples n of (sum_e v m / sum_e m)``.

    For (N,) values (chunk granularity) all three are the plain mean over valid samples.
    A sample is valid when at least one of its elements is.

    :return: ``(loss, weight)``, where ``weight`` is the denominator (valid elements for
        ``token-mean``, valid samples otherwise). ``loss * weight / total_weight`` summed over
        micro-batches equals the loss of their union, which makes gradient accumulation exact.
    """
    m = _expand_mask(mask, values).to(values.dtype)
    if mode == "token-mean":
        weight = m.sum()
        return (values * m).sum() / weight.clamp(min=1.0), weight
    if mode not in AGGREGATIONS:
        raise AlgorithmError(f"aggregation: got {mode!r}; allowed: {', '.join(AGGREGATIONS)}")
    n = values.shape[0]
    per_sample_sum = (values * m).reshape(n, -1).sum(dim=1)  # (N,)
    per_sample_count = m.reshape(n, -1).sum(dim=1)  # (N,)
    valid = (per_sample_count > 0).to(values.dtype)  # (N,)
    if mode == "seq-mean-token-mean":
        per_sample = per_sample_sum / per_sample_count.clamp(min=1.0)
    else:  # seq-mean-token-sum
        per_sample = per_sample_sum
    weight = valid.sum()
    return (per_sample * valid).sum() / weight.clamp(min=1.0), weight


def _check_clip(clip_low: float, clip_high: float, dual_clip: float | None, log_ratio_clamp: float | None) -> None:
    if not 0.0 < clip_low < 1.0:
        raise AlgorithmError(f"clip_low: got {clip_low}; must be in (0, 1)")
    if not clip_high > 0.0:
        raise AlgorithmError(f"clip_high: got {clip_high}; must be > 0")
    if dual_clip is not None and not dual_clip > 1.0:
        raise AlgorithmError(f"dual_clip: got {dual_clip}; must be > 1 (or None to disable)")
    if log_ratio_clamp is not None and not log_ratio_clamp > 0.0:
        raise AlgorithmError(f"log_ratio_clamp: got {log_ratio_clamp}; must be > 0 (or None to disable)")


def ppo_loss(
    new_logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor | None = None,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    log_ratio_clamp: float | None = 20.0,
    aggregation: Aggregation = "token-mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped policy-gradient loss (to minimise) and its diagnostics.

    :param new_logp: log pi_theta of the sampled actions, (N,), (N, H) or (N, H, A); carries the gradient.
    :param old_logp: log pi_psi of the same actions (the sampling policy), same shape; treated as constant.
    :param advantages: (N,), one per sample, broadcast over its elements; treated as constant.
    :param mask: (N,) or new_logp's shape, True where the element counts. None = all valid.
    :param clip_low: eps_low: the ratio is clipped below at 1 - clip_low (only binds for A < 0).
    :param clip_high: eps_high: the ratio is clipped above at 1 + clip_high (only binds for A > 0);
        0.28 with clip_low 0.2 is DAPO's clip-higher.
    :param dual_clip: c > 1 bounds the loss of negative-advantage elements at -c A, so a huge
        ratio on a bad action cannot blow up the update. None disables it.
    :param log_ratio_clamp: clamp log(r) to [-x, x] before exp to avoid inf. None disables it.
    :param aggregation: see :func:`aggregate`.
    :return: ``(loss, stats)``; stats are detached 0-d tensors: ``pg_loss``, ``clipfrac``
        (= ``clipfrac_low + clipfrac_high``, share of valid elements whose gradient the clip
        zeroes), ``dual_clipfrac``, ``approx_kl`` (k3 estimate of KL(pi_psi || pi_theta)),
        ``approx_kl_k1``, ``ratio_mean/min/max``, ``adv_mean/std`` (over valid samples),
        ``num_valid`` (elements) and ``weight`` (the aggregation denominator).
    """
    _check_clip(clip_low, clip_high, dual_clip, log_ratio_clamp)
    if new_logp.shape != old_logp.shape:
        raise AlgorithmError(f"new_logp {tuple(new_logp.shape)} and old_logp {tuple(old_logp.shape)} "
                             "must have the same shape")
    if new_logp.ndim not in (1, 2, 3):
        raise AlgorithmError(f"log-probs must be (N,), (N, H) or (N, H, A); got {tuple(new_logp.shape)}")
    n = new_logp.shape[0]
    if advantages.shape != (n,):
        raise AlgorithmError(f"advantages must be (N,) = ({n},), one per sample; got {tuple(advantages.shape)}")

    new = new_logp.float()
    old = old_logp.detach().to(new.device, torch.float32)
    advantages = advantages.detach().to(new.device, torch.float32)
    adv = advantages.reshape(n, *([1] * (new.ndim - 1)))  # (N, 1, ...) broadcasts per sample

    log_ratio = new - old
    if log_ratio_clamp is not None:
        log_ratio = log_ratio.clamp(-log_ratio_clamp, log_ratio_clamp)
    ratio = log_ratio.exp()
    surr_unclipped = -adv * ratio
    surr_clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    pg_losses = torch.maximum(surr_unclipped, surr_clipped)
    if dual_clip is not None:
        pg_losses = torch.where(adv < 0, torch.minimum(pg_losses, -dual_clip * adv), pg_losses)
    loss, weight = aggregate(pg_losses, mask, aggregation)

    with torch.no_grad():
        valid = _expand_mask(mask, new)
        count = valid.sum().clamp(min=1).float()

        def vmean(x: torch.Tensor) -> torch.Tensor:
            return (x.float() * valid).sum() / count

        adv_full = adv.expand_as(new)
        low = (ratio < 1.0 - clip_low) & (adv_full < 0)
        high = (ratio > 1.0 + clip_high) & (adv_full > 0)
        dual = (ratio > dual_clip) & (adv_full < 0) if dual_clip is not None else torch.zeros_like(valid)
        valid_samples = valid.reshape(n, -1).any(dim=1)  # (N,)
        adv_valid = advantages[valid_samples]
        big = torch.finfo(torch.float32).max
        one, zero = torch.ones((), device=new.device), torch.zeros((), device=new.device)
        stats = {
            "pg_loss": loss.detach(),
            "clipfrac": vmean(low | high),
            "clipfrac_low": vmean(low),
            "clipfrac_high": vmean(high),
            "dual_clipfrac": vmean(dual),
            "approx_kl": vmean(kl_divergence(old, new.detach(), "k3")),
            "approx_kl_k1": vmean(old - new.detach()),
            "ratio_mean": vmean(ratio),
            "ratio_min": torch.where(valid, ratio, big).min() if valid.any() else one,
            "ratio_max": torch.where(valid, ratio, -big).max() if valid.any() else one,
            "adv_mean": adv_valid.mean() if adv_valid.numel() else zero,
            "adv_std": adv_valid.std(unbiased=False) if adv_valid.numel() else zero,
            "num_valid": valid.sum().float(),
            "weight": weight.detach(),
        }
    return loss, stats
