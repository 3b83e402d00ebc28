"""The exportable form of the ``hf`` VLA: one traceable module over :meth:`HFVLA.network`.

The graph takes what the tiny VLA's graph takes (uint8 images per camera, raw proprio, instruction
token ids) and returns the same head outputs, so :class:`robot_rl.deploy.OnnxRunner` samples and
acts on either with the same code. All H*A action positions come out of one LM forward pass
(parallel chunk decoding), so the graph has no decoding loop and no KV cache.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

from robot_rl.policies.heads import HEAD_OUTPUTS
from robot_rl.policies.hf.lora import LoRALinear, merge_lora

# The HFVLA of modeling_hf.py, which imports this module: typed by what is used here, so the two do not import
# each other. It has ``spec``, ``head_kind``, ``lm`` and ``network(images, proprio, ids) -> {output: tensor}``.
VLA = TypeVar("VLA", bound=nn.Module)


class HFVLAGraph(nn.Module):
    """(image_cam0, ..., image_camN-1, proprio, instruction_ids) -> head outputs in ``HEAD_OUTPUTS`` order."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.num_cameras = len(policy.spec.cameras)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        images, proprio, ids = list(inputs[: self.num_cameras]), inputs[-2], inputs[-1]
        out = self.policy.network(images, proprio, ids)
        return tuple(out[name] for name in HEAD_OUTPUTS[self.policy.head_kind])


def needs_export_copy(policy: nn.Module) -> bool:
    """True when the exported graph differs in form from ``policy``: LoRA adapters to merge or non-fp32 weights."""
    has_lora = any(isinstance(m, LoRALinear) for m in policy.modules())
    return has_lora or any(p.dtype != torch.float32 for p in policy.parameters())


def export_copy(policy: VLA) -> VLA:
    """``policy`` itself, or an eval-mode fp32 copy with its LoRA adapters merged into the base weights.

    fp32 because onnxruntime's CPU kernels have no bfloat16 matmul; merging because a deployed graph
    should not pay two extra small matmuls per projection. The copy holds the full weights again:
    export a 7B-class checkpoint on a machine with room for a second fp32 copy.
    """
    if not needs_export_copy(policy):
        return policy.eval()
    out = copy.deepcopy(policy).eval().float()
    merge_lora(out.lm)  # after the cast: W + (alpha / r) B A summed in fp32, not rounded back to bf16
    return out
