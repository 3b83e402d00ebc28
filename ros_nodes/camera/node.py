"""camera_node: one camera -> ``<camera>/image_raw`` (rgb8), ``<camera>/camera_info``, optional
``<camera>/depth/image_raw`` (16UC1, mm, aligned to colour) and ``/diagnostics``.

A capture thread reads the frame source and publishes each frame stamped at capture (ROS time).
When the source fails the thread closes it and reopens it after a backoff that doubles from
``reconnect_initial_s`` up to ``reconnect_max_s``; the node never exits because a camera dropped.
"""

from __future__ import annotations

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from ros_nodes.run import run_node
from robot_rl.errors import ConfigError
from robot_rl.wire import topics
from robot_rl.ros_config.camera import CameraNodeConfig
from robot_rl.ros_config.camera_info import CameraCalibration
from robot_rl.ros_config.params_file import parameter_fields
from ros_nodes import qos
from ros_nodes.camera.frame import Frame, FrameSource, SourceError
from ros_nodes.camera.sources import make_source
from ros_nodes.messages import ERROR, OK, WARN, camera_info_msg, diagnostic_array, image_to_msg, ns_to_stamp
from ros_nodes.params import NodeParams


class CameraNode(Node):
    """Publishes one camera's frames; see the module docstring."""

    def __init__(self, source: FrameSource | None = None) -> None:
        super().__init__("camera_node")
        # A camera's identity and stream cannot change under a running publisher: all read-only.
        self.params = NodeParams(self, CameraNodeConfig, static=[f.name for f in parameter_fields(CameraNodeConfig)])
        cfg: CameraNodeConfig = self.params.config
        self.cfg = cfg
        self.file_calibration = self._load_calibration(cfg)
        self.source = source or make_source(cfg)
        image_qos = qos.by_name(cfg.qos)
        self.image_pub = self.create_publisher(Image, topics.image_topic(cfg.camera_name), image_qos)
        self.info_pub = self.create_publisher(CameraInfo, topics.camera_info_topic(cfg.camera_name),
                                              image_qos)
        self.depth_pub = (self.create_publisher(Image, topics.depth_topic(cfg.camera_name), image_qos)
                          if cfg.enable_depth else None)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.RELIABLE)
        self.frames = 0
        self.drops = 0
        self.reconnects = 0
        self.failures = 0
        self.connected = False
        self.last_error = ""
        self._last_number: int | None = None
        self._window = (time.monotonic(), 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._capture_loop, daemon=True, name="capture")
        self._thread.start()
        self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f"camera '{cfg.camera_name}' from {cfg.source} source, {cfg.width}x{cfg.height}"
                               f"@{cfg.fps}, depth {'on' if cfg.enable_depth else 'off'}, QoS {cfg.qos}")

    @staticmethod
    def _load_calibration(cfg: CameraNodeConfig) -> CameraCalibration | None:
        if not cfg.calibration_file:
            return None
        cal = CameraCalibration.from_yaml(cfg.calibration_file)
        if (cal.image_width, cal.image_height) != (cfg.width, cfg.height):
            raise ConfigError(f"{cfg.calibration_file}: calibrated for {cal.image_width}x{cal.image_height}, "
                              f"but the camera streams {cfg.width}x{cfg.height}")
        return cal

    # ---- capture thread ----------------------------------------------------------------------

    def _capture_loop(self) -> None:
        backoff = self.cfg.reconnect_initial_s
        first = True
        while not self._stop.is_set():
            try:
                self.source.open()
                self.connected = True
                self._last_number = None  # frame numbers restart with a new connection
                if not first:
                    self.get_logger().info(f"camera reconnected (reconnect #{self.reconnects})")
                while not self._stop.is_set():
                    self._publish(self.source.read())
                    backoff = self.cfg.reconnect_initial_s  # a good frame resets the backoff
            except SourceError as err:
                self._failed(str(err), backoff)
            except Exception as err:  # noqa: BLE001 - a driver bug must not kill the node either
                if self._stop.is_set() or not self.context.ok():
                    break  # shutting down: the publishers are gone
                self._failed(f"{type(err).__name__}: {err}", backoff)
            finally:
                self.connected = False
                self.source.close()
            if self._stop.wait(backoff):
                break
            backoff = min(2.0 * backoff, self.cfg.reconnect_max_s)
            self.reconnects += 1
            first = False

    def _failed(self, why: str, backoff: float) -> None:
        self.failures += 1
        self.last_error = why
        self.get_logger().error(f"camera failed: {why}; retrying in {backoff:.1f} s", throttle_duration_sec=5.0)

    def _publish(self, frame: Frame) -> None:
        # Stamp at capture when the device gives host-clock time, else at receipt (ROS time).
        if frame.capture_time_ns is not None and not self.get_parameter("use_sim_time").value:
            stamp = ns_to_stamp(frame.capture_time_ns)
        else:
            stamp = self.get_clock().now().to_msg()
        if self._last_number is not None and frame.frame_number > self._last_number + 1:
            self.drops += frame.frame_number - self._last_number - 1
        self._last_number = frame.frame_number
        frame_id = self.cfg.resolved_frame_id
        self.image_pub.publish(image_to_msg(frame.color, "rgb8", stamp, frame_id))
        cal = self.file_calibration or self.source.calibration()
        if cal is not None:
            self.info_pub.publish(camera_info_msg(cal, stamp, frame_id))
        if self.depth_pub is not None and frame.depth is not None:
            self.depth_pub.publish(image_to_msg(frame.depth, "16UC1", stamp, frame_id))
        self.frames += 1

    # ---- diagnostics -------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        start, frames_then = self._window
        rate = (self.frames - frames_then) / max(now - start, 1e-6)
        self._window = (now, self.frames)
        if not self.connected:
            level, message = ERROR, f"disconnected: {self.last_error or 'connecting'}"
        elif rate < 0.8 * self.cfg.fps:
            level, message = WARN, f"rate {rate:.1f} Hz below {self.cfg.fps} Hz"
        else:
            level, message = OK, "streaming"
        values = {"rate_hz": f"{rate:.2f}", "target_fps": self.cfg.fps, "frames": self.frames, "drops": self.drops,
                  "reconnects": self.reconnects, "failures": self.failures, "connected": self.connected,
                  "source": self.cfg.source, "last_error": self.last_error}
        self.diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(), f"{self.get_name()}: camera "
                                               f"{self.cfg.camera_name}", self.cfg.serial or self.cfg.device,
                                               level, message, values))

    def shutdown(self) -> None:
        """Stop the capture thread and release the camera."""
        self._stop.set()
        self._thread.join(timeout=3.0)


def main(args: list[str] | None = None) -> int:
    """Console script ``camera_node``: ``camera_node --ros-args --params-file cameras.yaml -r __node:=wrist``."""
    return run_node("camera_node", CameraNode, args)


if __name__ == "__main__":
    sys.exit(main())
