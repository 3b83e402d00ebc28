"""Configuration of the transformers-backed ``hf`` VLA."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from robot_rl.policies.heads import HeadConfig


class HFVLAConfig(StrictConfig):
    """A SigLIP-style vision encoder + a Llama/Qwen-style causal LM, OpenVLA-style action tokens, OFT-style
    parallel chunk decoding.

    Weights come either from local directories (``vision_path``, ``language_path``: ``from_pretrained``,
    no hub) or, for tests and from-scratch runs, from config dicts (``vision_config``: SiglipVisionConfig
    fields; ``language_config``: a transformers config with ``model_type``, e.g. ``llama`` or ``qwen2``).
    A saved checkpoint records the resolved config dicts, so it reloads without the original directories.
    """

    vision_path: str | None = None
    language_path: str | None = None
    vision_config: dict[str, Any] | None = None
    language_config: dict[str, Any] | None = None
    max_instruction_length: int = Field(default=32, ge=1, le=512)
    dtype: Literal["float32", "bfloat16"] = "float32"
    gradient_checkpointing: bool = False
    lora_rank: int = Field(default=0, ge=0, le=256, description="0: train all LM weights; >0: LoRA adapters on attention projections")
    lora_alpha: float = Field(default=16.0, gt=0.0)
    freeze_vision: bool = False
    head: HeadConfig = HeadConfig()

    @model_validator(mode="after")
    def _sources(self) -> HFVLAConfig:
        if (self.vision_path is None) == (self.vision_config is None):
            raise ValueError("give exactly one of vision_path (local pretrained directory) or vision_config")
        if (self.language_path is None) == (self.language_config is None):
            raise ValueError("give exactly one of language_path (local pretrained directory) or language_config")
        if self.language_config is not None and "model_type" not in self.language_config:
            raise ValueError("language_config needs a model_type (e.g. llama, qwen2)")
        return self
