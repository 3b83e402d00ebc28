"""Typed options of the LIBERO suites and envs (``make_suite("libero_spatial", **options)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from robot_rl.config import StrictConfig

SPEC_PATH = Path(__file__).resolve().parent / "libero.yaml"


class LiberoOptions(StrictConfig):
    """Options shared by a LIBERO suite and the envs it builds.

    Defaults suit RL on a CPU machine. To reproduce LIBERO's pixels exactly (e.g. to evaluate a
    published checkpoint) set ``reflections=True`` and the image size the checkpoint was trained
    at; ``image_convention="openvla"`` gives OpenVLA's 180-degree-rotated frames.
    """

    spec: Path = SPEC_PATH  # embodiment spec YAML; its cameras must be named in catalog.CAMERAS
    image_size: int | None = Field(default=None, gt=0, le=1024)  # square override of every spec camera
    render: bool = True  # False: no renderer at all, images are zeros (physics-only benchmarking)
    render_backend: Literal["egl", "osmesa"] | None = None  # None: keep $MUJOCO_GL, else egl
    render_device: int = Field(default=-1, ge=-1)  # EGL GPU index; -1 lets robosuite choose
    shadows: bool = False  # every light casts shadows (~5x render cost on CPU)
    reflections: bool = False  # LIBERO's default is on; ~2x render cost on CPU
    image_convention: Literal["upright", "openvla"] = "upright"
    settle_steps: int = Field(default=10, ge=0, le=1000)  # OpenVLA's num_steps_wait: no-op steps after reset
    max_steps: int | None = Field(default=None, gt=0)  # override every task's episode limit
    max_cached_envs: int = Field(default=10, ge=1)  # LIBERO envs (one per task) kept alive, LRU
    seed: int = Field(default=0, ge=0)  # with (task, init_id), seeds the fixture poses a reset samples
    eval_holdout: int = Field(default=0, ge=0, le=49)  # last N init states per task kept out of "train"
