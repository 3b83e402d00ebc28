"""Quaternion (w, x, y, z) and axis-angle helpers for the tabletop (MuJoCo conventions)."""

from __future__ import annotations

import mujoco
import numpy as np


def random_rotation_quat(rng: np.random.Generator, max_angle_rad: float) -> np.ndarray:
    """A quaternion (w, x, y, z) for a rotation about a random axis by up to ``max_angle_rad``."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis) + 1e-12
    angle = rng.uniform(-max_angle_rad, max_angle_rad)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (w, x, y, z)."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ])


def lookat_quat(pos: np.ndarray, lookat: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """Camera quaternion (w, x, y, z) looking from ``pos`` at ``lookat`` with ``up`` as image up."""
    f = np.asarray(lookat, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    if abs(np.dot(f, up)) > 0.999:  # looking straight along up: pick another up
        up = np.array([1.0, 0.0, 0.0])
    x = np.cross(f, up)
    x /= np.linalg.norm(x)
    z = -f  # MuJoCo cameras look along their -z axis
    y = np.cross(z, x)
    mat = np.stack([x, y, z], axis=1)  # columns are the camera axes in the parent frame
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.reshape(-1))
    return quat


def axis_angle_to_quat(v: np.ndarray) -> np.ndarray:
    """Quaternion of the rotation vector ``v`` (axis * angle [rad])."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * np.asarray(v) / angle])


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle [rad], angle <= pi) of the unit quaternion ``q``."""
    q = np.asarray(q, float)
    if q[0] < 0:  # the shorter of the two equivalent rotations
        q = -q
    out = np.zeros(3)
    mujoco.mju_quat2Vel(out, q, 1.0)
    return out


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of the unit quaternion ``q``."""
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(q, float))
    return mat.reshape(3, 3)
