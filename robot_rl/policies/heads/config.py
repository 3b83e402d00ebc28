"""Action head configuration shared by every policy type."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig

HeadKind = Literal["token", "gaussian", "laplace"]


class HeadConfig(StrictConfig):
    """Which action head and its settings.

    kind: ``token`` (categorical over per-dimension bins), ``gaussian`` (MSE-trained mean) or
    ``laplace`` (L1-trained mean); the continuous heads carry a learned log-scale in normalised
    units, softly clamped to [log_scale_min, log_scale_max].
    """

    kind: HeadKind = "token"
    bins: int = Field(default=256, ge=2, le=4096)
    log_scale_min: float = Field(default=-5.0, ge=-20.0, le=5.0)
    log_scale_max: float = Field(default=1.0, ge=-20.0, le=5.0)
    log_scale_init: float = Field(default=-1.5, ge=-20.0, le=5.0)

    @model_validator(mode="after")
    def _ordered(self) -> HeadConfig:
        if not self.log_scale_min < self.log_scale_init < self.log_scale_max:
            raise ValueError(f"need log_scale_min < log_scale_init < log_scale_max, got "
                             f"{self.log_scale_min}, {self.log_scale_init}, {self.log_scale_max}")
        return self

    @property
    def continuous(self) -> bool:
        return self.kind != "token"
