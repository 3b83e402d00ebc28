"""The ROS camera_info YAML (the format of camera_calibration / camera_info_manager).

Written by ``robot-rl calibrate intrinsics``; read by camera_node through :func:`load_camera_info`,
which validates it and returns ``K``, ``D``, the image size, and the fields of a
``sensor_msgs/CameraInfo`` message (lower-case ROS 2 names: ``k``, ``d``, ``r``, ``p``)::

    image_width: 640
    image_height: 480
    camera_name: agentview
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx', 0, cx', 0, 0, fy', cy', 0, 0, 0, 1, 0]}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from calibration.atomic_write import write_yaml_atomic
from robot_rl.config import StrictConfig, load_yaml, validate_config

_DISTORTION_SIZES = {"plumb_bob": (5,), "rational_polynomial": (8,), "equidistant": (4,)}


class MatrixEntry(StrictConfig):
    """A row-major matrix as ROS writes it."""

    rows: int = Field(gt=0)
    cols: int = Field(gt=0)
    data: list[float]

    @model_validator(mode="after")
    def _size_matches(self) -> MatrixEntry:
        if len(self.data) != self.rows * self.cols:
            raise ValueError(
                f"data has {len(self.data)} values; rows x cols = {self.rows} x {self.cols} "
                f"needs {self.rows * self.cols}"
            )
        if not all(math.isfinite(v) for v in self.data):
            raise ValueError("data has NaN or infinite values")
        return self

    def array(self) -> np.ndarray:
        return np.asarray(self.data, dtype=np.float64).reshape(self.rows, self.cols)


class CameraInfoFile(StrictConfig):
    """Schema of the camera_info YAML; unknown keys and wrong matrix shapes are errors."""

    image_width: int = Field(gt=0, le=16384)
    image_height: int = Field(gt=0, le=16384)
    camera_name: str = "camera"
    camera_matrix: MatrixEntry
    distortion_model: Literal["plumb_bob", "rational_polynomial", "equidistant"] = "plumb_bob"
    distortion_coefficients: MatrixEntry
    rectification_matrix: MatrixEntry
    projection_matrix: MatrixEntry

    @model_validator(mode="after")
    def _shapes(self) -> CameraInfoFile:
        expect = {"camera_matrix": (3, 3), "rectification_matrix": (3, 3), "projection_matrix": (3, 4)}
        for name, shape in expect.items():
            m = getattr(self, name)
            if (m.rows, m.cols) != shape:
                raise ValueError(f"{name} must be {shape[0]}x{shape[1]}, got {m.rows}x{m.cols}")
        n = len(self.distortion_coefficients.data)
        if (n,) != _DISTORTION_SIZES[self.distortion_model]:
            raise ValueError(
                f"distortion_model {self.distortion_model} needs "
                f"{_DISTORTION_SIZES[self.distortion_model][0]} coefficients, got {n}"
            )
        K = self.camera_matrix.array()
        if K[0, 0] <= 0 or K[1, 1] <= 0 or K[2, 2] != 1.0:
            raise ValueError(
                f"camera_matrix must have fx, fy > 0 and a last row [0, 0, 1], got {self.camera_matrix.data}"
            )
        return self


@dataclass(frozen=True)
class CameraInfo:
    """A loaded calibration: ``K (3, 3)``, ``D (n,)``, ``size = (W, H)``, rectification ``R`` and projection ``P``."""

    K: np.ndarray
    D: np.ndarray
    size: tuple[int, int]
    camera_name: str
    distortion_model: str
    R: np.ndarray
    P: np.ndarray

    @property
    def msg(self) -> dict[str, Any]:
        """Field values for a ``sensor_msgs/msg/CameraInfo`` (all but the header): ``CameraInfo(**info.msg)``."""
        return {
            "width": int(self.size[0]),
            "height": int(self.size[1]),
            "distortion_model": self.distortion_model,
            "d": [float(v) for v in self.D],
            "k": [float(v) for v in self.K.ravel()],
            "r": [float(v) for v in self.R.ravel()],
            "p": [float(v) for v in self.P.ravel()],
        }


def load_camera_info(path: str | Path) -> CameraInfo:
    """Read and validate a camera_info YAML; bad files raise ``ConfigError`` naming the field."""
    data = validate_config(CameraInfoFile, load_yaml(path), str(path))
    return CameraInfo(
        K=data.camera_matrix.array(),
        D=np.asarray(data.distortion_coefficients.data, dtype=np.float64),
        size=(data.image_width, data.image_height),
        camera_name=data.camera_name,
        distortion_model=data.distortion_model,
        R=data.rectification_matrix.array(),
        P=data.projection_matrix.array(),
    )


def camera_info_dict(
    K: np.ndarray, D: np.ndarray, size: tuple[int, int], camera_name: str = "camera"
) -> dict[str, Any]:
    """The camera_info YAML mapping for a monocular camera.

    The projection matrix is the one ROS's camera_calibration writes for a monocular camera: the
    undistorted (rectified) image's camera, ``getOptimalNewCameraMatrix`` with ``alpha = 0``
    (only valid pixels), so image_proc rectification matches ROS tools.
    """
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    D = np.asarray(D, dtype=np.float64).reshape(-1)
    if len(D) != 5:
        raise ValueError(f"plumb_bob needs 5 distortion coefficients, got {len(D)}")
    newK, _ = cv2.getOptimalNewCameraMatrix(K, D, tuple(size), 0.0)
    P = np.hstack([newK, np.zeros((3, 1))])

    def matrix(m: np.ndarray) -> dict[str, Any]:
        m = np.atleast_2d(m)
        return {"rows": int(m.shape[0]), "cols": int(m.shape[1]), "data": [float(v) for v in m.ravel()]}

    return {
        "image_width": int(size[0]),
        "image_height": int(size[1]),
        "camera_name": camera_name,
        "camera_matrix": matrix(K),
        "distortion_model": "plumb_bob",
        "distortion_coefficients": matrix(D[None, :]),
        "rectification_matrix": matrix(np.eye(3)),
        "projection_matrix": matrix(P),
    }


def write_camera_info(
    path: str | Path, K: np.ndarray, D: np.ndarray, size: tuple[int, int], camera_name: str = "camera"
) -> None:
    """Write the camera_info YAML atomically (a half-written calibration must never be loaded)."""
    path = Path(path)
    data = camera_info_dict(K, D, size, camera_name)
    validate_config(CameraInfoFile, data, str(path))  # what we write must load
    write_yaml_atomic(path, data)
