"""Typed configuration of a tabletop env: physics, rendering, camera overrides, randomization."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from sim.tabletop.randomization import DomainRandomization
from sim.tabletop.reality import RealityConfig

Vec3 = tuple[float, float, float]


class CameraPose(StrictConfig):
    """Override of a camera's nominal pose, e.g. from calibration. Unset fields keep the nominal value.

    Give either ``lookat`` (the camera keeps the world +z as "up") or ``quat_wxyz`` (MuJoCo's
    order and camera convention: the camera looks along its -z axis, +y is image up). Poses of
    the ``wrist`` camera are relative to the gripper frame, of ``agentview`` to the world.
    """

    pos: Vec3 | None = None
    lookat: Vec3 | None = None
    quat_wxyz: tuple[float, float, float, float] | None = None
    fovy: float | None = Field(default=None, gt=1.0, lt=170.0)  # vertical field of view [deg]

    @model_validator(mode="before")
    @classmethod
    def _renamed_quat(cls, data: Any) -> Any:
        # The key said nothing about the order (the core's quaternions are x, y, z, w): refuse the old name.
        if isinstance(data, dict) and "quat" in data:
            raise ValueError("'quat' is now 'quat_wxyz' (w, x, y, z; MuJoCo's order): rename the key")
        return data

    @model_validator(mode="after")
    def _one_orientation(self) -> CameraPose:
        if self.lookat is not None and self.quat_wxyz is not None:
            raise ValueError("give either lookat or quat_wxyz, not both")
        return self


class TabletopConfig(StrictConfig):
    """Options of :class:`sim.tabletop.env.TabletopEnv`.

    The physics step times ``substeps`` is one control period (1 / spec.control_rate_hz); the
    env checks this. 4 ms x 25 keeps grasps stable with the elliptic friction cone and costs half
    of 2 ms x 50 (see bench/sim.py).
    """

    timestep: float = Field(default=0.004, gt=0.0, le=0.005)
    shadows: bool = False  # shadows cost ~5x render time on CPU
    cameras: dict[str, CameraPose] = Field(default_factory=dict)
    randomization: DomainRandomization = DomainRandomization()
    reality: RealityConfig = Field(default_factory=RealityConfig,
                                   description="a fixed lab-like shift away from this simulator (sim/tabletop/reality.py)")
    settle_steps: int = Field(default=20, ge=0, le=1000)  # physics steps run after placing objects on reset
    layout_jitter: float | None = Field(
        default=None, ge=0.0, le=0.1,
        description="null: every context is a fresh random layout; a number (m): LIBERO-style, one fixed layout "
                    "shared by all tasks and each context moves every object by up to this much (tasks.jittered_scene)")
    layout: Literal["shared", "per_task"] = Field(
        default="shared",
        description="with layout_jitter: shared = one layout for every task (LIBERO-Goal style: only the instruction "
                    "tells tasks apart); per_task = each task its own fixed layout (LIBERO-90 style, tasks.task_layout)")
    gripper_jitter: float | None = Field(
        default=None, ge=0.0, le=0.1,
        description="with layout_jitter: null = the gripper starts anywhere in its start box (+-4 cm, +-0.3 rad "
                    "yaw); a number (m) = LIBERO-style, the layout's one start pose moved by up to this in x, y, z "
                    "(and the yaw by up to 10 rad/m times this: 0.1 rad at 0.01)")
    max_steps: int | None = Field(
        default=None, ge=1, le=10_000,
        description="episode limit in env steps for every task; null = each task's own limit (tasks.TASKS). "
                    "A shorter limit ends hopeless episodes sooner (the scripted pick expert needs <= 40 of 60)")

    @model_validator(mode="after")
    def _gripper_jitter_needs_layout(self) -> TabletopConfig:
        if self.gripper_jitter is not None and self.layout_jitter is None:
            raise ValueError("gripper_jitter: needs layout_jitter (the shared layout holds the gripper's start pose)")
        if self.layout != "shared" and self.layout_jitter is None:
            raise ValueError(f"layout: {self.layout!r} needs layout_jitter (null draws a fresh random layout per context)")
        return self

    def episode_limit(self, task_limit: int) -> int:
        """The episode limit of a task whose own limit is ``task_limit``: ``max_steps`` replaces it when set."""
        return self.max_steps or task_limit
