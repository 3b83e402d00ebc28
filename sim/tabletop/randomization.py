"""Domain randomization for sim-to-real transfer: what varies, by how much, and applying it.

Everything is off unless ``DomainRandomization.enabled`` is true, and an enabled env can still
be switched to the nominal scene per episode (``TabletopEnv.set_randomization(False)``: evaluation
does this unless asked, see ``eval.randomize`` in docs/training.md). Per-episode draws (lighting,
colours, table texture, camera pose, action latency) happen at ``reset``; per-step draws (image
noise and blur, action noise) at every step. All draws come from one ``numpy.random.Generator``
seeded by ``seed``, so a run is reproducible.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from robot_rl.config import StrictConfig
from sim.tabletop.mj_quat import quat_wxyz_mul, quat_wxyz_random


class LightingRandomization(StrictConfig):
    """Light intensity, direction and ambient level."""

    enabled: bool = True
    intensity_scale: tuple[float, float] = (0.6, 1.4)  # multiplies every light's diffuse colour
    position_jitter_m: float = Field(default=0.4, ge=0.0)
    ambient: tuple[float, float] = (0.2, 0.5)  # headlight ambient level
    colour_jitter: float = Field(default=0.1, ge=0.0, le=0.5)  # per-channel tint


class ColourRandomization(StrictConfig):
    """Object and table colours, and the table texture."""

    enabled: bool = True
    # Cubes keep their colour name (red stays red): only a small per-channel jitter.
    cube_rgb_jitter: float = Field(default=0.08, ge=0.0, le=0.3)
    prop_rgb_jitter: float = Field(default=0.2, ge=0.0, le=0.5)  # bowl, plate, target, gripper
    table_rgb_jitter: float = Field(default=0.25, ge=0.0, le=0.5)
    table_textures: bool = True  # switch between the scene's procedural table textures


class CameraRandomization(StrictConfig):
    """Camera pose and field-of-view jitter around the nominal (or calibrated) pose."""

    enabled: bool = True
    position_jitter_m: float = Field(default=0.015, ge=0.0, le=0.2)
    rotation_jitter_deg: float = Field(default=2.0, ge=0.0, le=30.0)
    fovy_jitter_deg: float = Field(default=2.0, ge=0.0, le=20.0)


class ImageRandomization(StrictConfig):
    """Sensor noise and blur applied to rendered images."""

    enabled: bool = True
    noise_std: float = Field(default=3.0, ge=0.0, le=50.0)  # Gaussian noise, in 0-255 pixel units
    blur_prob: float = Field(default=0.3, ge=0.0, le=1.0)
    blur_sigma: tuple[float, float] = (0.3, 1.0)  # Gaussian blur sigma [px] when blurring


class ActionRandomization(StrictConfig):
    """Actuation noise and command latency."""

    enabled: bool = True
    noise_std: float = Field(default=0.02, ge=0.0, le=0.5)  # fraction of each dimension's half-range
    max_latency_steps: int = Field(default=1, ge=0, le=10)  # per-episode delay drawn from 0..max


class DomainRandomization(StrictConfig):
    """Domain randomization for the tabletop suite; off by default."""

    enabled: bool = False
    seed: int = 0
    lighting: LightingRandomization = LightingRandomization()
    colours: ColourRandomization = ColourRandomization()
    camera: CameraRandomization = CameraRandomization()
    image: ImageRandomization = ImageRandomization()
    action: ActionRandomization = ActionRandomization()


@dataclass
class EpisodeDraw:
    """What was drawn for one episode (reported in ``StepResult.info`` for debugging)."""

    latency_steps: int = 0
    table_material: int = 0


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


_NOMINAL_FIELDS = ("light_pos", "light_diffuse", "geom_rgba", "geom_matid", "mat_rgba", "cam_pos", "cam_quat", "cam_fovy")


class SceneRandomizer:
    """Applies a :class:`DomainRandomization` to one MuJoCo model and its env's actions and images.

    It snapshots the nominal model values once, restores them at every reset (so a run with
    randomization off renders the nominal scene exactly) and, when enabled, draws new ones.
    ``cube_geoms``, ``prop_materials``, ``table_geom`` and ``table_materials`` are model ids.
    """

    def __init__(self, model: Any, cfg: DomainRandomization, cube_geoms: list[int], prop_materials: list[int],
                 table_geom: int, table_materials: list[int]) -> None:
        self.model = model
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.draw = EpisodeDraw()
        self._cube_geoms, self._prop_mats = cube_geoms, prop_materials
        self._table_geom, self._table_mats = table_geom, table_materials
        self._nominal = {f: getattr(model, f).copy() for f in _NOMINAL_FIELDS}
        self._nominal["ambient"] = model.vis.headlight.ambient.copy()
        self._queue: deque[np.ndarray] = deque()
        self.requested = True  # set_randomization(); read at the next reset
        self.active = False  # randomizing the current episode (cfg.enabled and requested at its reset)

    def reset(self) -> EpisodeDraw:
        """Restore the nominal scene, then (when enabled and requested) draw this episode's lighting,
        colours, table texture, camera poses and action latency. Call before ``mj_forward``."""
        m = self.model
        for f in _NOMINAL_FIELDS:
            getattr(m, f)[:] = self._nominal[f]
        m.vis.headlight.ambient[:] = self._nominal["ambient"]
        self._queue.clear()
        self.draw = EpisodeDraw()
        # Fixed for the whole episode, so switching mid-episode cannot mix nominal and noisy steps.
        self.active = self.cfg.enabled and self.requested
        if self.active:
            self._draw_episode()
        return self.draw

    def _draw_episode(self) -> None:
        m, n, rng, dr = self.model, self._nominal, self.rng, self.cfg
        if dr.lighting.enabled:
            lo, hi = dr.lighting.intensity_scale
            for i in range(m.nlight):
                tint = 1.0 + rng.uniform(-dr.lighting.colour_jitter, dr.lighting.colour_jitter, 3)
                m.light_diffuse[i] = np.clip(n["light_diffuse"][i] * rng.uniform(lo, hi) * tint, 0, 1)
                m.light_pos[i] = n["light_pos"][i] + rng.uniform(-1, 1, 3) * dr.lighting.position_jitter_m
            m.vis.headlight.ambient[:] = rng.uniform(*dr.lighting.ambient)
        if dr.colours.enabled:
            for geom in self._cube_geoms:
                jitter = rng.uniform(-1, 1, 3) * dr.colours.cube_rgb_jitter
                m.geom_rgba[geom, :3] = np.clip(n["geom_rgba"][geom, :3] + jitter, 0, 1)
            for mat in self._prop_mats:
                jitter = rng.uniform(-1, 1, 3) * dr.colours.prop_rgb_jitter
                m.mat_rgba[mat, :3] = np.clip(n["mat_rgba"][mat, :3] + jitter, 0, 1)
            if dr.colours.table_textures:
                self.draw.table_material = int(rng.integers(len(self._table_mats)))
                m.geom_matid[self._table_geom] = self._table_mats[self.draw.table_material]
            mat = m.geom_matid[self._table_geom]
            # Material rgba multiplies the texture: a tint that only darkens keeps it in range.
            m.mat_rgba[mat, :3] = np.clip(1.0 - rng.uniform(0, 1, 3) * dr.colours.table_rgb_jitter, 0, 1)
        if dr.camera.enabled:
            for cam in range(m.ncam):
                m.cam_pos[cam] = n["cam_pos"][cam] + rng.uniform(-1, 1, 3) * dr.camera.position_jitter_m
                dq = quat_wxyz_random(rng, np.deg2rad(dr.camera.rotation_jitter_deg))
                m.cam_quat[cam] = quat_wxyz_mul(dq, n["cam_quat"][cam])
                m.cam_fovy[cam] = n["cam_fovy"][cam] + rng.uniform(-1, 1) * dr.camera.fovy_jitter_deg
        if dr.action.enabled and dr.action.max_latency_steps > 0:
            self.draw.latency_steps = int(rng.integers(0, dr.action.max_latency_steps + 1))

    def action(self, a: np.ndarray, low: np.ndarray, high: np.ndarray, hold: np.ndarray) -> np.ndarray:
        """The action the hardware would execute: noisy, and delayed by the episode's latency.

        ``hold`` (no motion, current gripper command) is executed until the first command arrives.
        """
        cfg = self.cfg.action
        if not (self.active and cfg.enabled):
            return a
        noisy = a.copy()
        noisy[:6] += self.rng.normal(0.0, cfg.noise_std, 6) * (high[:6] - low[:6]) / 2
        self._queue.append(np.clip(noisy, low, high))
        if len(self._queue) > self.draw.latency_steps:
            return self._queue.popleft()
        return hold

    def image(self, img: np.ndarray) -> np.ndarray:
        """Sensor noise and blur on one rendered uint8 (H, W, 3) image (unchanged when disabled)."""
        if not (self.active and self.cfg.image.enabled):
            return img
        return perturb_image(img, self.cfg.image, self.rng)


def perturb_image(image: np.ndarray, cfg: ImageRandomization, rng: np.random.Generator) -> np.ndarray:
    """Blur (sometimes) and add Gaussian noise to one uint8 (H, W, 3) image; returns a new array."""
    import cv2  # opencv is part of the sim extra

    out = image
    if cfg.blur_prob > 0 and rng.random() < cfg.blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=_uniform(rng, cfg.blur_sigma))
    if cfg.noise_std > 0:
        noisy = out.astype(np.float32) + rng.normal(0.0, cfg.noise_std, size=out.shape).astype(np.float32)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    return out
