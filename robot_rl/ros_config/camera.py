"""Parameters of ``camera_node`` (one node per camera)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from robot_rl.config import StrictConfig

_TOPIC_PATTERN = r"^/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$"


class CameraNodeConfig(StrictConfig):
    """One camera: where frames come from, how they are published, and how failures are retried."""

    camera_name: str = Field(default="camera", pattern=_TOPIC_PATTERN,
                             description="topic prefix: publishes <camera_name>/image_raw and /camera_info")
    source: Literal["realsense", "opencv", "software"] = Field(
        default="realsense",
        description="realsense: pyrealsense2 pipeline; opencv: V4L2/OpenCV camera; "
                    "software: pyrealsense2 software_device test pattern (tests, no hardware)")
    serial: str = Field(default="", description="RealSense serial number; empty = the first camera found")
    device: str = Field(default="0", description="OpenCV camera index or device path, e.g. /dev/video2")
    width: int = Field(default=640, gt=0, le=4096, description="image width [px]")
    height: int = Field(default=480, gt=0, le=4096, description="image height [px]")
    fps: int = Field(default=30, gt=0, le=300, description="frame rate requested from the camera [Hz]")
    enable_depth: bool = Field(default=False,
                               description="also publish depth aligned to colour (RealSense/software only)")
    exposure_us: float = Field(default=0.0, ge=0.0, le=1e6,
                               description="fixed exposure [us]; 0 keeps auto exposure")
    frame_id: str = Field(default="", description="header frame_id; empty = <camera_name>_optical_frame")
    calibration_file: str = Field(default="",
                                  description="ROS camera_info YAML; empty = intrinsics reported by the source")
    qos: Literal["sensor_data", "reliable"] = Field(
        default="sensor_data", description="image QoS: sensor_data (best effort, keep last 5) or reliable")
    read_timeout_ms: int = Field(default=1000, gt=0, le=60000,
                                 description="a frame wait longer than this counts as a source failure")
    reconnect_initial_s: float = Field(default=0.5, gt=0.0, le=60.0, description="first reconnect delay [s]")
    reconnect_max_s: float = Field(default=8.0, gt=0.0, le=600.0, description="reconnect delay cap [s] (doubles)")
    diagnostics_period_s: float = Field(default=1.0, gt=0.0, le=60.0, description="diagnostics publish period [s]")
    software_fail_after: int = Field(default=0, ge=0,
                                     description="software source only: stop delivering after this many frames "
                                                 "(fault injection for reconnect tests); 0 = never")

    @model_validator(mode="after")
    def _check(self) -> CameraNodeConfig:
        if self.reconnect_initial_s > self.reconnect_max_s:
            raise ValueError(f"reconnect_initial_s ({self.reconnect_initial_s}) must not exceed "
                             f"reconnect_max_s ({self.reconnect_max_s})")
        if self.enable_depth and self.source == "opencv":
            raise ValueError("enable_depth needs source 'realsense' or 'software'; OpenCV cameras give colour only")
        return self

    @property
    def resolved_frame_id(self) -> str:
        return self.frame_id or f"{self.camera_name.strip('/').replace('/', '_')}_optical_frame"
