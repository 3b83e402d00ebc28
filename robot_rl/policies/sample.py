"""What a policy returns when it samples an action chunk, and log-prob granularities.

For the heads in this package one action dimension is one token, so the per-dimension log-prob
(B, H, A) is the token granularity; the action granularity sums over A and the chunk
granularity over H and A (RIPT-VLA §4.3 scores whole chunks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from robot_rl.errors import ConfigError

Granularity = Literal["token", "action", "chunk"]
GRANULARITIES: tuple[str, ...] = ("token", "action", "chunk")


@dataclass
class PolicySample:
    """One sampled action chunk per batch element.

    action: float32 (B, H, A) in spec units, clipped to the spec limits (what is executed).
    log_prob: float32 (B, H, A) per-dimension log-prob under the sampling distribution.
    tokens: int64 (B, H, A) bin indices (tokenized heads) or None.
    raw_action: float32 (B, H, A) pre-clip sample in spec units (continuous heads) or None;
        the log-prob is of this value, not of the clipped ``action``.
    """

    action: torch.Tensor
    log_prob: torch.Tensor
    tokens: torch.Tensor | None = None
    raw_action: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> PolicySample:
        move = (lambda t: None if t is None else t.to(device))
        return PolicySample(move(self.action), move(self.log_prob), move(self.tokens), move(self.raw_action))

    def detach(self) -> PolicySample:
        det = (lambda t: None if t is None else t.detach())
        return PolicySample(det(self.action), det(self.log_prob), det(self.tokens), det(self.raw_action))


def reduce_log_prob(log_prob: torch.Tensor, granularity: str) -> torch.Tensor:
    """(B, H, A) per-dimension log-probs -> token (B, H, A) | action (B, H) | chunk (B,)."""
    if granularity == "token":
        return log_prob
    if granularity == "action":
        return log_prob.sum(-1)  # (B, H)
    if granularity == "chunk":
        return log_prob.sum((-2, -1))  # (B,)
    raise ConfigError(f"granularity: got {granularity!r}; allowed: {', '.join(GRANULARITIES)}")


def check_temperature(temperature: float) -> float:
    """Temperatures must be positive and finite (0 would make scoring undefined; use act() instead)."""
    t = float(temperature)
    if not (t > 0.0 and t < float("inf")):
        raise ConfigError(f"temperature: got {temperature!r}; must be > 0 (use act() for the deterministic action)")
    return t
