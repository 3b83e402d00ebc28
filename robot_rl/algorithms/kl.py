"""Sample-based KL estimators and a Monte-Carlo entropy estimate.

For actions ``x`` drawn from ``p``, with ``log_r = log q(x) - log p(x)``, the estimators of
``KL(p || q)`` (Schulman, "Approximating KL divergence", 2020) are::

    k1 = -log_r                      unbiased, high variance, can be negative per sample
    k2 = 0.5 * log_r ** 2            biased, low variance, >= 0
    k3 = (exp(log_r) - 1) - log_r    unbiased, low variance, >= 0

Used two ways in LOOP: PPO's ``approx_kl`` diagnostic (p = pi_psi the sampler, q = pi_theta) and
the optional penalty towards a frozen reference (p = pi_theta, q = pi_ref, as in GRPO). As a
penalty only k2 and k3 anchor: the gradient of k1 = log pi_theta - log pi_ref is grad log pi_theta,
in which the reference does not appear (``KL_LOSS_ESTIMATORS``). The
penalty's samples come from pi_psi, not pi_theta; like GRPO we accept that small bias.
"""

from __future__ import annotations

from typing import Literal

import torch

from robot_rl.errors import AlgorithmError

KLEstimator = Literal["k1", "k2", "k3"]
KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3")
# Estimators whose gradient pulls log pi_theta towards log pi_ref: k1's gradient is grad log pi_theta
# whatever the reference, so it is a diagnostic, never a loss.
KL_LOSS_ESTIMATORS: tuple[str, ...] = ("k2", "k3")

# exp() of a log-ratio beyond this overflows fp32 long before it means anything.
_LOG_RATIO_LIMIT = 20.0


def kl_divergence(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: KLEstimator = "k3") -> torch.Tensor:
    """Elementwise estimate of ``KL(p || ref)`` from log-probs of samples (same shape in and out, fp32).

    :param logp: log p(x) of the sampled elements (carries the gradient for a KL penalty).
    :param ref_logp: log ref(x) of the same elements.
    :param estimator: ``k1``, ``k2`` or ``k3`` (see module docstring).
    """
    if logp.shape != ref_logp.shape:
        raise AlgorithmError(f"logp {tuple(logp.shape)} and ref_logp {tuple(ref_logp.shape)} must have the same shape")
    log_r = (ref_logp.to(logp.device, torch.float32) - logp.float()).clamp(-_LOG_RATIO_LIMIT, _LOG_RATIO_LIMIT)
    if estimator == "k1":
        return -log_r
    if estimator == "k2":
        return 0.5 * log_r.square()
    if estimator == "k3":
        return log_r.exp() - 1.0 - log_r
    raise AlgorithmError(f"kl estimator: got {estimator!r}; allowed: {', '.join(KL_ESTIMATORS)}")


def entropy_mc(logp: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Monte-Carlo entropy estimate ``-mean log p(x)`` over valid elements, for x sampled from p.

    With per-dimension log-probs (N, H, A) this is the mean entropy per action dimension. It is
    exact in expectation only while the samples come from p itself (first PPO epoch).

    :param mask: (N,) or logp's shape; None = all valid.
    """
    lp = logp.detach().float()
    if mask is None:
        return -lp.mean()
    m = mask.to(lp.device, torch.bool)
    if m.shape != lp.shape:
        m = m.reshape(-1, *([1] * (lp.ndim - 1))).expand_as(lp)
    return -(lp * m).sum() / m.sum().clamp(min=1)
