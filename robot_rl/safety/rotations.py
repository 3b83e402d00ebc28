"""Quaternion and axis-angle arithmetic for end-effector deltas (numpy, no dependencies).

Quaternions are ``(x, y, z, w)`` like geometry_msgs/Quaternion; rotation vectors (axis-angle) are
``axis * angle`` in radians, the spec's ``drx, dry, drz`` convention.
"""

from __future__ import annotations

import numpy as np


def normalize_quat(q: np.ndarray) -> np.ndarray:
    """Unit quaternion with ``w >= 0`` (one representative per rotation); raises on a zero quaternion."""
    q = np.asarray(q, dtype=np.float64)
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"quaternion {q.tolist()} has no direction (norm {n})")
    q = q / n
    return -q if q[3] < 0 else q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` (apply ``b`` first, then ``a``)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ])


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion."""
    return np.array([-q[0], -q[1], -q[2], q[3]])


def rotvec_to_quat(v: np.ndarray) -> np.ndarray:
    """Axis-angle vector (rad) -> unit quaternion ``(x, y, z, w)``."""
    v = np.asarray(v, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    axis = v / angle
    return np.concatenate([axis * np.sin(angle / 2.0), [np.cos(angle / 2.0)]])


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> axis-angle vector with angle in [0, pi]."""
    q = normalize_quat(q)
    s = float(np.linalg.norm(q[:3]))
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, q[3])
    return q[:3] / s * angle
