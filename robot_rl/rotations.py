"""The core's one rotation convention: quaternions ``(x, y, z, w)``, rotation vectors, matrices.

Quaternions are ``(x, y, z, w)`` like geometry_msgs/Quaternion and scipy's ``Rotation.as_quat``.
A rotation vector (axis-angle) is ``axis * angle`` in radians, the embodiment spec's
``drx, dry, drz``. Matrices are 3x3 and rotate column vectors (``v_parent = R @ v_child``).

Conversions go through :class:`scipy.spatial.transform.Rotation` (it handles the small-angle and
180-degree cases); the Hamilton product and the conjugate are a few numpy lines because the safety
layer calls them every control step. Code that talks to MuJoCo, whose quaternions are ``(w, x, y,
z)``, converts at the boundary with :func:`quat_wxyz_to_xyzw` / :func:`quat_xyzw_to_wxyz` or uses
helpers whose names say ``wxyz`` (``sim/tabletop/mj_quat.py``).

Every function takes a single quaternion ``(4,)`` / vector ``(3,)`` / matrix ``(3, 3)`` or a
batch with leading dimensions (``(..., 4)`` and so on) and returns float64.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

_MIN_NORM = 1e-9  # below: no direction to normalise to (a zeroed message, not a rotation)


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` with ``w >= 0`` (one representative per rotation).

    Raises ValueError on a zero or non-finite quaternion, which is no rotation at all.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 1:  # the per-step case (safety layer, proprio): scalar arithmetic is ~5x faster
        n = float(np.linalg.norm(q))
        if not np.isfinite(n) or n < _MIN_NORM:
            raise ValueError(f"quaternion {q.tolist()} has no direction (norm {n})")
        q = q / n
        return -q if q[3] < 0 else q
    norms = np.linalg.norm(q, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms < _MIN_NORM):
        bad = ~np.isfinite(norms[..., 0]) | (norms[..., 0] < _MIN_NORM)
        raise ValueError(f"quaternion {q[bad][0].tolist()} has no direction (norm {norms[bad][0, 0]})")
    q = q / norms
    return np.where(q[..., 3:4] < 0, -q, q)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of ``(x, y, z, w)`` quaternions: apply ``b`` first, then ``a``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    single = a.ndim == b.ndim == 1  # the per-step case: unpacking to floats is ~3x faster than slicing
    ax, ay, az, aw = a if single else np.moveaxis(a, -1, 0)
    bx, by, bz, bw = b if single else np.moveaxis(b, -1, 0)
    parts = (aw * bx + ax * bw + ay * bz - az * by,
             aw * by - ax * bz + ay * bw + az * bx,
             aw * bz + ax * by - ay * bx + az * bw,
             aw * bw - ax * bx - ay * by - az * bz)
    return np.array(parts) if single else np.stack(parts, axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate ``(-x, -y, -z, w)``: the inverse of a unit quaternion."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def quat_from_rotvec(v: np.ndarray) -> np.ndarray:
    """Rotation vector ``axis * angle`` [rad] -> unit quaternion ``(x, y, z, w)``, ``w = cos(angle / 2)``.

    Angles above pi give ``w < 0`` (the same rotation as the short way round); pass the result
    through :func:`quat_normalize` for the ``w >= 0`` representative.
    """
    return Rotation.from_rotvec(np.asarray(v, dtype=np.float64)).as_quat()


def quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` (normalised here) -> rotation vector with angle in ``[0, pi]``."""
    return Rotation.from_quat(quat_normalize(q)).as_rotvec()


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` (normalised here; zero raises) -> rotation matrix ``(..., 3, 3)``."""
    return Rotation.from_quat(quat_normalize(q)).as_matrix()


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """Rotation matrix ``(..., 3, 3)`` -> unit quaternion ``(x, y, z, w)`` with ``w >= 0``."""
    return quat_normalize(Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat())


def quat_wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    """MuJoCo's ``(w, x, y, z)`` order -> ``(x, y, z, w)``."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def quat_xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    """``(x, y, z, w)`` -> MuJoCo's ``(w, x, y, z)`` order."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)
