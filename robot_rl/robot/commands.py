"""Robot commands -> env actions in spec units: how the sim robot obeys the action executor.

The executor sends either a target pose (PoseStamped, base frame) or a twist (TwistStamped, base
frame) plus a gripper value in [-1 close, +1 open]. The sim robot's env takes end-effector
*deltas* per control step, so each control tick it converts:

- pose target ``(p*, q*)`` from current ``(p, q)``:  ``dpos = p* - p``,
  ``drot = rotvec(q* q^-1)`` (world-frame rotation, the executor's and the tabletop env's convention);
  a position-controlled robot keeps tracking its last target, so the same target keeps producing
  the remaining delta until it is reached;
- twist ``(v, w)``: ``dpos = v * dt``, ``drot = w * dt`` (dt = the control period); a twist expires
  like MoveIt Servo's command timeout;
- gripper: the last commanded value (holds when none arrives).

Action dimensions are matched by name: ``dx dy dz`` (position), ``drx dry drz`` (rotation),
``gripper``; a spec may use a subset (point_reach has ``dx dy``). The result is clipped to the
spec's limits, as the env would.
"""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.rotations import quat_conj, quat_mul, quat_normalize, quat_to_rotvec
from robot_rl.spec import EmbodimentSpec

_DELTA_INDEX = {"dx": 0, "dy": 1, "dz": 2, "drx": 3, "dry": 4, "drz": 5}


def check_commandable(spec: EmbodimentSpec) -> None:
    """Raise :class:`ConfigError` unless every action dimension is one the commands can drive."""
    allowed = [*_DELTA_INDEX, "gripper"]
    unknown = [a.name for a in spec.action if a.name not in allowed]
    if unknown:
        raise ConfigError(f"spec '{spec.name}': action dimensions {unknown} cannot be driven by pose/twist "
                          f"commands; allowed names: {', '.join(allowed)}")


def _to_action(spec: EmbodimentSpec, delta6: np.ndarray, gripper: float) -> np.ndarray:
    out = np.array([delta6[_DELTA_INDEX[a.name]] if a.name in _DELTA_INDEX else gripper for a in spec.action])
    return np.clip(out, spec.action_low, spec.action_high).astype(np.float32)  # (A,)


def pose_target_to_action(spec: EmbodimentSpec, position: np.ndarray, quaternion: np.ndarray,
                          target_position: np.ndarray, target_quaternion: np.ndarray, gripper: float) -> np.ndarray:
    """Delta action (A,) that moves the current pose towards the target pose (clipped to the spec)."""
    dpos = np.asarray(target_position, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    drot = quat_to_rotvec(quat_mul(quat_normalize(target_quaternion), quat_conj(quat_normalize(quaternion))))
    return _to_action(spec, np.concatenate([dpos, drot]), gripper)


def twist_to_action(spec: EmbodimentSpec, linear: np.ndarray, angular: np.ndarray, dt: float,
                    gripper: float) -> np.ndarray:
    """Delta action (A,) of holding twist (linear [m/s], angular [rad/s]) for ``dt`` seconds."""
    delta = np.concatenate([np.asarray(linear, dtype=np.float64), np.asarray(angular, dtype=np.float64)]) * dt
    return _to_action(spec, delta, gripper)


def hold_action(spec: EmbodimentSpec, gripper: float) -> np.ndarray:
    """Zero motion, gripper held (A,)."""
    return _to_action(spec, np.zeros(6), gripper)
