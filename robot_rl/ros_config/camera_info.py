"""Camera calibration in the ROS camera_info YAML format (as written by camera_calibration).

::

    image_width: 640
    image_height: 480
    camera_name: wrist
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}   # optional
    projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0]}  # optional
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig, load_yaml, validate_config


class Matrix(StrictConfig):
    """A row-major matrix as camera_info YAML writes it."""

    rows: int = Field(ge=1)
    cols: int = Field(ge=0)
    data: list[float]

    @model_validator(mode="after")
    def _size(self) -> Matrix:
        if len(self.data) != self.rows * self.cols:
            raise ValueError(f"data has {len(self.data)} values; rows * cols = {self.rows * self.cols}")
        return self


def _identity3() -> Matrix:
    return Matrix(rows=3, cols=3, data=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])


class CameraCalibration(StrictConfig):
    """Intrinsics of one camera; ``projection`` defaults to ``[K | 0]`` when the file has none."""

    image_width: int = Field(gt=0)
    image_height: int = Field(gt=0)
    camera_name: str = ""
    camera_matrix: Matrix
    distortion_model: str = "plumb_bob"
    distortion_coefficients: Matrix = Matrix(rows=1, cols=0, data=[])
    rectification_matrix: Matrix = Field(default_factory=_identity3)
    projection_matrix: Matrix | None = None

    @model_validator(mode="after")
    def _shapes(self) -> CameraCalibration:
        if (self.camera_matrix.rows, self.camera_matrix.cols) != (3, 3):
            raise ValueError("camera_matrix must be 3x3")
        if (self.rectification_matrix.rows, self.rectification_matrix.cols) != (3, 3):
            raise ValueError("rectification_matrix must be 3x3")
        if self.projection_matrix is not None and (self.projection_matrix.rows, self.projection_matrix.cols) != (3, 4):
            raise ValueError("projection_matrix must be 3x4")
        return self

    @property
    def k(self) -> list[float]:
        return list(self.camera_matrix.data)

    @property
    def d(self) -> list[float]:
        return list(self.distortion_coefficients.data)

    @property
    def r(self) -> list[float]:
        return list(self.rectification_matrix.data)

    @property
    def p(self) -> list[float]:
        if self.projection_matrix is not None:
            return list(self.projection_matrix.data)
        k = self.k
        return [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0]

    @classmethod
    def from_yaml(cls, path: str | Path) -> CameraCalibration:
        return validate_config(cls, load_yaml(path), str(path))

    @classmethod
    def from_intrinsics(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                        distortion: list[float] | None = None, model: str = "plumb_bob") -> CameraCalibration:
        """Build from pinhole intrinsics (what a RealSense reports)."""
        d = list(distortion or [])
        return cls(image_width=width, image_height=height,
                   camera_matrix=Matrix(rows=3, cols=3, data=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]),
                   distortion_model=model, distortion_coefficients=Matrix(rows=1, cols=len(d), data=d))
