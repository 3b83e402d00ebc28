"""Reality profiles: one fixed, seeded shift of the tabletop away from the training simulator, as a lab differs.

Domain randomization (``randomization.py``) draws a new world every episode so that a policy learns to
ignore the draws. A real lab is the opposite: ONE particular world, different from the simulator in
many small ways at once and always the same way. A reality profile is that world: its magnitudes
are named per severity (``none``, ``lab``, ``hard`` in :data:`PROFILES`), the directions (which way
the camera is off, whether the lights are brighter or dimmer, which tint the table has) are drawn
once from ``seed``. Shifts:

===============  =====================================================================================
``lighting``     every light's intensity x (1 +- intensity), tinted, moved; headlight ambient +- delta
``colours``      cube / prop colours jittered per channel; the table another surface (texture), tinted darker
``camera_pose``  every camera moved by exactly ``position_mm`` and turned by exactly ``rotation_deg``
                 about a random axis (what a hand-eye calibration error leaves)
``image``        sensor noise (Gaussian, 0-255 units) and a fixed lens blur on every frame
``latency``      commands act ``latency_s`` late (to the physics step: whole periods queued, the rest within one)
``gripper``      fingers move at ``speed`` x the simulator's speed (finger joint damping / speed)
``friction``     sliding friction of cubes, fingers and table x ``scale``
``mass``         cube masses (and inertias) x ``scale``
``proprio``      a fixed bias on the end-effector position plus Gaussian noise on every reading
===============  =====================================================================================

``none`` changes nothing (the env is the training simulator bit for bit). Shifts can be switched on
alone (``only: [camera_pose]``), left out (``without: [latency]``) or given other magnitudes
(``overrides: {latency: {latency_s: 0.15}}``), so a success drop can be attributed.
:meth:`Reality.describe` reports every value applied.
"""

from __future__ import annotations

import zlib
from collections import deque
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from robot_rl.config import StrictConfig
from sim.tabletop.randomization import ImageRandomization, perturb_image
from sim.tabletop.mj_quat import quat_wxyz_from_axis_angle, quat_wxyz_mul


class LightingShift(StrictConfig):
    intensity: float = Field(ge=0.0, le=0.8)  # diffuse x (1 + s * intensity), s = +-1 drawn once
    tint: float = Field(default=0.0, ge=0.0, le=0.3)  # per-channel colour of the lab's lights
    position_m: float = Field(default=0.0, ge=0.0, le=1.0)  # lights moved by exactly this
    ambient_delta: float = Field(default=0.0, ge=0.0, le=0.3)  # headlight ambient +- this


class ColourShift(StrictConfig):
    # Bounds keep names true: a red cube stays red (0.15 of 0.85 red), a wooden table stays a table.
    cube_rgb: float = Field(ge=0.0, le=0.15)
    prop_rgb: float = Field(default=0.0, ge=0.0, le=0.3)
    table_rgb: float = Field(default=0.0, ge=0.0, le=0.4)  # darkening tint per channel, up to this
    # The lab's table surface: one of the scene's procedural table textures (0 = the simulator's wood).
    table_texture: int = Field(default=0, ge=0, le=3)


class CameraPoseShift(StrictConfig):
    # Hand-eye calibration typically leaves 2-10 mm and 0.5-3 degrees (calibration/ docs).
    position_mm: float = Field(ge=0.0, le=30.0)
    rotation_deg: float = Field(ge=0.0, le=10.0)


class ImageShift(StrictConfig):
    noise_std: float = Field(ge=0.0, le=20.0)  # 0-255 units; a RealSense in a lit lab is ~2-6
    blur_sigma: float = Field(default=0.0, ge=0.0, le=3.0)  # [px at the spec size]; 0 = sharp


class LatencyShift(StrictConfig):
    latency_s: float = Field(ge=0.0, le=0.5)  # camera-to-motion delay not modelled by the simulator


class GripperShift(StrictConfig):
    speed: float = Field(gt=0.0, le=2.0)  # 0.5 = fingers take twice as long to close


class FrictionShift(StrictConfig):
    scale: float = Field(gt=0.0, le=3.0)


