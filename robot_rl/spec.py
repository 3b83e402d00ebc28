"""Embodiment spec: what a robot (real or simulated) sees and how it is commanded.

A spec names the cameras and their image size, the proprioception vector layout with units,
the action layout with per-dimension limits, the control rate and the action chunk length.
Sim tasks and the real robot each declare one; policies and rollout buffers record the spec
they were made with and refuse an incompatible one with a list of the differences.

Example YAML (``specs/tabletop.yaml``)::

    name: tabletop
    control_rate_hz: 10
    chunk_length: 8
    cameras:
      - {name: agentview, height: 128, width: 128}
      - {name: wrist, height: 128, width: 128}
    proprio:
      - {name: eef_pos, size: 3, unit: m}
      - {name: eef_axis_angle, size: 3, unit: rad}
      - {name: gripper, size: 1, unit: normalized}
    action:
      - {name: dx, unit: m, low: -0.05, high: 0.05}
      ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import SpecMismatchError

Unit = Literal["m", "rad", "m/s", "rad/s", "N", "Nm", "normalized", "count"]
"""Units a proprio field or action dimension may declare; ``normalized`` means a unitless [-1, 1] value."""

_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"


class CameraSpec(StrictConfig):
    """One RGB camera: its name (also its topic prefix and buffer key) and image size in pixels."""

    name: str = Field(pattern=_NAME_PATTERN)
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image array shape, ``(H, W, 3)`` uint8 RGB."""
        return (self.height, self.width, 3)


class ProprioField(StrictConfig):
    """A named slice of the proprioception vector."""

    name: str = Field(pattern=_NAME_PATTERN)
    size: int = Field(gt=0, le=1024)
    unit: Unit


class ActionDim(StrictConfig):
    """One action dimension with its unit and hard limits (actions are clipped to [low, high])."""

    name: str = Field(pattern=_NAME_PATTERN)
    unit: Unit
    low: float
    high: float

    @model_validator(mode="after")
    def _low_below_high(self) -> ActionDim:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be finite and below high ({self.high})")
        return self


class LatencySpec(StrictConfig):
    """Measured delays (seconds) between the world and the data; filled in by calibration."""

    camera_s: float = Field(default=0.0, ge=0.0, le=10.0)
    command_s: float = Field(default=0.0, ge=0.0, le=10.0)


def _unique_names(items: list[Any], what: str) -> list[Any]:
    names = [item.name for item in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")
    return items


class EmbodimentSpec(StrictConfig):
    """The contract between a robot (or simulator), a policy and a rollout buffer."""

    name: str = Field(pattern=_NAME_PATTERN)
    cameras: list[CameraSpec] = Field(min_length=1)
    proprio: list[ProprioField] = Field(min_length=1)
    action: list[ActionDim] = Field(min_length=1)
    control_rate_hz: float = Field(gt=0.0, le=1000.0)
    chunk_length: int = Field(gt=0, le=256)
    latency: LatencySpec = LatencySpec()

    @field_validator("cameras")
    @classmethod
    def _cameras_unique(cls, v: list[CameraSpec]) -> list[CameraSpec]:
        return _unique_names(v, "camera")

    @field_validator("proprio")
    @classmethod
    def _proprio_unique(cls, v: list[ProprioField]) -> list[ProprioField]:
        return _unique_names(v, "proprio field")

    @field_validator("action")
    @classmethod
    def _action_unique(cls, v: list[ActionDim]) -> list[ActionDim]:
        return _unique_names(v, "action dimension")

    # ---- derived views -------------------------------------------------------------------

    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> CameraSpec:
        """The camera called ``name``; raises ``KeyError`` listing the known cameras."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"no camera '{name}' in spec '{self.name}'; cameras: {', '.join(self.camera_names)}")

    @property
    def proprio_dim(self) -> int:
        return sum(f.size for f in self.proprio)

    def proprio_slice(self, name: str) -> slice:
        """Where the field ``name`` sits in the proprio vector."""
        start = 0
        for f in self.proprio:
            if f.name == name:
                return slice(start, start + f.size)
            start += f.size
        raise KeyError(f"no proprio field '{name}' in spec '{self.name}'; fields: {[f.name for f in self.proprio]}")

    @property
    def action_dim(self) -> int:
        return len(self.action)

    @property
    def action_low(self) -> np.ndarray:
        return np.array([a.low for a in self.action], dtype=np.float32)

    @property
    def action_high(self) -> np.ndarray:
        return np.array([a.high for a in self.action], dtype=np.float32)

    @property
    def chunk_shape(self) -> tuple[int, int]:
        """Shape of one action chunk, ``(H, A)``."""
        return (self.chunk_length, self.action_dim)

    @property
    def control_period_s(self) -> float:
        return 1.0 / self.control_rate_hz

    # ---- comparison ----------------------------------------------------------------------

    def diff(self, other: EmbodimentSpec) -> list[str]:
        """Readable differences between two specs, one line each; empty when they are equal."""
        return _diff(self.model_dump(), other.model_dump(), "")

    def check_compatible(self, other: EmbodimentSpec, what: str = "spec", *, ignore: tuple[str, ...] = ("name", "latency")) -> None:
        """Raise :class:`SpecMismatchError` unless ``other`` matches this spec.

        ``ignore`` lists top-level fields that may differ (by default the name and the measured
        latencies, which do not change what a policy consumes or produces).
        """
        lines = [d for d in self.diff(other) if d.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0] not in ignore]
        if lines:
            raise SpecMismatchError(
                f"{what} '{other.name}' does not match '{self.name}':\n  " + "\n  ".join(lines)
            )

    # ---- I/O -----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str = "spec") -> EmbodimentSpec:
        return validate_config(cls, data, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> EmbodimentSpec:
        return cls.from_dict(load_yaml(path), str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _diff(a: Any, b: Any, path: str) -> list[str]:
    """Recursive structural diff of two ``model_dump`` trees; lists are compared by name when possible."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else key
            if key not in a:
                out.append(f"{sub}: missing on the left, {b[key]!r} on the right")
            elif key not in b:
                out.append(f"{sub}: {a[key]!r} on the left, missing on the right")
            else:
                out.extend(_diff(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list):
        names_a = [x.get("name") for x in a if isinstance(x, dict)]
        names_b = [x.get("name") for x in b if isinstance(x, dict)]
        if names_a != names_b and len(names_a) == len(a) and len(names_b) == len(b):
            return [f"{path}: names {names_a} vs {names_b}"]
        if len(a) != len(b):
            return [f"{path}: {len(a)} entries vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            label = x.get("name") if isinstance(x, dict) and "name" in x else i
            out.extend(_diff(x, y, f"{path}[{label}]"))
        return out
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


SPEC_DIR = Path(__file__).resolve().parent / "specs"


def load_spec(name_or_path: str | Path) -> EmbodimentSpec:
    """Load a spec by path, or by name from the specs shipped with robot_rl (``robot_rl/specs/NAME.yaml``)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SPEC_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))
            raise KeyError(f"no built-in spec '{name_or_path}'; built-in specs: {', '.join(known)}")
    return EmbodimentSpec.from_yaml(path)
