"""Action heads: the network layer that produces head outputs, and the distribution built from them.

The distributions are plain torch code over the head outputs, shared by the torch policies and the
ONNX runner (robot_rl.deploy), so sampling and scoring behave identically on both paths.
"""

from __future__ import annotations

import torch
from torch import nn

from robot_rl.policies.heads.config import HeadConfig, HeadKind
from robot_rl.policies.heads.continuous import ContinuousDistribution, ContinuousHead, normalize_actions
from robot_rl.policies.heads.token import TokenDistribution, TokenHead, detokenize, tokenize_actions
from robot_rl.policies.sample import check_temperature

ChunkDistribution = TokenDistribution | ContinuousDistribution

HEAD_OUTPUTS: dict[str, tuple[str, ...]] = {"token": ("logits",), "gaussian": ("mean", "log_scale"),
                                            "laplace": ("mean", "log_scale")}
"""Names (and order) of the network outputs of each head kind; also the ONNX output names."""


def make_head(cfg: HeadConfig, d_model: int, action_dim: int) -> nn.Module:
    """The output layer for ``cfg.kind``."""
    if cfg.kind == "token":
        return TokenHead(d_model, action_dim, cfg.bins)
    return ContinuousHead(d_model, action_dim, cfg.log_scale_min, cfg.log_scale_max, cfg.log_scale_init)


def make_distribution(kind: str, outputs: dict[str, torch.Tensor], low: torch.Tensor, high: torch.Tensor,
                      spec_low: torch.Tensor, spec_high: torch.Tensor, temperature: float = 1.0) -> ChunkDistribution:
    """Build the chunk distribution from head outputs; ``temperature`` must be the same for sampling and scoring."""
    t = check_temperature(temperature)
    if kind == "token":
        return TokenDistribution(outputs["logits"], low, high, spec_low, spec_high, t)
    return ContinuousDistribution(kind, outputs["mean"], outputs["log_scale"], low, high, spec_low, spec_high, t)


__all__ = ["HEAD_OUTPUTS", "ChunkDistribution", "ContinuousDistribution", "ContinuousHead", "HeadConfig", "HeadKind",
           "TokenDistribution", "TokenHead", "detokenize", "make_distribution", "make_head", "normalize_actions",
           "tokenize_actions"]