class MassShift(StrictConfig):
    scale: float = Field(gt=0.0, le=5.0)


class ProprioShift(StrictConfig):
    position_bias_m: float = Field(default=0.0, ge=0.0, le=0.05)  # fixed offset of the reported eef position
    position_std_m: float = Field(default=0.0, ge=0.0, le=0.05)  # per reading
    rotation_std_rad: float = Field(default=0.0, ge=0.0, le=0.2)
    gripper_std: float = Field(default=0.0, ge=0.0, le=0.5)  # normalised units (-1..1)


class RealityShifts(StrictConfig):
    """The magnitudes of every shift; a field left ``None`` is no shift of that kind."""

    lighting: LightingShift | None = None
    colours: ColourShift | None = None
    camera_pose: CameraPoseShift | None = None
    image: ImageShift | None = None
    latency: LatencyShift | None = None
    gripper: GripperShift | None = None
    friction: FrictionShift | None = None
    mass: MassShift | None = None
    proprio: ProprioShift | None = None


ShiftName = Literal["lighting", "colours", "camera_pose", "image", "latency", "gripper", "friction", "mass", "proprio"]
SHIFT_NAMES: tuple[str, ...] = tuple(RealityShifts.model_fields)
SHIFT_CLASSES: dict[str, type[StrictConfig]] = {
    "lighting": LightingShift, "colours": ColourShift, "camera_pose": CameraPoseShift, "image": ImageShift,
    "latency": LatencyShift, "gripper": GripperShift, "friction": FrictionShift, "mass": MassShift,
    "proprio": ProprioShift}

# Severities. `lab` is what a careful lab leaves: the magnitudes sit inside the ranges people report
# for the shift (comments in the shift classes) and inside the training randomization's ranges.
# `hard` is a sloppy set-up. docs/reality.md carries the success each one costs.
PROFILES: dict[str, RealityShifts] = {
    "none": RealityShifts(),
    "lab": RealityShifts(
        lighting=LightingShift(intensity=0.3, tint=0.08, position_m=0.3, ambient_delta=0.1),
        # The lab bench is grey laminate, not the simulator's wood (texture 3): alone it cost the quickstart
        # policy 0.20 (texture 1, grey checker: 0.14; 2, light wood gradient: 0.02; docs/reality.md).
        colours=ColourShift(cube_rgb=0.08, prop_rgb=0.15, table_rgb=0.25, table_texture=3),
        camera_pose=CameraPoseShift(position_mm=8.0, rotation_deg=2.0),
        image=ImageShift(noise_std=4.0, blur_sigma=0.5),
        # Camera exposure + transport + inference + the arm's controller: 150 ms is the top of what labs measure
        # (calibration/ latency); at 100 ms lab dropped 0.22 of the needed 0.25, at 150 ms 0.28 (docs/reality.md).
        latency=LatencyShift(latency_s=0.15),
        gripper=GripperShift(speed=0.6),
        friction=FrictionShift(scale=0.7),
        mass=MassShift(scale=1.5),
        # Encoders are precise (forward kinematics repeat to ~0.1 mm): the lab's error is mostly a fixed offset of
        # the base/world calibration; per-reading noise of 2 mm cost the SFT policy 0.15-0.28 on its own, unrealistic.
        proprio=ProprioShift(position_bias_m=0.003, position_std_m=0.0005, rotation_std_rad=0.003, gripper_std=0.01),
    ),
    "hard": RealityShifts(
        lighting=LightingShift(intensity=0.45, tint=0.12, position_m=0.5, ambient_delta=0.15),
        colours=ColourShift(cube_rgb=0.12, prop_rgb=0.25, table_rgb=0.35, table_texture=3),
        camera_pose=CameraPoseShift(position_mm=15.0, rotation_deg=4.0),
        image=ImageShift(noise_std=8.0, blur_sigma=0.9),
        latency=LatencyShift(latency_s=0.2),  # beyond a tuned lab: a slow driver or a loaded workstation
        gripper=GripperShift(speed=0.4),
        friction=FrictionShift(scale=0.5),
        mass=MassShift(scale=2.0),
        proprio=ProprioShift(position_bias_m=0.006, position_std_m=0.002, rotation_std_rad=0.01, gripper_std=0.03),
    ),
}
ProfileName = Literal["none", "lab", "hard"]


