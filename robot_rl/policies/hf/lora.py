"""A minimal LoRA adapter for ``nn.Linear`` (no extra dependency): y = W x + (alpha / r) B A x, W frozen."""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """Wraps a linear layer; only ``lora_a`` and ``lora_b`` train. B starts at zero, so the output is unchanged at first."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        base.weight.requires_grad_(False)
        if base.bias is not None:
            base.bias.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scaling = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scaling


def add_lora(model: nn.Module, rank: int, alpha: float, targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")) -> int:
    """Replace every linear named in ``targets`` by a :class:`LoRALinear`; returns how many were wrapped."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if name in targets and isinstance(child, nn.Linear):
                setattr(module, name, LoRALinear(child, rank, alpha))
                count += 1
    return count


def merge_lora(model: nn.Module) -> int:
    """Fold every :class:`LoRALinear` in ``model`` back into a plain ``nn.Linear`` with W + (alpha / r) B A.

    The merged layer computes the same function in one matmul (what a deployed graph wants); the
    adapters are gone afterwards, so merge a copy when training goes on. Returns how many were merged.
    """
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                base = child.base
                with torch.no_grad():
                    delta = (child.lora_b.float() @ child.lora_a.float()) * child.scaling  # (out, in)
                    base.weight.copy_((base.weight.float() + delta).to(base.weight.dtype))
                setattr(module, name, base)
                count += 1
    return count
