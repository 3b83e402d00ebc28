"""MuJoCo's quaternions, ``(w, x, y, z)``: every name here says ``wxyz``.

MuJoCo stores orientations w-first (``data.xquat``, ``model.cam_quat``, ``data.mocap_quat``,
free-joint ``qpos``); the core's convention is ``(x, y, z, w)`` (:mod:`robot_rl.rotations`), and
:func:`~robot_rl.rotations.quat_wxyz_to_xyzw` / :func:`~robot_rl.rotations.quat_xyzw_to_wxyz`
convert at the boundary.

Why the tabletop keeps its own conversions: routing them through scipy (the core's) changes
results by float round-off (up to 9e-16 per call), and the closed loop of expert, contacts and
physics grows that to 1e-10 in actions within one episode (measured on 10 expert rollouts when
the conversions moved to the core), so recorded rollouts and figures would no longer be
bit-identical. The product is the core's :func:`~robot_rl.rotations.quat_mul` (bit-identical);
the rest is MuJoCo's own ``mju_*`` routines or the same formula as before.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.rotations import quat_mul, quat_wxyz_to_xyzw, quat_xyzw_to_wxyz


def quat_wxyz_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``(w, x, y, z)`` quaternions (apply ``b`` first)."""
    return quat_xyzw_to_wxyz(quat_mul(quat_wxyz_to_xyzw(a), quat_wxyz_to_xyzw(b)))


def quat_wxyz_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion) in ``(w, x, y, z)`` order."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def quat_wxyz_from_rotvec(v: np.ndarray) -> np.ndarray:
    """``(w, x, y, z)`` of the rotation vector ``v`` (axis * angle [rad]); ``w = cos(angle / 2)``."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * np.asarray(v) / angle])


def quat_wxyz_from_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """``(w, x, y, z)`` of a rotation by ``angle`` [rad] about the unit vector ``axis``."""
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * np.asarray(axis)])


def quat_wxyz_random(rng: np.random.Generator, max_angle_rad: float) -> np.ndarray:
    """``(w, x, y, z)`` of a rotation about a random axis by an angle uniform in ``[-max, max]`` rad."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis) + 1e-12
    angle = rng.uniform(-max_angle_rad, max_angle_rad)
    return quat_wxyz_from_axis_angle(axis, angle)


def quat_wxyz_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle [rad], angle <= pi) of the unit ``(w, x, y, z)`` quaternion ``q``."""
    q = np.asarray(q, float)
    if q[0] < 0:  # the shorter of the two equivalent rotations
        q = -q
    out = np.zeros(3)
    mujoco.mju_quat2Vel(out, q, 1.0)
    return out


def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of the unit ``(w, x, y, z)`` quaternion ``q``."""
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(q, float))
    return mat.reshape(3, 3)


def quat_wxyz_lookat(pos: np.ndarray, lookat: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """MuJoCo camera quaternion ``(w, x, y, z)`` looking from ``pos`` at ``lookat`` with ``up`` as image up."""
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
