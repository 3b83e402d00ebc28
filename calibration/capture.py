"""Recording hand-eye samples from live streams, without ROS: pairing an image with the robot pose
at its capture time, refusing captures while the robot moves, and writing the samples folder.

``ros_nodes/handeye_capture_node.py`` feeds this from topics; a script can feed it from anything.
The folder it writes is what ``robot-rl calibrate handeye --samples DIR`` reads
(:mod:`calibration.handeye_samples`), and it is valid after every capture.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from calibration.boards import BoardConfig, parse_squares
from calibration.handeye_samples import write_samples
from calibration.transforms import pose_from_dict, rotation_angle_deg
from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import ConfigError


class HandEyeCaptureConfig(StrictConfig):
    """Parameters of the capture node (flat, so each is one ROS parameter)."""

    image_topic: str = Field(default="camera/image_raw", description="sensor_msgs/Image to sample")
    pose_topic: str = Field(default="eef_pose", description="geometry_msgs/PoseStamped: end effector in the base frame")
    out_dir: str = Field(default="handeye_samples", description="folder for images and samples.yaml")
    board_kind: Literal["charuco", "chessboard"] = Field(default="charuco", description="charuco or chessboard")
    squares: str = Field(default="7x5", description="squares across x down, e.g. 7x5")
    square_mm: float = Field(default=30.0, gt=0, description="square side as printed [mm]")
    marker_mm: float = Field(default=22.0, gt=0, description="ArUco marker side [mm] (charuco)")
    dictionary: str = Field(default="DICT_5X5_100", description="ArUco dictionary (charuco)")
    intrinsics_file: str = Field(default="", description="camera_info YAML recorded into samples.yaml (optional)")
    max_pose_offset_s: float = Field(default=0.05, gt=0, description="pose stamp must be this close to the image stamp")
    still_mm: float = Field(default=1.0, gt=0, description="robot counts as still below this motion around the image")
    still_deg: float = Field(default=0.2, gt=0, description="... and below this rotation")
    still_window_s: float = Field(default=0.2, gt=0, description="time either side of the image checked for motion")

    def board(self) -> BoardConfig:
        """The board these parameters describe (validated)."""
        try:
            sx, sy = parse_squares(self.squares)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        data = {"kind": self.board_kind, "squares_x": sx, "squares_y": sy, "square_m": self.square_mm / 1000.0}
        if self.board_kind == "charuco":
            data.update(marker_m=self.marker_mm / 1000.0, dictionary=self.dictionary)
        return validate_config(BoardConfig, data, "handeye capture board")


class PoseHistory:
    """Recent stamped robot poses (4x4 ``T_base_gripper``), looked up by time."""

    def __init__(self, keep_s: float = 5.0) -> None:
        self.keep_s = keep_s
        self._t: list[float] = []
        self._T: list[np.ndarray] = []

    def add(self, t: float, T: np.ndarray) -> None:
        if self._t and t < self._t[-1]:
            return  # out-of-order message: the history stays sorted
        self._t.append(t)
        self._T.append(np.asarray(T, dtype=np.float64))
        while self._t and self._t[0] < t - self.keep_s:
            self._t.pop(0)
            self._T.pop(0)

    def __len__(self) -> int:
        return len(self._t)

    def pose_at(self, t: float, cfg: HandEyeCaptureConfig) -> np.ndarray | str:
        """The pose nearest ``t`` if the robot was still around ``t``, else the reason it cannot be used."""
        if not self._t:
            return f"no robot pose received on '{cfg.pose_topic}'"
        i = bisect.bisect_left(self._t, t)
        near = min((j for j in (i - 1, i) if 0 <= j < len(self._t)), key=lambda j: abs(self._t[j] - t))
        if abs(self._t[near] - t) > cfg.max_pose_offset_s:
            return (
                f"no robot pose within {cfg.max_pose_offset_s} s of the image (nearest "
                f"{self._t[near] - t:+.3f} s): are both stamped on the same clock?"
            )
        lo = bisect.bisect_left(self._t, t - cfg.still_window_s)
        hi = bisect.bisect_right(self._t, t + cfg.still_window_s)
        ref = self._T[near]
        for T in self._T[lo:hi]:
            moved_mm = 1000.0 * float(np.linalg.norm(T[:3, 3] - ref[:3, 3]))
            turned = rotation_angle_deg(ref[:3, :3].T @ T[:3, :3])
            if moved_mm > cfg.still_mm or turned > cfg.still_deg:
                return (
                    f"robot is moving ({moved_mm:.1f} mm, {turned:.2f} deg within {cfg.still_window_s} s "
                    "of the image): hold still while capturing"
                )
        return ref


class SampleRecorder:
    """Writes ``sample_NNN.png`` + ``samples.yaml`` into ``out_dir``; continues an existing folder."""

    def __init__(self, out_dir: str | Path, board: BoardConfig, intrinsics_file: str = "") -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.board = board
        self.intrinsics = intrinsics_file or None
        self.poses: list[np.ndarray] = []
        self.images: list[str] = []
        existing = self.out_dir / "samples.yaml"
        if existing.is_file():
            data = load_yaml(existing) or {}
            for s in data.get("samples", []):
                if "image" in s:
                    self.poses.append(pose_from_dict(s["robot_pose"]))
                    self.images.append(s["image"])

    def __len__(self) -> int:
        return len(self.images)

    def add(self, image: np.ndarray, T_base_gripper: np.ndarray, rgb: bool = True) -> str:
        """Save one sample (image ``(H, W, 3)`` RGB or ``(H, W)`` gray) and rewrite samples.yaml."""
        name = f"sample_{len(self.images):03d}.png"
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if (image.ndim == 3 and rgb) else image
        if not cv2.imwrite(str(self.out_dir / name), bgr):
            raise ConfigError(f"{self.out_dir / name}: cannot write image")
        self.poses.append(np.asarray(T_base_gripper, dtype=np.float64))
        self.images.append(name)
        write_samples(
            self.out_dir / "samples.yaml", self.poses, images=self.images, board=self.board, intrinsics=self.intrinsics
        )
        return name
