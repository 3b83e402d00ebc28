"""Observation batches: collating :class:`~robot_rl.env.Observation` lists and checking them against a spec.

An observation batch is a plain dict (the observation contract of robot_rl.env, batched)::

    {"images": {cam: uint8 (B, H, W, 3)}, "proprio": float32 (B, D), "instruction": list[str] (B)}

Images and proprio may be numpy arrays or torch tensors; policies convert them. A policy refuses a
batch that does not match its spec with a :class:`~robot_rl.errors.SpecMismatchError` naming the
camera or field, so a robot wired to the wrong camera fails loudly instead of acting on garbage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import torch

from robot_rl.env import Observation
from robot_rl.errors import SpecMismatchError
from robot_rl.spec import EmbodimentSpec


class ObsBatch(TypedDict):
    """A batch of observations; see the module docstring for shapes."""

    images: dict[str, Any]
    proprio: Any
    instruction: list[str]


def collate_observations(observations: Sequence[Observation]) -> ObsBatch:
    """Stack a list of observations into one batch of numpy arrays (B = len(observations))."""
    if not observations:
        raise SpecMismatchError("cannot collate an empty list of observations")
    cams = list(observations[0].images)
    for i, obs in enumerate(observations):
        if list(obs.images) != cams:
            raise SpecMismatchError(f"observation {i} has cameras {list(obs.images)}, observation 0 has {cams}")
    return {
        "images": {cam: np.stack([np.asarray(o.images[cam]) for o in observations]) for cam in cams},  # (B, H, W, 3)
        "proprio": np.stack([np.asarray(o.proprio, dtype=np.float32) for o in observations]),  # (B, D)
        "instruction": [o.instruction for o in observations],
    }


def as_obs_batch(obs: ObsBatch | Observation | Sequence[Observation]) -> ObsBatch:
    """Accept a batch dict, one :class:`Observation` or a list of them; return a batch dict."""
    if isinstance(obs, Observation):
        return collate_observations([obs])
    if isinstance(obs, dict):
        return obs  # type: ignore[return-value]
    return collate_observations(list(obs))


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def _is_uint8(x: Any) -> bool:
    return x.dtype == torch.uint8 if isinstance(x, torch.Tensor) else np.asarray(x).dtype == np.uint8


def check_obs_batch(batch: ObsBatch, spec: EmbodimentSpec) -> int:
    """Check ``batch`` against ``spec`` and return its batch size.

    Raises :class:`SpecMismatchError` naming the camera or field that does not match.
    """
    for key in ("images", "proprio", "instruction"):
        if key not in batch:
            raise SpecMismatchError(f"observation batch has no '{key}' field; expected images, proprio, instruction")
    images = batch["images"]
    missing = [c for c in spec.camera_names if c not in images]
    extra = [c for c in images if c not in spec.camera_names]
    if missing:
        raise SpecMismatchError(
            f"observation is missing camera '{missing[0]}' of spec '{spec.name}' (spec cameras: {', '.join(spec.camera_names)}; "
            f"got: {', '.join(images) or 'none'})"
        )
    if extra:
        raise SpecMismatchError(f"observation has camera '{extra[0]}' that spec '{spec.name}' does not declare "
                                f"(spec cameras: {', '.join(spec.camera_names)})")
    sizes = set()
    for cam in spec.cameras:
        img = images[cam.name]
        shape = _shape(img)
        if len(shape) != 4 or shape[1:] != cam.shape:
            raise SpecMismatchError(f"camera '{cam.name}': image batch shape {shape}, spec '{spec.name}' wants (B, {cam.height}, {cam.width}, 3)")
        if not _is_uint8(img):
            raise SpecMismatchError(f"camera '{cam.name}': images must be uint8 RGB, got {img.dtype}")
        sizes.add(shape[0])
    proprio = batch["proprio"]
    pshape = _shape(proprio)
    if len(pshape) != 2 or pshape[1] != spec.proprio_dim:
        layout = ", ".join(f"{f.name}[{f.size}]" for f in spec.proprio)
        raise SpecMismatchError(f"proprio: shape {pshape}, spec '{spec.name}' wants (B, {spec.proprio_dim}) laid out as {layout}")
    sizes.add(pshape[0])
    instr = batch["instruction"]
    if isinstance(instr, str) or not all(isinstance(s, str) for s in instr):
        raise SpecMismatchError("instruction: expected a list of strings, one per batch element")
    sizes.add(len(instr))
    if len(sizes) != 1:
        raise SpecMismatchError(f"observation batch fields disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()


def to_tensors(batch: ObsBatch, spec: EmbodimentSpec, device: torch.device | str) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Images in spec camera order, uint8 (B, H, W, 3), and proprio float32 (B, D), on ``device``."""
    images = [torch.as_tensor(batch["images"][c]).to(device) for c in spec.camera_names]
    proprio = torch.as_tensor(np.asarray(batch["proprio"], dtype=np.float32) if not isinstance(batch["proprio"], torch.Tensor)
                              else batch["proprio"]).to(device=device, dtype=torch.float32)
    return images, proprio
