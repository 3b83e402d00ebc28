"""Normalisation statistics saved with every policy: proprio mean/std and per-dimension action bounds.

Action bounds ``[low, high]`` (spec units) are derived from the training actions (by default the
1st/99th percentile per dimension, clipped to the spec limits). They serve both heads: the
tokenized head puts its bins between them; the continuous heads predict actions normalised to
[-1, 1] over them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.spec import EmbodimentSpec

_MIN_STD = 1e-3


@dataclass
class NormStats:
    """proprio_mean/std: float32 (D,); action_low/high: float32 (A,), spec units, low < high."""

    proprio_mean: np.ndarray
    proprio_std: np.ndarray
    action_low: np.ndarray
    action_high: np.ndarray

    @classmethod
    def identity(cls, spec: EmbodimentSpec) -> NormStats:
        """No proprio normalisation; action bounds = spec limits (before any data is seen)."""
        d = spec.proprio_dim
        return cls(np.zeros(d, np.float32), np.ones(d, np.float32), spec.action_low.copy(), spec.action_high.copy())

    @classmethod
    def fit(cls, proprio: np.ndarray, actions: np.ndarray, spec: EmbodimentSpec,
            percentiles: tuple[float, float] = (1.0, 99.0)) -> NormStats:
        """Fit from training data: proprio (N, D), actions (N, ..., A) in spec units.

        A dimension whose bounds collapse (constant in the data) gets a band of 1% of its spec
        range around the value, so normalisation never divides by zero.
        """
        proprio = np.asarray(proprio, np.float64).reshape(-1, spec.proprio_dim)
        actions = np.asarray(actions, np.float64).reshape(-1, spec.action_dim)  # (N*H, A)
        if len(proprio) == 0 or len(actions) == 0:
            raise ConfigError("cannot fit normalisation statistics on an empty dataset")
        lo_s, hi_s = spec.action_low.astype(np.float64), spec.action_high.astype(np.float64)
        low = np.clip(np.percentile(actions, percentiles[0], axis=0), lo_s, hi_s)
        high = np.clip(np.percentile(actions, percentiles[1], axis=0), lo_s, hi_s)
        band = 0.01 * (hi_s - lo_s)
        narrow = high - low < band
        shifted_low = np.clip((low + high) / 2 - band / 2, lo_s, hi_s - band)  # keep the band inside the limits
        low = np.where(narrow, shifted_low, low)
        high = np.where(narrow, shifted_low + band, high)
        return cls(
            proprio.mean(0).astype(np.float32),
            np.maximum(proprio.std(0), _MIN_STD).astype(np.float32),
            low.astype(np.float32),
            high.astype(np.float32),
        )

    def check(self, spec: EmbodimentSpec) -> None:
        """Shapes agree with ``spec`` and bounds are ordered."""
        want = {"proprio_mean": spec.proprio_dim, "proprio_std": spec.proprio_dim,
                "action_low": spec.action_dim, "action_high": spec.action_dim}
        for name, n in want.items():
            value = getattr(self, name)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise ConfigError(f"normalization.{name}: shape {value.shape} (finite values) expected ({n},) for spec '{spec.name}'")
        if np.any(self.action_low >= self.action_high):
            raise ConfigError("normalization: action_low must be below action_high in every dimension")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).tolist() for k in ("proprio_mean", "proprio_std", "action_low", "action_high")}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "normalization") -> NormStats:
        try:
            return cls(**{k: np.asarray(data[k], np.float32) for k in ("proprio_mean", "proprio_std", "action_low", "action_high")})
        except KeyError as err:
            raise ConfigError(f"{source}: missing field {err.args[0]}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> NormStats:
        return cls.from_dict(json.loads(Path(path).read_text()), str(path))