class RealityConfig(StrictConfig):
    """Which reality profile the env is (``none`` = the training simulator) and which of its shifts apply."""

    profile: ProfileName = "none"
    seed: int = 0  # draws the directions of the shifts once: one seed, one lab
    only: list[ShiftName] | None = None  # apply only these shifts of the profile
    without: list[ShiftName] = Field(default_factory=list)  # leave these out
    overrides: dict[ShiftName, dict[str, Any] | None] = Field(
        default_factory=dict, description="per-shift magnitudes replacing the profile's (null switches it off)")

    @model_validator(mode="after")
    def _overrides_are_valid(self) -> RealityConfig:
        self.shifts()  # a bad override field fails on load, naming the shift
        return self

    def shifts(self) -> RealityShifts:
        """The shifts in effect: the profile's, with ``overrides`` merged in, filtered by ``only`` / ``without``."""
        base = PROFILES[self.profile]
        chosen: dict[str, Any] = {}
        for name in SHIFT_NAMES:
            value = getattr(base, name)
            if name in self.overrides:
                patch = self.overrides[name]
                if patch is None:
                    value = None
                else:
                    value = _override(name, value, patch)
            if (self.only is not None and name not in self.only) or name in self.without:
                value = None
            chosen[name] = value
        return RealityShifts(**chosen)


def _override(name: str, value: StrictConfig | None, patch: dict[str, Any]) -> StrictConfig:
    """The shift ``name`` with the fields of ``patch`` replaced; errors name the field and what is allowed."""
    cls = SHIFT_CLASSES[name]
    try:
        return cls(**{**(value.model_dump() if value is not None else {}), **patch})
    except ValidationError as err:
        problems = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"])
            if e["type"] == "extra_forbidden":
                problems.append(f"{field}: unknown field; allowed: {', '.join(cls.model_fields)}")
            else:
                problems.append(f"{field}: got {e.get('input')!r}; {e['msg']}")
        raise ValueError(f"overrides.{name}.{'; '.join(problems)}") from None


@lru_cache(maxsize=8)
def _noise_table(std: float) -> np.ndarray:
    """The 65,536 quantiles ``(i + 0.5) / 65536`` of N(0, std), rounded to grey levels: int16 (65536,)."""
    dist = NormalDist(0.0, std)
    return np.rint([dist.inv_cdf((i + 0.5) / 65536) for i in range(65536)]).astype(np.int16)


