"""The frame-source interface camera_node reads from (the factory that picks one: ``sources.py``).

A source is opened, read until it fails, closed and reopened by the node (with backoff); it
never retries on its own. Every failure is a :class:`SourceError` with a message for the log.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from robot_rl.ros_config.camera import CameraNodeConfig
from robot_rl.ros_config.camera_info import CameraCalibration


class SourceError(RuntimeError):
    """The camera is gone, timed out or cannot be configured as asked."""


@dataclass
class Frame:
    """One capture. ``color`` (H, W, 3) uint8 RGB; ``depth`` (H, W) uint16 [mm] aligned to colour or None.

    ``capture_time_ns`` is the host-clock (``time.time_ns``) capture time when the device
    reports one, else None and the node stamps at receipt.
    """

    color: np.ndarray
    depth: np.ndarray | None
    frame_number: int
    capture_time_ns: int | None = None


class FrameSource(abc.ABC):
    """A camera: ``open()``, then ``read()`` until it raises, then ``close()``."""

    def __init__(self, config: CameraNodeConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def open(self) -> None:
        """Connect and start streaming; raise :class:`SourceError` when the camera is not there."""

    @abc.abstractmethod
    def read(self) -> Frame:
        """The next frame; raise :class:`SourceError` after ``config.read_timeout_ms`` without one."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop streaming and release the device; safe to call twice or after a failed open."""

    def calibration(self) -> CameraCalibration | None:
        """Intrinsics reported by the device (valid after ``open``), or None when it has none."""
        return None
