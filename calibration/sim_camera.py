"""Calibrated camera -> MuJoCo camera: pose, field of view and (optionally) exact intrinsics.

Pure functions, no MuJoCo import: the simulator applies the numbers. Frames:

- OpenCV / ROS optical frame (what calibration gives): x right, y down, z forward.
- MuJoCo camera frame: x right, y up, looking along -z. So ``R_mujoco = R_optical @ diag(1, -1, -1)``.

``T_parent_cam`` is the camera's optical-frame pose in the frame of the MuJoCo body it belongs to:
the world (a fixed camera: hand-eye eye-to-hand gives ``T_base_cam``, compose with the robot base's
pose in the sim world) or the gripper body (a wrist camera: eye-in-hand gives ``T_gripper_cam``).

MuJoCo cameras have square pixels and a centred principal point when set by ``fovy`` alone; since
MuJoCo 3.x a camera can also take ``resolution``, ``focalpixel``, ``principalpixel`` and
``sensorsize``, which reproduce ``fx != fy`` and an off-centre principal point exactly. Both are
returned; lens distortion has no MuJoCo counterpart (render, then distort, if it matters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.rotations import quat_from_matrix
from robot_rl.robot.image_fit import fit_intrinsics

_OPTICAL_TO_MUJOCO = np.diag([1.0, -1.0, -1.0])
_PIXEL_PITCH_M = 1e-5  # sensorsize only fixes units: any pitch gives the same image


@dataclass(frozen=True)
class MujocoCamera:
    """A MuJoCo camera's attributes for an image of ``resolution = (W, H)`` pixels."""

    pos: tuple[float, float, float]
    quat_wxyz: tuple[float, float, float, float]  # MuJoCo order
    xyaxes: tuple[float, float, float, float, float, float]
    fovy_deg: float
    resolution: tuple[int, int]
    focalpixel: tuple[float, float]
    principalpixel: tuple[float, float]  # MuJoCo's offset of the frustum from the image centre [px]
    sensorsize: tuple[float, float]

    def xml_attributes(self, exact_intrinsics: bool = False) -> dict[str, str]:
        """Attributes for ``<camera .../>``: pose plus ``fovy``, or plus the exact intrinsic attributes."""
        f = lambda v: " ".join(f"{x:.9g}" for x in v)
        attrs = {"pos": f(self.pos), "quat": f(self.quat_wxyz)}
        if exact_intrinsics:
            attrs.update(
                resolution=f(self.resolution),
                focalpixel=f(self.focalpixel),
                principalpixel=f(self.principalpixel),
                sensorsize=f(self.sensorsize),
            )
        else:
            attrs["fovy"] = f"{self.fovy_deg:.9g}"
        return attrs


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """``K`` for the image resized from ``(W, H)`` to ``(W', H')`` (pixel centres at integer coordinates)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    K = np.asarray(K, dtype=np.float64).copy()
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def mujoco_camera(
    K: np.ndarray, calib_size: tuple[int, int], T_parent_cam: np.ndarray, image_size: tuple[int, int] | None = None
) -> MujocoCamera:
    """The MuJoCo camera that sees what the calibrated camera sees, rendered at ``image_size``.

    ``K``: intrinsics for images of ``calib_size = (W, H)``. ``image_size``: the simulator's render
    size (default: ``calib_size``). The real frame reaches the policy fitted to that size by the policy
    node (centre crop to its aspect, then area resize: ``robot_rl.robot.image_fit``), so the intrinsics
    get the same crop and scale (:func:`~robot_rl.robot.image_fit.fit_intrinsics`). ``fovy`` is the
    vertical field of view of the cropped frame, ``2 atan(h_crop / (2 fy))``, unchanged by resizing.
    """
    T = np.asarray(T_parent_cam, dtype=np.float64)
    if T.shape != (4, 4) or not np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6):
        raise ValueError("T_parent_cam must be a 4x4 rigid transform")
    image_size = tuple(image_size or calib_size)
    Ks = fit_intrinsics(K, calib_size, image_size)
    W, H = image_size
    R = T[:3, :3] @ _OPTICAL_TO_MUJOCO
    x, y, z, w = quat_from_matrix(R)
    fovy = math.degrees(2.0 * math.atan(H / (2.0 * float(Ks[1, 1]))))
    # MuJoCo shifts the frustum by principalpixel (x right, y up): cx = (W-1)/2 - px, cy = (H-1)/2 - py.
    principal = ((W - 1) / 2.0 - Ks[0, 2], (H - 1) / 2.0 - Ks[1, 2])
    return MujocoCamera(
        pos=tuple(float(v) for v in T[:3, 3]),
        quat_wxyz=(float(w), float(x), float(y), float(z)),
        xyaxes=tuple(float(v) for v in np.concatenate([R[:, 0], R[:, 1]])),
        fovy_deg=fovy,
        resolution=(int(W), int(H)),
        focalpixel=(float(Ks[0, 0]), float(Ks[1, 1])),
        principalpixel=(float(principal[0]), float(principal[1])),
        sensorsize=(W * _PIXEL_PITCH_M, H * _PIXEL_PITCH_M),
    )
