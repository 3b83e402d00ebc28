"""Configuration of the built-in ``tiny`` VLA."""

from __future__ import annotations

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from robot_rl.policies.heads import HeadConfig


class TinyVLAConfig(StrictConfig):
    """Sizes of the tiny VLA (defaults train on a CPU in minutes and run a batch-1 step in a few ms).

    cnn_channels: channels of the four stride-2 conv stages of the shared image encoder (the last
    stage projects to d_model). image_grid: each camera's feature map is pooled to grid x grid tokens.
    instruction_patch: consecutive byte embeddings are merged (concatenated and projected) into one
    language token, so a 48-byte instruction costs 12 tokens instead of 48.
    """

    d_model: int = Field(default=128, ge=16, le=1024)
    n_layers: int = Field(default=3, ge=1, le=12)
    n_heads: int = Field(default=4, ge=1, le=16)
    mlp_ratio: int = Field(default=4, ge=1, le=8)
    cnn_channels: tuple[int, int, int] = (16, 32, 64)
    image_grid: int = Field(default=4, ge=1, le=16)
    keypoints: int = Field(default=32, ge=1, le=256, description="spatial-softmax keypoints per camera")
    max_instruction_length: int = Field(default=48, ge=1, le=512)
    instruction_patch: int = Field(default=4, ge=1, le=16, description="bytes merged into one language token")
    head: HeadConfig = HeadConfig()

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyVLAConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.max_instruction_length % self.instruction_patch:
            raise ValueError(f"max_instruction_length ({self.max_instruction_length}) must be a multiple of "
                             f"instruction_patch ({self.instruction_patch})")
        return self
