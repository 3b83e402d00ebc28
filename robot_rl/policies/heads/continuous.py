"""Regression heads with a learned scale: Gaussian (MSE-trained mean) and Laplace (L1-trained mean).

The network predicts, per chunk step and action dimension, a mean ``m`` in normalised units
([-1, 1] over the data bounds [low, high]) and a log-scale ``s`` softly clamped to
[log_scale_min, log_scale_max] (a sigmoid keeps gradients alive at the edges, unlike a hard clamp).

The distribution is defined in spec units: ``loc = centre + m * half`` and
``scale = exp(s) * half * T`` with ``half = (high - low) / 2`` and temperature ``T`` applied the same
way when sampling and scoring. A sample ``raw`` is drawn from it; the executed action is
``clip(raw, spec_low, spec_high)``. The log-prob is that of ``raw`` (the clipped value has point
masses at the limits, which would make ratios ill-defined), so ``raw_action`` is stored with the
sample to score it again.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from robot_rl.policies.sample import PolicySample

_LOG_2PI = math.log(2 * math.pi)


class ContinuousHead(nn.Module):
    """Features (B, H, d) -> mean (B, H, A) normalised, log_scale (B, H, A) clamped."""

    def __init__(self, d_model: int, action_dim: int, log_scale_min: float, log_scale_max: float,
                 log_scale_init: float) -> None:
        super().__init__()
        self.log_scale_min, self.log_scale_max = log_scale_min, log_scale_max
        self.mean = nn.Linear(d_model, action_dim)
        # A separate layer, so scale calibration can fit it alone with the mean frozen.
        self.scale = nn.Linear(d_model, action_dim)
        nn.init.zeros_(self.scale.weight)
        frac = (log_scale_init - log_scale_min) / (log_scale_max - log_scale_min)
        nn.init.constant_(self.scale.bias, math.log(frac / (1 - frac)))  # sigmoid^-1: starts at log_scale_init

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        span = self.log_scale_max - self.log_scale_min
        log_scale = self.log_scale_min + span * torch.sigmoid(self.scale(features))
        return {"mean": self.mean(features), "log_scale": log_scale}


def normalize_actions(actions: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spec units -> [-1, 1] over [low, high] (values outside the bounds map outside [-1, 1])."""
    return 2.0 * (actions - low) / (high - low) - 1.0


class ContinuousDistribution:
    """Independent Gaussian or Laplace per (chunk step, action dimension), in spec units.

    mean/log_scale: (B, H, A) network outputs (normalised units); low/high: (A,) data bounds;
    spec_low/high: (A,) hard limits used to clip executed actions.
    """

    def __init__(self, kind: str, mean: torch.Tensor, log_scale: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                 spec_low: torch.Tensor, spec_high: torch.Tensor, temperature: float = 1.0) -> None:
        if kind not in ("gaussian", "laplace"):
            raise ValueError(f"continuous head kind must be gaussian or laplace, got {kind!r}")
        self.kind = kind
        half = (high - low) / 2
        self.loc = (low + high) / 2 + mean.float() * half  # (B, H, A) spec units
        # Scale in log space so log_prob needs no log of a product: log(scale) = s + log(half) + log(T).
        self.log_scale = log_scale.float() + torch.log(half) + math.log(temperature)
        self.scale = self.log_scale.exp()
        self.spec_low, self.spec_high = spec_low, spec_high

    def clip(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(raw, self.spec_high), self.spec_low)

    def sample(self, generator: torch.Generator | None = None) -> PolicySample:
        shape = self.loc.shape
        # Noise comes from the generator's device (see TokenDistribution.sample) and moves to the policy's.
        dev = generator.device if generator is not None else self.loc.device
        if self.kind == "gaussian":
            noise = torch.randn(shape, generator=generator, device=dev)
        else:
            # Inverse CDF of the standard Laplace; u in (-1/2, 1/2) kept off the edges to avoid log(0).
            u = torch.rand(shape, generator=generator, device=dev).clamp(1e-7, 1 - 1e-7) - 0.5
            noise = -torch.sign(u) * torch.log1p(-2 * u.abs())
        noise = noise.to(self.loc.device)
        raw = self.loc + self.scale * noise
        return PolicySample(action=self.clip(raw), log_prob=self.score_raw(raw), raw_action=raw)

    def score_raw(self, raw: torch.Tensor) -> torch.Tensor:
        z = (raw.float() - self.loc) / self.scale
        if self.kind == "gaussian":
            return -0.5 * z * z - self.log_scale - 0.5 * _LOG_2PI  # (B, H, A)
        return -z.abs() - self.log_scale - math.log(2.0)

    def log_prob(self, sample: PolicySample) -> torch.Tensor:
        """Per-dimension log-prob (B, H, A) of ``sample.raw_action`` (``action`` when absent, e.g. demos)."""
        raw = sample.raw_action if sample.raw_action is not None else sample.action
        return self.score_raw(raw.to(self.loc.device))

    def mode(self) -> torch.Tensor:
        return self.clip(self.loc)

    def entropy(self) -> torch.Tensor:
        if self.kind == "gaussian":
            return 0.5 + 0.5 * _LOG_2PI + self.log_scale
        return 1.0 + math.log(2.0) + self.log_scale
