"""Tokenized action head: per-dimension bins, categorical sampling, log-prob from log_softmax.

Bin centres are ``linspace(low, high, bins)`` over the data-derived bounds, so the bounds
themselves (e.g. a gripper's -1 / +1) are exactly representable. Temperature divides the logits,
identically when sampling and when scoring.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.policies.sample import PolicySample


class TokenHead(nn.Module):
    """Features (B, H, d) -> logits (B, H, A, bins)."""

    def __init__(self, d_model: int, action_dim: int, bins: int) -> None:
        super().__init__()
        self.action_dim, self.bins = action_dim, bins
        self.proj = nn.Linear(d_model, action_dim * bins)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        b, h, _ = features.shape
        return {"logits": self.proj(features).view(b, h, self.action_dim, self.bins)}  # (B, H, A, K)


def tokenize_actions(actions: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int) -> torch.Tensor:
    """Actions (..., A) in spec units -> nearest bin index (..., A), int64; out-of-bounds values clip."""
    frac = ((actions - low) / (high - low)).clamp(0.0, 1.0)
    return torch.round(frac * (bins - 1)).long()


def detokenize(tokens: torch.Tensor, low: torch.Tensor, high: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin indices (..., A) -> bin centres (..., A) in spec units."""
    return low + tokens.to(low.dtype) * ((high - low) / (bins - 1))


class TokenDistribution:
    """Categorical over bins for every (chunk step, action dimension).

    logits: (B, H, A, K); low/high: (A,) bin bounds; spec_low/high: (A,) hard limits.
    """

    def __init__(self, logits: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                 spec_low: torch.Tensor, spec_high: torch.Tensor, temperature: float = 1.0) -> None:
        self.logits = logits.float() / temperature  # fp32 so ratios of tiny probabilities stay exact
        self.log_probs = F.log_softmax(self.logits, dim=-1)  # (B, H, A, K)
        self.low, self.high, self.spec_low, self.spec_high = low, high, spec_low, spec_high
        self.bins = logits.shape[-1]

    def to_action(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(detokenize(tokens, self.low, self.high, self.bins), self.spec_high), self.spec_low)

    def sample(self, generator: torch.Generator | None = None) -> PolicySample:
        b, h, a, k = self.log_probs.shape
        probs = self.log_probs.exp().reshape(-1, k)  # (B*H*A, K)
        # Draw on the generator's device: a CPU generator (the rollout samplers') with a policy on CUDA
        # would otherwise raise, and the same seed then gives the same chunk on either device.
        draw_on = generator.device if generator is not None else probs.device
        tokens = torch.multinomial(probs.to(draw_on), 1, generator=generator).to(probs.device).view(b, h, a)
        return PolicySample(action=self.to_action(tokens), log_prob=self.score_tokens(tokens), tokens=tokens)

    def score_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.log_probs.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)  # (B, H, A)

    def log_prob(self, sample: PolicySample) -> torch.Tensor:
        """Per-dimension log-prob (B, H, A) of ``sample.tokens`` (or of the tokenized ``action`` when absent)."""
        tokens = sample.tokens
        if tokens is None:  # e.g. expert demonstrations stored without tokens
            tokens = tokenize_actions(sample.action.to(self.low.device).float(), self.low, self.high, self.bins)
        return self.score_tokens(tokens.to(self.log_probs.device))

    def mode(self) -> torch.Tensor:
        return self.to_action(self.log_probs.argmax(-1))

    def entropy(self) -> torch.Tensor:
        return -(self.log_probs.exp() * self.log_probs).sum(-1)  # (B, H, A)
