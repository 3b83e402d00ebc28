"""Joint-space action chunks -> safe joint trajectories (pure numpy; the node builds the message).

A **joint-space action layout** is one ``rad`` dimension per joint, in joint order, optionally
followed by one ``normalized`` gripper dimension (``[-1 close, +1 open]``). Each joint value is a
**position delta per control step** [rad] (the same convention as the end-effector deltas: action
``i`` moves the arm from where action ``i-1`` left it). The built-in spec ``arm7_joint`` is one.
An end-effector delta layout (``m m m rad rad rad``) is not joint space: turning it into joint
positions needs the robot's inverse kinematics, which robot_rl does not have.

:func:`plan_joint_trajectory` turns the actions ``i..i+m-1`` of a chunk and the measured joint
positions ``q`` into ``m`` trajectory points (``trajectory_msgs/JointTrajectory`` data), in this
order, per action:

1. reject NaN/inf anywhere (:data:`Reason.NONFINITE`); refuse when a joint is already outside
   its position limits (:data:`Reason.OUTSIDE_JOINT_LIMITS`): stepping back in may be a jump the
   limits were meant to prevent (as the workspace box does for poses);
2. clip the deltas to the spec's per-dimension limits;
3. scale the whole delta down so no joint moves more than ``min(max_step, max_speed * dt)``
   (one factor for all joints: the step keeps its direction in joint space, as the end-effector
   clamp keeps the direction of a translation);
4. add it to the previous point (``q`` for the first) and clip into the position limits.

Point ``k`` is reached at ``time_from_start = (k + 1) * dt``. Each point is at most one step
cap from the one before, so the whole trajectory respects the speed limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.safety.joint_limits import JointBounds
from robot_rl.safety.refusals import Reason
from robot_rl.spec import EmbodimentSpec


@dataclass(frozen=True)
class JointActionLayout:
    """Where the joints and the gripper sit in a joint-space action vector (A,)."""

    joint_names: tuple[str, ...]  # the spec's names of the joint dimensions (dims 0..J-1), the default joint names
    gripper_dim: int | None        # index of the gripper dimension, None without one

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)


def joint_action_layout(spec: EmbodimentSpec) -> JointActionLayout:
    """The joint-space layout of ``spec``'s action, or :class:`ConfigError` saying why it is not one."""
    units = [a.unit for a in spec.action]
    gripper = len(units) - 1 if units[-1] == "normalized" else None
    arm = units if gripper is None else units[:-1]
    if not arm or any(u != "rad" for u in arm):
        hint = (" They are an end-effector delta: turning one into joint positions needs the robot's inverse "
                "kinematics (IK), which robot_rl does not have; use command_type pose or twist (MoveIt Servo "
                "does the IK)" if units[:3] == ["m", "m", "m"] else "")
        raise ConfigError(f"command_type 'joint_trajectory': spec '{spec.name}' action units {units} are not joint "
                          f"space (one 'rad' position delta per joint, then an optional 'normalized' gripper)."
                          f"{hint}")
    return JointActionLayout(tuple(a.name for a in spec.action[: len(arm)]), gripper)


@dataclass
class JointPlan:
    """Safe trajectory points, or the reason there are none.

    ``positions`` (m, J) [rad] are the points, ``time_from_start`` (m,) [s] when each is to be
    reached; ``gripper`` is the first action's clipped gripper value (None without a gripper);
    ``clamps`` lists (once each) what was changed to make the trajectory safe.
    """

    refused: Reason | None = None
    detail: str = ""
    positions: np.ndarray | None = None
    time_from_start: np.ndarray | None = None
    gripper: float | None = None
    clamps: list[Reason] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused is None


def plan_joint_trajectory(
    current: np.ndarray,
    actions: np.ndarray,
    layout: JointActionLayout,
    dt: float,
    bounds: JointBounds,
    action_low: np.ndarray | None = None,
    action_high: np.ndarray | None = None,
) -> JointPlan:
    """Turn ``actions`` (m, A) of a joint-space chunk, starting at joint positions ``current`` (J,), into a plan.

    :param dt: control period [s]: the spacing of the points and, through ``bounds``, the step caps.
    :param action_low, action_high: the spec's per-dimension limits (A,), clipped to first.
    """
    actions = np.atleast_2d(np.asarray(actions, dtype=np.float64))  # (m, A)
    current = np.asarray(current, dtype=np.float64)  # (J,)
    n = layout.n_joints
    if current.shape != (n,) or actions.shape[1] < n:
        raise ValueError(f"expected {n} joint positions and actions with >= {n} values, got {current.shape} and "
                         f"{actions.shape}")
    if not (np.all(np.isfinite(actions)) and np.all(np.isfinite(current))):
        return JointPlan(refused=Reason.NONFINITE, detail="NaN/inf in the actions or joint positions")
    outside = bounds.outside(current)
    if outside:
        return JointPlan(refused=Reason.OUTSIDE_JOINT_LIMITS,
                         detail=f"joints {', '.join(outside)} outside their limits")

    clamps: list[Reason] = []
    if action_low is not None and action_high is not None:
        clipped = np.clip(actions, action_low, action_high)
        if not np.array_equal(clipped, actions):
            clamps.append(Reason.CLAMP_SPEC_LIMITS)
        actions = clipped
    deltas = actions[:, :n]  # (m, J)
    caps = bounds.step_caps(dt)  # (J,)
    # One factor per step: the largest over-cap ratio of any joint brings every joint down with it.
    ratio = np.max(np.abs(deltas) / caps, axis=1)  # (m,)
    scale = np.where(ratio > 1.0, 1.0 / np.maximum(ratio, 1e-300), 1.0)
    if np.any(ratio > 1.0):
        clamps.append(Reason.CLAMP_JOINT_STEP)
    deltas = deltas * scale[:, None]

    positions = np.empty_like(deltas)  # (m, J)
    q = current
    for k, d in enumerate(deltas):
        target = q + d
        q = np.clip(target, bounds.low, bounds.high)
        if not np.array_equal(q, target) and Reason.CLAMP_JOINT_LIMITS not in clamps:
            clamps.append(Reason.CLAMP_JOINT_LIMITS)
        positions[k] = q
    gripper = float(actions[0, layout.gripper_dim]) if layout.gripper_dim is not None else None
    times = dt * np.arange(1, len(positions) + 1, dtype=np.float64)  # (m,)
    return JointPlan(positions=positions, time_from_start=times, gripper=gripper, clamps=clamps)