def _driver_frame_noise(img: np.ndarray, blur_sigma: float, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Blur + Gaussian noise on a driver-sized frame, ~5x faster than ``perturb_image``.

    A 640x480 frame holds 0.9 M values: ``rng.normal`` took 90-160 ms per frame on the 2-core
    machine, more than the render; this takes ~5 ms. The noise is N(0, noise_std) through a table of
    65,536 quantiles, rounded to grey levels (16 random bits per value), independent per pixel and frame.
    """
    import cv2  # opencv is part of the sim extra

    out = cv2.GaussianBlur(img, (0, 0), sigmaX=blur_sigma) if blur_sigma > 0 else img
    if noise_std == 0:
        return out
    bits = np.frombuffer(rng.bytes(2 * out.size), dtype=np.uint16).reshape(out.shape)
    noisy = out.astype(np.int16) + _noise_table(round(float(noise_std), 6))[bits]
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / (np.linalg.norm(v) + 1e-12)


def _r(x: Any, nd: int = 4) -> Any:
    """Rounded plain Python values for the description (JSON-able, readable in logs)."""
    return np.round(np.asarray(x, dtype=float), nd).tolist()


class Reality:
    """A :class:`RealityConfig` applied to one tabletop model, its actions, frames and proprio.

    :meth:`apply_to_model` changes the model once (call it before the domain randomizer snapshots
    the nominal values, so randomization, if on, varies around the lab rather than the simulator).
    Per-step effects (image noise, proprio noise, latency) draw from a generator reseeded at every
    :meth:`reset` from the seed and the context, so an episode is the same whatever ran before it.
    """

    def __init__(self, cfg: RealityConfig, control_period_s: float, substeps: int) -> None:
        self.cfg = cfg
        self.shifts = cfg.shifts()
        self.period = control_period_s
        self._rng = np.random.default_rng(cfg.seed)
        self._applied: dict[str, dict[str, Any]] = {}
        self._queue: deque[np.ndarray] = deque()
        self._bias = np.zeros(3)
        lat = self.shifts.latency
        # Whole control periods through a command queue, the rest in physics steps within the period
        # (rounded half up; 1e-9: 0.15 / 0.1 is 1.4999...).
        physics_step = control_period_s / substeps
        total = int(np.floor((lat.latency_s if lat else 0.0) / physics_step + 0.5 + 1e-9))
        self.latency_steps, self.latency_substeps = divmod(total, substeps)
        if lat:
            self._applied["latency"] = {"latency_s": lat.latency_s, "steps": self.latency_steps,
                                        "substeps": self.latency_substeps,
                                        "effective_s": round(total * physics_step, 6)}

    @property
    def active(self) -> bool:
        return any(getattr(self.shifts, n) is not None for n in SHIFT_NAMES)

    def apply_to_model(self, m: Any, cube_geoms: list[int], cube_bodies: list[int], prop_materials: list[int],
                       table_geom: int, table_materials: list[int], finger_geoms: list[int],
                       finger_dofs: list[int]) -> None:
        """Shift the model's appearance and dynamics once. Draw order is fixed, so one seed is one lab."""
        s, rng = self.shifts, self._rng
        if s.lighting:
            sign = float(rng.choice([-1.0, 1.0]))
            scale = 1.0 + sign * s.lighting.intensity
            tints, moves = [], []
            for i in range(m.nlight):
                tint = 1.0 + rng.uniform(-s.lighting.tint, s.lighting.tint, 3)
                move = _unit(rng) * s.lighting.position_m
                m.light_diffuse[i] = np.clip(m.light_diffuse[i] * scale * tint, 0, 1)
                m.light_pos[i] = m.light_pos[i] + move
                tints.append(_r(tint, 3))
                moves.append(_r(move, 3))
            ambient = float(rng.choice([-1.0, 1.0])) * s.lighting.ambient_delta
            m.vis.headlight.ambient[:] = np.clip(m.vis.headlight.ambient + ambient, 0, 1)
            self._applied["lighting"] = {"intensity_scale": round(scale, 4), "tints": tints, "moves_m": moves,
                                         "ambient_delta": round(ambient, 4)}
        if s.colours:
            cube = [rng.uniform(-1, 1, 3) * s.colours.cube_rgb for _ in cube_geoms]
            for g, d in zip(cube_geoms, cube):
                m.geom_rgba[g, :3] = np.clip(m.geom_rgba[g, :3] + d, 0, 1)
            prop = [rng.uniform(-1, 1, 3) * s.colours.prop_rgb for _ in prop_materials]
            for mat, d in zip(prop_materials, prop):
                m.mat_rgba[mat, :3] = np.clip(m.mat_rgba[mat, :3] + d, 0, 1)
            m.geom_matid[table_geom] = table_materials[s.colours.table_texture]
            # Material rgba multiplies the table texture: a tint that only darkens keeps it in range.
            table = 1.0 - rng.uniform(0, 1, 3) * s.colours.table_rgb
            table_mat = m.geom_matid[table_geom]
            m.mat_rgba[table_mat, :3] = np.clip(m.mat_rgba[table_mat, :3] * table, 0, 1)
            self._applied["colours"] = {"cube_rgb_delta": _r(cube, 3), "prop_rgb_delta": _r(prop, 3),
                                        "table_texture": s.colours.table_texture, "table_tint": _r(table, 3)}
        if s.camera_pose:
            cams = {}
            for cam in range(m.ncam):
                offset = _unit(rng) * s.camera_pose.position_mm / 1000.0
                axis, angle = _unit(rng), np.deg2rad(s.camera_pose.rotation_deg)
                dq = quat_wxyz_from_axis_angle(axis, angle)
                m.cam_pos[cam] = m.cam_pos[cam] + offset
                m.cam_quat[cam] = quat_wxyz_mul(dq, m.cam_quat[cam])
                cams[m.camera(cam).name] = {"offset_mm": _r(offset * 1000, 2), "axis": _r(axis, 3),
                                            "rotation_deg": s.camera_pose.rotation_deg}
            self._applied["camera_pose"] = cams
        if s.image:
            self._applied["image"] = s.image.model_dump()
        if s.gripper:
            for dof in finger_dofs:
                m.dof_damping[dof] /= s.gripper.speed
            self._applied["gripper"] = {"speed": s.gripper.speed, "finger_damping": _r(m.dof_damping[finger_dofs])}
        if s.friction:
            for g in (*cube_geoms, *finger_geoms, table_geom):
                m.geom_friction[g, 0] *= s.friction.scale
            self._applied["friction"] = {"scale": s.friction.scale,
                                         "cube_sliding": _r(m.geom_friction[cube_geoms[0], 0])}
        if s.mass:
            for b in cube_bodies:
                m.body_mass[b] *= s.mass.scale
                m.body_inertia[b] *= s.mass.scale
            self._applied["mass"] = {"scale": s.mass.scale, "cube_kg": _r(m.body_mass[cube_bodies[0]])}
        if s.proprio:
            self._bias = _unit(rng) * s.proprio.position_bias_m
            self._applied["proprio"] = {**s.proprio.model_dump(), "position_bias": _r(self._bias, 5)}

    def describe(self) -> dict[str, Any]:
        """Every shift applied, with its drawn values: ``{"profile", "seed", "shifts": {name: {...}}}``."""
        order = [n for n in SHIFT_NAMES if n in self._applied]
        return {"profile": self.cfg.profile, "seed": self.cfg.seed, "shifts": {n: self._applied[n] for n in order}}

    def reset(self, task: str, init_id: int) -> None:
        """Start an episode: empty the latency queue, reseed the per-step noise from (seed, context)."""
        self._queue.clear()
        self._rng = np.random.default_rng([self.cfg.seed, zlib.crc32(task.encode()), init_id])

    def action(self, a: np.ndarray, hold: np.ndarray) -> np.ndarray:
        """The command the lab executes now: ``a`` delayed by the latency (``hold`` until the first arrives)."""
        if self.latency_steps == 0:
            return a
        self._queue.append(a)
        return self._queue.popleft() if len(self._queue) > self.latency_steps else hold

    def image(self, img: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Sensor noise and blur on one rendered frame; ``scale`` = frame rows per spec row.

        Magnitudes are given at the spec's size. A driver-sized frame (``scale`` > 1) gets a blur
        ``scale`` x wider and noise ``scale`` x stronger, because the policy path's area resize
        averages ``scale`` x ``scale`` pixels (dividing independent noise by ``scale``): both paths
        then see the same shift.
        """
        s = self.shifts.image
        if s is None or (s.noise_std == 0 and s.blur_sigma == 0):
            return img
        sigma = s.blur_sigma * scale
        if scale > 1.0:
            return _driver_frame_noise(img, sigma, min(50.0, s.noise_std * scale), self._rng)
        cfg = ImageRandomization(noise_std=min(50.0, s.noise_std * scale), blur_prob=1.0 if sigma > 0 else 0.0,
                                 blur_sigma=(sigma, sigma))
        return perturb_image(img, cfg, self._rng)

    def proprio(self, p: np.ndarray) -> np.ndarray:
        """Proprio as the lab's encoders report it: biased and noisy end-effector position, noisy rest."""
        s = self.shifts.proprio
        if s is None:
            return p
        out = p.astype(np.float64)
        out[:3] += self._bias + self._rng.normal(0.0, s.position_std_m, 3)
        out[3:6] += self._rng.normal(0.0, s.rotation_std_rad, 3)
        out[6] = np.clip(out[6] + self._rng.normal(0.0, s.gripper_std), -1.0, 1.0)
        return out.astype(np.float32)
