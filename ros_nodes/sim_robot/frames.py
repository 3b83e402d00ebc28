"""What the stand-in's cameras stream: the env's spec-sized images, or driver-sized frames (``camera_width``).

A real driver streams e.g. 640x480 rgb8 with its own camera_info; the policy node fits it to the spec
(``robot_rl/robot/image_fit.py``). With ``camera_width`` / ``camera_height`` set, the stand-in renders
each camera at that size from the same MuJoCo camera (``env.render_frame``, field of view widened so
that the fit shows what the spec-sized observation shows) and publishes the matching pinhole K
(``env.frame_camera_matrix``). Frames are rendered once per change of the world (a step or a reset),
however often they are published.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from robot_rl.env import Env, Observation
from robot_rl.errors import ConfigError
from robot_rl.robot.image_fit import centre_crop_box
from robot_rl.ros_config.camera_info import CameraCalibration
from robot_rl.spec import EmbodimentSpec


def nominal_calibration(width: int, height: int) -> CameraCalibration:
    """A pinhole camera_info for a sim camera (no distortion; focal length 0.8 x width, centred)."""
    return CameraCalibration.from_intrinsics(width, height, 0.8 * width, 0.8 * width, width / 2.0, height / 2.0)


class StandInCameras:
    """The frames and camera_info of every spec camera; see the module docstring.

    :param width, height: the driver's frame size; 0 x 0 = the spec's size (the env's own images).
    """

    def __init__(self, env: Env, spec: EmbodimentSpec, width: int = 0, height: int = 0) -> None:
        self.env, self.spec = env, spec
        self.driver = bool(width and height)
        self.size = (width, height)
        self.render_s: deque[float] = deque(maxlen=200)  # seconds per render of every camera
        self._frames: dict[str, np.ndarray] = {}
        self._dirty = True
        if self.driver:
            if not (hasattr(env, "render_frame") and hasattr(env, "frame_camera_matrix")):
                raise ConfigError(f"camera_width/camera_height: the env {type(env).__name__} cannot render "
                                  "driver-sized frames (needs render_frame and frame_camera_matrix); use 0 x 0")
            for cam in spec.cameras:
                _, _, w, h = centre_crop_box((width, height), (cam.width, cam.height))
                if w < cam.width or h < cam.height:
                    raise ConfigError(f"camera_width/camera_height: {width}x{height} is smaller than camera "
                                      f"'{cam.name}' of spec '{spec.name}' ({cam.width}x{cam.height}) after cropping "
                                      "to its aspect: the policy node would refuse it")
            self.calibrations = {}
            for cam in spec.cameras:
                K = env.frame_camera_matrix(cam.name, height, width)
                self.calibrations[cam.name] = CameraCalibration.from_intrinsics(
                    width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
        else:
            self.calibrations = {c.name: nominal_calibration(c.width, c.height) for c in spec.cameras}

    def changed(self) -> None:
        """The world changed (a step or a reset): the next :meth:`frames` renders again."""
        self._dirty = True

    def frames(self, obs: Observation) -> dict[str, np.ndarray]:
        """Every camera's current frame: ``obs.images`` at the spec size, else rendered at the driver's size."""
        if not self.driver:
            return obs.images
        if self._dirty:
            t0 = time.perf_counter()
            width, height = self.size
            self._frames = {c: self.env.render_frame(c, height, width) for c in self.spec.camera_names}
            self.render_s.append(time.perf_counter() - t0)
            self._dirty = False
        return self._frames

    @property
    def render_ms_mean(self) -> float:
        """Mean milliseconds to render every camera at the driver's size (0 when not rendering)."""
        return 1e3 * float(np.mean(self.render_s)) if self.render_s else 0.0
