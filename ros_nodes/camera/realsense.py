"""Intel RealSense cameras through pyrealsense2: pipeline with serial selection, aligned depth,
fixed exposure. :func:`frameset_to_frame` is shared with the software-device source so tests
exercise the same frame handling as hardware.
"""

from __future__ import annotations

import logging

import numpy as np
import pyrealsense2 as rs

from robot_rl.ros_config.camera_info import CameraCalibration
from ros_nodes.camera.frame import Frame, FrameSource, SourceError

log = logging.getLogger(__name__)

# Timestamps in these domains are host-clock milliseconds, i.e. comparable with time.time().
_HOST_DOMAINS = (rs.timestamp_domain.global_time, rs.timestamp_domain.system_time)


def frameset_to_frame(frames: rs.composite_frame, align: rs.align | None, depth_scale_m: float) -> Frame | None:
    """Copy colour (and aligned depth, converted to millimetres) out of a frameset; None without colour."""
    if align is not None and frames.get_depth_frame() and frames.get_color_frame():
        frames = align.process(frames)
    color = frames.get_color_frame()
    if not color:
        return None
    rgb = np.asanyarray(color.get_data()).copy()  # (H, W, 3) uint8; the SDK reuses its buffer
    depth = None
    depth_frame = frames.get_depth_frame() if align is not None else None
    if depth_frame:
        raw = np.asanyarray(depth_frame.get_data())  # (H, W) uint16 in depth units
        if abs(depth_scale_m - 0.001) < 1e-9:
            depth = raw.copy()
        else:
            depth = np.clip(raw.astype(np.float64) * (depth_scale_m * 1000.0), 0, 65535).astype(np.uint16)
    stamp = None
    if color.get_frame_timestamp_domain() in _HOST_DOMAINS:
        stamp = int(color.get_timestamp() * 1e6)
    return Frame(color=rgb, depth=depth, frame_number=int(color.get_frame_number()), capture_time_ns=stamp)


def intrinsics_to_calibration(intr: rs.intrinsics) -> CameraCalibration:
    # librealsense's brown_conrady / inverse_brown_conrady coefficients are plumb_bob's k1 k2 p1 p2 k3.
    return CameraCalibration.from_intrinsics(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy,
                                             list(intr.coeffs), "plumb_bob")


class RealSenseSource(FrameSource):
    """A RealSense camera via ``rs.pipeline``: colour rgb8 WxH@fps, optional z16 depth aligned to colour."""

    def open(self) -> None:
        c = self.config
        self._pipeline = rs.pipeline()
        rs_config = rs.config()
        if c.serial:
            rs_config.enable_device(c.serial)
        rs_config.enable_stream(rs.stream.color, c.width, c.height, rs.format.rgb8, c.fps)
        if c.enable_depth:
            rs_config.enable_stream(rs.stream.depth, c.width, c.height, rs.format.z16, c.fps)
        try:
            profile = self._pipeline.start(rs_config)
        except RuntimeError as err:
            which = f"serial {c.serial}" if c.serial else "any serial"
            found = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
            raise SourceError(f"cannot start RealSense ({which}, {c.width}x{c.height}@{c.fps}): {err}; "
                              f"connected: {found or 'none'}") from None
        device = profile.get_device()
        self._depth_scale = 0.001
        self._align = None
        if c.enable_depth:
            self._depth_scale = device.first_depth_sensor().get_depth_scale()
            self._align = rs.align(rs.stream.color)
        if c.exposure_us > 0:
            self._fix_exposure(device)
        color_profile = profile.get_stream(rs.stream.color).as_video_stream_profile()
        self._calibration = intrinsics_to_calibration(color_profile.get_intrinsics())

    def _fix_exposure(self, device: rs.device) -> None:
        # Fixed exposure keeps image statistics constant across an episode (auto exposure drifts).
        for sensor in device.query_sensors():
            if sensor.is_color_sensor():
                if sensor.supports(rs.option.enable_auto_exposure):
                    sensor.set_option(rs.option.enable_auto_exposure, 0)
                if sensor.supports(rs.option.exposure):
                    rng = sensor.get_option_range(rs.option.exposure)
                    value = float(np.clip(self.config.exposure_us, rng.min, rng.max))
                    sensor.set_option(rs.option.exposure, value)
                    log.info("fixed colour exposure at %s (range %s..%s)", value, rng.min, rng.max)

    def read(self) -> Frame:
        try:
            frames = self._pipeline.wait_for_frames(self.config.read_timeout_ms)
        except RuntimeError as err:
            raise SourceError(f"RealSense gave no frame within {self.config.read_timeout_ms} ms: {err}") from None
        frame = frameset_to_frame(frames, self._align, self._depth_scale)
        if frame is None:
            raise SourceError("RealSense frameset without a colour frame")
        return frame

    def close(self) -> None:
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError:
                pass  # never started, or the device is already gone
            self._pipeline = None

    def calibration(self) -> CameraCalibration | None:
        return getattr(self, "_calibration", None)
