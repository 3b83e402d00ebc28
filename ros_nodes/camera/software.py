"""A camera without hardware: pyrealsense2's ``software_device`` fed a test pattern, read through an
``rs.syncer`` and :func:`~ros_nodes.camera.realsense.frameset_to_frame`, i.e. the same frame
handling (sync, alignment, depth units, host timestamps) as a real RealSense.

The pattern is deterministic so tests can check pixels: colour ``(x + n) % 256, (y + n) % 256,
n % 256`` for frame ``n``, depth a constant ``1000 + n % 1000`` mm. ``software_fail_after``
stops the stream after that many frames of the first connection, simulating an unplugged camera.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pyrealsense2 as rs

from robot_rl.ros_config.camera_info import CameraCalibration
from ros_nodes.camera.realsense import frameset_to_frame, intrinsics_to_calibration
from ros_nodes.camera.frame import Frame, FrameSource, SourceError


def test_pattern(n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``n`` of the pattern: colour (H, W, 3) uint8 and depth (H, W) uint16 [mm]."""
    y, x = np.mgrid[0:height, 0:width]
    color = np.stack([(x + n) % 256, (y + n) % 256, np.full_like(x, n % 256)], axis=-1).astype(np.uint8)
    depth = np.full((height, width), 1000 + n % 1000, dtype=np.uint16)
    return color, depth


class SoftwareDeviceSource(FrameSource):
    """Test-pattern frames pushed into a ``rs.software_device`` at ``fps`` by a background thread."""

    _connections = 0  # per process: fault injection only applies to the first connection

    def open(self) -> None:
        c = self.config
        intr = rs.intrinsics()
        intr.width, intr.height = c.width, c.height
        intr.fx = intr.fy = 0.8 * c.width
        intr.ppx, intr.ppy = c.width / 2.0, c.height / 2.0
        intr.model = rs.distortion.brown_conrady
        intr.coeffs = [0.0] * 5
        self._device = rs.software_device()
        depth_sensor = self._device.add_sensor("Depth")
        color_sensor = self._device.add_sensor("Color")
        self._depth_profile = depth_sensor.add_video_stream(self._stream(rs.stream.depth, 0, 2, rs.format.z16, intr))
        self._color_profile = color_sensor.add_video_stream(self._stream(rs.stream.color, 1, 3, rs.format.rgb8, intr))
        depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
        self._device.create_matcher(rs.matchers.dlr_c)
        extrinsics = rs.extrinsics()
        extrinsics.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        extrinsics.translation = [0.0, 0.0, 0.0]
        self._depth_profile.register_extrinsics_to(self._color_profile, extrinsics)
        self._syncer = rs.syncer()
        self._sensors = [color_sensor, depth_sensor] if c.enable_depth else [color_sensor]
        color_sensor.open(self._color_profile)
        if c.enable_depth:
            depth_sensor.open(self._depth_profile)
        for sensor in self._sensors:
            sensor.start(self._syncer)
        self._align = rs.align(rs.stream.color) if c.enable_depth else None
        self._calibration = intrinsics_to_calibration(intr)
        SoftwareDeviceSource._connections += 1
        limit = c.software_fail_after if SoftwareDeviceSource._connections == 1 else 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._generate, args=(limit,), daemon=True, name="software-camera")
        self._thread.start()

    def _stream(self, kind: rs.stream, uid: int, bpp: int, fmt: rs.format, intr: rs.intrinsics) -> rs.video_stream:
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid = kind, 0, uid
        vs.width, vs.height, vs.fps = self.config.width, self.config.height, self.config.fps
        vs.bpp, vs.fmt, vs.intrinsics = bpp, fmt, intr
        return vs

    def _push(self, sensor: rs.software_sensor, profile: rs.stream_profile, pixels: np.ndarray,
              bpp: int, n: int, t_ms: float) -> None:
        f = rs.software_video_frame()
        f.pixels = pixels
        f.bpp = bpp
        f.stride = self.config.width * bpp
        f.timestamp = t_ms
        f.domain = rs.timestamp_domain.global_time
        f.frame_number = n
        f.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(f)

    def _generate(self, limit: int) -> None:
        period = 1.0 / self.config.fps
        color_sensor = self._sensors[0]
        depth_sensor = self._sensors[1] if self.config.enable_depth else None
        keep: list[np.ndarray] = []  # the SDK may read pixel buffers after on_video_frame returns
        n = 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            if limit and n >= limit:
                self._stop.wait()  # "unplugged": deliver nothing more
                break
            color, depth = test_pattern(n, self.config.height, self.config.width)
            keep = [*keep[-4:], color, depth]
            t_ms = time.time() * 1000.0
            # Colour first, then depth: the syncer then emits one matched pair per frame number.
            self._push(color_sensor, self._color_profile, color, 3, n, t_ms)
            if depth_sensor is not None:
                self._push(depth_sensor, self._depth_profile, depth, 2, n, t_ms)
            n += 1
            next_t += period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def read(self) -> Frame:
        deadline = time.monotonic() + self.config.read_timeout_ms / 1000.0
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise SourceError(f"software camera gave no frame within {self.config.read_timeout_ms} ms")
            try:
                frames = self._syncer.wait_for_frames(remaining_ms)
            except RuntimeError:
                continue
            frame = frameset_to_frame(frames, self._align, 0.001)
            # With depth on, wait for the matched pair (the syncer may emit a lone first frame).
            if frame is not None and (self._align is None or frame.depth is not None):
                return frame

    def close(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is None:
            return
        stop.set()
        self._thread.join(timeout=2.0)
        for sensor in self._sensors:
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        self._stop = None

    def calibration(self) -> CameraCalibration | None:
        return getattr(self, "_calibration", None)
