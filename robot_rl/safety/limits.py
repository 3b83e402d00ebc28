"""Workspace box, per-step and velocity limits for end-effector delta actions (pure numpy).

An action is an end-effector delta in spec units: ``[dx, dy, dz, drx, dry, drz, (gripper)]``,
translation in metres and rotation as an axis-angle vector in radians, both expressed in the
robot base frame (the command frame). :func:`apply_ee_delta` turns one action and the current
pose into a safe target pose, in this order:

1. reject NaN/inf (:func:`check_finite`), clip to the spec's per-dimension limits;
2. clamp the translation norm to ``min(max_step_translation_m, max_linear_speed_m_s * dt)`` and
   the rotation angle to ``min(max_step_rotation_rad, max_angular_speed_rad_s * dt)``;
3. clip the target position into the workspace box. If the robot is already outside the box by more
   than ``outside_tolerance_m`` the step is refused (``outside_workspace``): stepping back in may be a
   jump the box was meant to prevent, so an operator brings the arm back. Within the tolerance the
   measured pose is taken as at the boundary: a task that works at the box's floor (a grasp at the
   table) reads a few mm below it whenever the pose sensor is noisy or biased, and refusing there
   stopped every grasp (a lab stand-in with 0.5 mm pose noise and a 2 mm bias: 0.90 -> 0.40 success).
   Targets are clipped into the box either way, so no command leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from robot_rl.safety.refusals import Reason
from robot_rl.rotations import quat_from_rotvec, quat_mul, quat_normalize


class SafetyLimits(StrictConfig):
    """Hard limits the executor enforces on every command, whatever the policy asks for."""

    workspace_low: list[float] = Field(default=[0.2, -0.4, 0.02], min_length=3, max_length=3,
                                       description="workspace box lower corner x, y, z [m] in the command frame")
    workspace_high: list[float] = Field(default=[0.8, 0.4, 0.6], min_length=3, max_length=3,
                                        description="workspace box upper corner x, y, z [m] in the command frame")
    max_step_translation_m: float = Field(default=0.03, gt=0.0, le=0.5,
                                          description="largest end-effector translation per control step [m]")
    max_step_rotation_rad: float = Field(default=0.2, gt=0.0, le=3.14159,
                                         description="largest end-effector rotation per control step [rad]")
    max_linear_speed_m_s: float = Field(default=0.25, gt=0.0, le=5.0,
                                        description="largest end-effector linear speed [m/s]")
    max_angular_speed_rad_s: float = Field(default=1.5, gt=0.0, le=20.0,
                                           description="largest end-effector angular speed [rad/s]")
    max_target_lead_m: float = Field(default=0.05, gt=0.0, le=0.5,
                                     description="largest distance a target may run ahead of the measured pose [m]: "
                                                 "further (the arm is blocked or far behind), the next delta adds "
                                                 "to the measured pose instead of the previous target")

    outside_tolerance_m: float = Field(default=0.01, ge=0.0, le=0.05,
                                       description="how far outside the box the *measured* pose may read before "
                                                   "commands are refused (pose noise and calibration bias at the "
                                                   "box's faces); targets are always clipped into the box [m]")

    @model_validator(mode="after")
    def _box_ordered(self) -> SafetyLimits:
        low, high = np.asarray(self.workspace_low), np.asarray(self.workspace_high)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise ValueError(f"workspace_low {self.workspace_low} must be finite and below workspace_high "
                             f"{self.workspace_high} on every axis")
        return self

    def step_caps(self, dt: float) -> tuple[float, float]:
        """Largest translation [m] and rotation [rad] allowed in one step of ``dt`` seconds."""
        return (min(self.max_step_translation_m, self.max_linear_speed_m_s * dt),
                min(self.max_step_rotation_rad, self.max_angular_speed_rad_s * dt))

    def contains(self, pos: np.ndarray, tol: float = 1e-9) -> bool:
        """True when ``pos`` (3,) lies inside the workspace box (grown by ``tol`` on every face)."""
        return bool(np.all(pos >= np.asarray(self.workspace_low) - tol) and
                    np.all(pos <= np.asarray(self.workspace_high) + tol))

    def may_command_from(self, measured: np.ndarray) -> bool:
        """True when a robot measured at ``measured`` (3,) is in the box, up to ``outside_tolerance_m``."""
        return self.contains(measured, self.outside_tolerance_m + 1e-9)


@dataclass
class StepOutcome:
    """A safe target, or the reason there is none.

    ``position`` (3,) [m] and ``orientation`` (4,) ``(x, y, z, w)`` are the target pose;
    ``gripper`` is the clipped gripper command or None when the action has no gripper dimension;
    ``clamps`` lists what was changed to make it safe.
    """

    refused: Reason | None = None
    position: np.ndarray | None = None
    orientation: np.ndarray | None = None
    gripper: float | None = None
    clamps: list[Reason] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused is None


def check_finite(values: np.ndarray) -> bool:
    """True when every value is finite (no NaN, no inf)."""
    return bool(np.all(np.isfinite(values)))


def _clamp_norm(v: np.ndarray, cap: float) -> tuple[np.ndarray, bool]:
    norm = float(np.linalg.norm(v))
    if norm <= cap:
        return v, False
    return v * (cap / norm), True


def apply_ee_delta(
    position: np.ndarray,
    orientation: np.ndarray,
    action: np.ndarray,
    dt: float,
    limits: SafetyLimits,
    action_low: np.ndarray | None = None,
    action_high: np.ndarray | None = None,
) -> StepOutcome:
    """Turn one EE-delta ``action`` (A,) at the current pose into a safe target pose.

    :param position: current end-effector position (3,) [m], command frame.
    :param orientation: current orientation quaternion (4,) ``(x, y, z, w)``.
    :param action: ``[dx, dy, dz, drx, dry, drz]`` plus an optional gripper value (A >= 6).
    :param dt: control period [s]; the velocity limits become per-step caps through it.
    :param action_low, action_high: the spec's per-dimension limits (A,), clipped to first.
    """
    action = np.asarray(action, dtype=np.float64)
    position = np.asarray(position, dtype=np.float64)
    if action.shape[0] < 6:
        raise ValueError(f"an end-effector delta action needs at least 6 values, got {action.shape[0]}")
    if not (check_finite(action) and check_finite(position) and check_finite(orientation)):
        return StepOutcome(refused=Reason.NONFINITE)
    try:
        current_q = quat_normalize(orientation)
    except ValueError:
        return StepOutcome(refused=Reason.BAD_POSE)
    if not limits.may_command_from(position):
        return StepOutcome(refused=Reason.OUTSIDE_WORKSPACE)

    clamps: list[Reason] = []
    if action_low is not None and action_high is not None:
        clipped = np.clip(action, action_low, action_high)
        if not np.array_equal(clipped, action):
            clamps.append(Reason.CLAMP_SPEC_LIMITS)
        action = clipped

    max_t, max_r = limits.step_caps(dt)
    dpos, hit_t = _clamp_norm(action[:3], max_t)
    drot, hit_r = _clamp_norm(action[3:6], max_r)
    if hit_t:
        clamps.append(Reason.CLAMP_TRANSLATION)
    if hit_r:
        clamps.append(Reason.CLAMP_ROTATION)

    target = position + dpos
    boxed = np.clip(target, limits.workspace_low, limits.workspace_high)
    if not np.array_equal(boxed, target):
        clamps.append(Reason.CLAMP_WORKSPACE)
    # Rotation deltas are applied in the base frame: q_target = exp(drot) * q_current.
    target_q = quat_normalize(quat_mul(quat_from_rotvec(drot), current_q))
    gripper = float(action[6]) if action.shape[0] > 6 else None
    return StepOutcome(position=boxed, orientation=target_q, gripper=gripper, clamps=clamps)
