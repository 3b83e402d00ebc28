"""Joint position, step and velocity limits for joint-space commands (the joint twin of the workspace box).

The executor's ``joint_limits`` parameters give, in joint order, each joint's position range and
how far it may move per control step and per second. A single step or speed value applies to every
joint. :meth:`JointLimits.bounds` checks them against the commanded joints and returns
:class:`JointBounds`, the per-joint arrays the trajectory planner uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError


class JointLimits(StrictConfig):
    """Hard joint limits for ``command_type: joint_trajectory`` (all in radians, joint order)."""

    position_low: list[float] = Field(default=[], description="lower position limit per joint [rad], in joint "
                                                               "order; required for command_type joint_trajectory")
    position_high: list[float] = Field(default=[], description="upper position limit per joint [rad], in joint order")
    max_step_rad: list[float] = Field(default=[0.05], min_length=1,
                                      description="largest change of a joint per control step [rad]; "
                                                  "one value for every joint, or one per joint")
    max_speed_rad_s: list[float] = Field(default=[0.5], min_length=1,
                                         description="largest joint speed [rad/s]; one value for every joint, "
                                                     "or one per joint")

    @model_validator(mode="after")
    def _consistent(self) -> JointLimits:
        for name in ("position_low", "position_high", "max_step_rad", "max_speed_rad_s"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"{name} {getattr(self, name)} must be finite")
            if name.startswith("max_") and not np.all(values > 0):
                raise ValueError(f"{name} {getattr(self, name)} must be positive")
        if len(self.position_low) != len(self.position_high):
            raise ValueError(f"position_low has {len(self.position_low)} values, position_high "
                             f"{len(self.position_high)}; give one of each per joint")
        if not np.all(np.asarray(self.position_low) < np.asarray(self.position_high)):
            raise ValueError(f"position_low {self.position_low} must be below position_high {self.position_high} "
                             "for every joint")
        return self

    def bounds(self, joint_names: list[str] | tuple[str, ...], field: str = "joint_limits") -> JointBounds:
        """Per-joint arrays for ``joint_names``; :class:`ConfigError` naming the field when a length is wrong."""
        n = len(joint_names)
        if len(self.position_low) != n:
            raise ConfigError(f"{field}.position_low/position_high: {len(self.position_low)} values for {n} joints "
                              f"({', '.join(joint_names)}); command_type joint_trajectory needs one position range "
                              "per joint")

        def per_joint(name: str) -> np.ndarray:
            values = getattr(self, name)
            if len(values) not in (1, n):
                raise ConfigError(f"{field}.{name}: {len(values)} values for {n} joints; give one for every joint "
                                  f"or one per joint")
            return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()

        return JointBounds(tuple(joint_names), np.asarray(self.position_low, dtype=np.float64),
                           np.asarray(self.position_high, dtype=np.float64), per_joint("max_step_rad"),
                           per_joint("max_speed_rad_s"))


@dataclass(frozen=True)
class JointBounds:
    """Resolved limits, one entry per commanded joint.

    ``low``/``high``: position range [rad]; ``max_step``: per control step [rad]; ``max_speed`` [rad/s].
    """

    names: tuple[str, ...]
    low: np.ndarray        # (J,)
    high: np.ndarray       # (J,)
    max_step: np.ndarray   # (J,)
    max_speed: np.ndarray  # (J,)

    def step_caps(self, dt: float) -> np.ndarray:
        """Largest change per joint in one step of ``dt`` seconds: ``min(max_step, max_speed * dt)`` (J,)."""
        return np.minimum(self.max_step, self.max_speed * dt)

    def contains(self, positions: np.ndarray, tol: float = 1e-9) -> bool:
        """True when every joint of ``positions`` (J,) lies within its position limits."""
        return bool(np.all(positions >= self.low - tol) and np.all(positions <= self.high + tol))

    def outside(self, positions: np.ndarray, tol: float = 1e-9) -> list[str]:
        """Names of the joints of ``positions`` (J,) outside their limits."""
        bad = (positions < self.low - tol) | (positions > self.high + tol)
        return [name for name, b in zip(self.names, bad) if b]
