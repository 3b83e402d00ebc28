"""Any camera OpenCV can open (V4L2 devices by index or path, or a video file for tests)."""

from __future__ import annotations

import time

import cv2
import numpy as np

from ros_nodes.camera.frame import Frame, FrameSource, SourceError


class OpenCVSource(FrameSource):
    """``cv2.VideoCapture`` on ``config.device``; BGR frames are converted to RGB."""

    def open(self) -> None:
        c = self.config
        device: int | str = int(c.device) if c.device.isdigit() else c.device
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"OpenCV cannot open camera {c.device!r}")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
        self._cap.set(cv2.CAP_PROP_FPS, c.fps)
        if c.exposure_us > 0:
            # V4L2: 1 = manual exposure; CAP_PROP_EXPOSURE is in 100 us units for most UVC cameras.
            self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)
            self._cap.set(cv2.CAP_PROP_EXPOSURE, c.exposure_us / 100.0)
        self._count = 0

    def read(self) -> Frame:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceError(f"OpenCV camera {self.config.device!r} returned no frame")
        stamp = time.time_ns()
        if bgr.shape[:2] != (self.config.height, self.config.width):
            # Cameras silently pick the nearest mode; the published size must be the configured one.
            bgr = cv2.resize(bgr, (self.config.width, self.config.height), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])  # (H, W, 3) RGB
        self._count += 1
        return Frame(color=rgb, depth=None, frame_number=self._count, capture_time_ns=stamp)

    def close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None
