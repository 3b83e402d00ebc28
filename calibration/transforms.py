"""Rigid transforms as 4x4 numpy matrices, and conversions to the forms files and OpenCV use.

Naming: ``T_a_b`` is the pose of frame ``b`` in frame ``a`` (it maps points from ``b`` to ``a``).
Quaternions are ``[x, y, z, w]`` (ROS / geometry_msgs order) unless a name says ``wxyz``; conversions
between quaternions and matrices live in :mod:`robot_rl.rotations`.
"""

from __future__ import annotations

import cv2
import numpy as np

from robot_rl.rotations import quat_from_matrix, quat_to_matrix


def make_T(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 transform from a 3x3 rotation and a translation of 3 values."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64).reshape(3, 3)
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def inv_T(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (cheaper and more exact than ``np.linalg.inv``)."""
    R, t = T[:3, :3], T[:3, 3]
    return make_T(R.T, -R.T @ t)


def rvec_to_R(rvec: np.ndarray) -> np.ndarray:
    """Axis-angle vector (radians) -> 3x3 rotation matrix."""
    return cv2.Rodrigues(np.asarray(rvec, dtype=np.float64).reshape(3, 1))[0]


def R_to_rvec(R: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix -> axis-angle vector (radians), shape (3,)."""
    return cv2.Rodrigues(np.asarray(R, dtype=np.float64))[0].reshape(3)


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle of a rotation matrix in degrees (robust near 0 and 180)."""
    c = (np.trace(R) - 1.0) / 2.0
    s = np.linalg.norm([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / 2.0
    return float(np.degrees(np.arctan2(s, c)))


def mean_rotation(Rs: np.ndarray) -> np.ndarray:
    """Chordal L2 mean of rotations ``(N, 3, 3)``: the rotation nearest to their arithmetic mean."""
    U, _, Vt = np.linalg.svd(np.mean(Rs, axis=0))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def pose_to_dict(T: np.ndarray) -> dict:
    """A transform as the YAML-friendly ``{position: [x,y,z], orientation: [x,y,z,w]}``."""
    return {"position": [float(v) for v in T[:3, 3]], "orientation": [float(v) for v in quat_from_matrix(T[:3, :3])]}


def pose_from_dict(d: dict) -> np.ndarray:
    """Inverse of :func:`pose_to_dict`."""
    return make_T(quat_to_matrix(d["orientation"]), d["position"])
