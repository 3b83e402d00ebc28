"""The robot commands the executor decides, as plain arrays; ros_nodes.executor.commands makes messages of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.rotations import quat_conj, quat_mul, quat_to_rotvec


@dataclass(frozen=True)
class PoseCommand:
    """Target pose: position (3,) [m], orientation (4,) ``(x, y, z, w)``."""

    position: np.ndarray
    orientation: np.ndarray


@dataclass(frozen=True)
class TwistCommand:
    """Base-frame velocity: linear (3,) [m/s], angular (3,) [rad/s]."""

    linear: np.ndarray
    angular: np.ndarray


@dataclass(frozen=True)
class JointCommand:
    """Trajectory through ``positions`` (m, J) [rad]; point k reached ``time_from_start[k]`` s after it is sent."""

    positions: np.ndarray
    time_from_start: np.ndarray


Command = PoseCommand | TwistCommand | JointCommand


def twist_between(current_pos: np.ndarray, current_quat: np.ndarray, target_pos: np.ndarray,
                  target_quat: np.ndarray, dt: float) -> TwistCommand:
    """The constant twist that moves the current pose to the target in ``dt`` seconds (base frame)."""
    linear = (np.asarray(target_pos) - np.asarray(current_pos)) / dt
    angular = quat_to_rotvec(quat_mul(target_quat, quat_conj(current_quat))) / dt
    return TwistCommand(np.asarray(linear, dtype=np.float64), np.asarray(angular, dtype=np.float64))


def zero_twist() -> TwistCommand:
    """Zero velocity: an integrating controller (MoveIt Servo) stops instead of coasting."""
    return TwistCommand(np.zeros(3), np.zeros(3))


def describe(command: Command) -> str:
    """One line for logs, e.g. ``pose (0.500, 0.000, 0.300) quat (0.000, 0.000, 0.000, 1.000)``."""
    if isinstance(command, JointCommand):
        first = ", ".join(f"{v:.3f}" for v in command.positions[0]) if len(command.positions) else ""
        return f"joint trajectory of {len(command.positions)} point(s), first ({first})"
    if isinstance(command, PoseCommand):
        p, q = command.position, command.orientation
        return f"pose ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) quat ({q[0]:.3f}, {q[1]:.3f}, {q[2]:.3f}, {q[3]:.3f})"
    lin, ang = command.linear, command.angular
    return f"twist v ({lin[0]:.3f}, {lin[1]:.3f}, {lin[2]:.3f}) w ({ang[0]:.3f}, {ang[1]:.3f}, {ang[2]:.3f})"
