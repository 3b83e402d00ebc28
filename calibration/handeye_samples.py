"""The hand-eye samples file: recorded (robot end-effector pose, board image or board pose) pairs.

YAML or JSON (``samples.yaml``), paths relative to the file::

    format: robot_rl.handeye_samples/1
    board: {kind: charuco, squares_x: 7, squares_y: 5, square_m: 0.03, marker_m: 0.022,
            dictionary: DICT_5X5_100}          # needed when any sample has an image
    intrinsics: camera.yaml                     # camera_info YAML; optional (CLI --intrinsics wins)
    samples:
      - robot_pose: {position: [x, y, z], orientation: [qx, qy, qz, qw]}   # T_base_gripper [m]
        image: sample_000.png                   # the board as the camera saw it at that pose
      - robot_pose: {...}
        board_pose: {position: [...], orientation: [...]}  # or T_cam_board, already estimated

``robot_pose`` is the end-effector (gripper / flange) pose in the robot base frame, as a
``geometry_msgs/PoseStamped`` carries it: metres and a unit quaternion in ROS order [x, y, z, w].
``board_pose`` is the board's pose in the camera's optical frame (x right, y down, z forward).

An ``.npz`` holds precomputed poses only: ``robot_poses (N, 4, 4)`` and ``board_poses (N, 4, 4)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from calibration.boards import BoardConfig
from calibration.camera_info import CameraInfo, load_camera_info
from calibration.intrinsics import read_gray
from calibration.transforms import make_T, pose_from_dict, pose_to_dict, rvec_to_R
from robot_rl.config import StrictConfig, parse_yaml, validate_config
from robot_rl.errors import ConfigError

FORMAT = "robot_rl.handeye_samples/1"


class PoseEntry(StrictConfig):
    """A pose: ``position`` [m] and unit quaternion ``orientation`` [x, y, z, w]."""

    position: list[float] = Field(min_length=3, max_length=3)
    orientation: list[float] = Field(min_length=4, max_length=4)

    @field_validator("position", "orientation")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("values must be finite")
        return v

    @field_validator("orientation")
    @classmethod
    def _unit(cls, v: list[float]) -> list[float]:
        n = math.sqrt(sum(x * x for x in v))
        if abs(n - 1.0) > 1e-3:
            raise ValueError(f"quaternion [x, y, z, w] must have unit norm, got norm {n:.4f}")
        return v

    def matrix(self) -> np.ndarray:
        return pose_from_dict(self.model_dump())


class SampleEntry(StrictConfig):
    """One recorded sample: the robot pose and either an image file or a board pose."""

    robot_pose: PoseEntry
    image: str | None = None
    board_pose: PoseEntry | None = None

    @model_validator(mode="after")
    def _one_observation(self) -> SampleEntry:
        if (self.image is None) == (self.board_pose is None):
            raise ValueError("each sample needs exactly one of image or board_pose")
        return self


class SamplesFile(StrictConfig):
    """Schema of the samples YAML/JSON."""

    format: Literal["robot_rl.handeye_samples/1"] = FORMAT
    board: BoardConfig | None = None
    intrinsics: str | None = None
    samples: list[SampleEntry] = Field(min_length=1)


@dataclass
class HandEyeSamples:
    """Samples ready for solving: per sample ``T_base_gripper`` and ``T_cam_board`` (4x4).

    ``image_points[i]`` / ``object_points[i]`` are the detected corners when the sample came from an
    image (used for reprojection residuals), else ``None``. ``rejected`` maps sample names to reasons.
    """

    names: list[str]
    T_base_gripper: list[np.ndarray]
    T_cam_board: list[np.ndarray]
    image_points: list[np.ndarray | None] = field(default_factory=list)
    object_points: list[np.ndarray | None] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    camera: CameraInfo | None = None

    def __len__(self) -> int:
        return len(self.names)


def board_pose_from_image(image: np.ndarray, board: BoardConfig, camera: CameraInfo, min_corners: int = 6):
    """``(T_cam_board, image_points (N, 2), object_points (N, 3))`` from one image, or the reason it has none."""
    det = board.detector().detect(image)
    if det is None:
        return "no board found"
    if len(det.ids) < min_corners:
        return f"too few corners: {len(det.ids)} of {board.num_corners} (need {min_corners})"
    ok, rvec, tvec = cv2.solvePnP(det.object_points, det.image_points, camera.K, camera.D, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return "solvePnP failed"
    return make_T(rvec_to_R(rvec), tvec), det.image_points, det.object_points


def _read_file(path: Path) -> object:
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix.lower() == ".json" else parse_yaml(text, f"{path}: samples file")
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read samples file: {err}") from None


def load_samples(
    path: str | Path, camera: CameraInfo | None = None, board: BoardConfig | None = None
) -> HandEyeSamples:
    """Load a samples file (see module doc); images are turned into board poses with ``camera``.

    ``camera`` and ``board`` override the file's ``intrinsics`` and ``board``. Samples whose image
    shows no usable board are listed in ``rejected`` with the reason, not silently dropped.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / n for n in ("samples.yaml", "samples.yml", "samples.json", "poses.yaml")]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise ConfigError(f"{path}: directory has no samples.yaml / samples.json / poses.yaml")
        path = found[0]
    if not path.is_file():
        raise ConfigError(f"{path}: no such samples file")
    if path.suffix.lower() == ".npz":
        return _load_npz(path)
    spec = validate_config(SamplesFile, _read_file(path), str(path))
    board = board or spec.board
    if camera is None and spec.intrinsics is not None:
        camera = load_camera_info(path.parent / spec.intrinsics)
    needs_images = any(s.image is not None for s in spec.samples)
    if needs_images and board is None:
        raise ConfigError(f"{path}: samples have images but no board is given (add a 'board:' section)")
    if needs_images and camera is None:
        raise ConfigError(
            f"{path}: samples have images but no intrinsics are given (pass --intrinsics camera.yaml "
            "or add 'intrinsics:' to the samples file)"
        )
    out = HandEyeSamples([], [], [], camera=camera)
    for i, s in enumerate(spec.samples):
        name = s.image or f"sample_{i:03d}"
        if s.board_pose is not None:
            T_cb, pts, obj = s.board_pose.matrix(), None, None
        else:
            img_path = path.parent / s.image
            if not img_path.is_file():
                raise ConfigError(f"{path}: samples[{i}].image: {img_path} does not exist")
            image = read_gray(img_path)
            if camera.size != (image.shape[1], image.shape[0]):
                raise ConfigError(
                    f"{img_path}: image is {image.shape[1]}x{image.shape[0]} but the intrinsics are for "
                    f"{camera.size[0]}x{camera.size[1]}"
                )
            found = board_pose_from_image(image, board, camera)
            if isinstance(found, str):
                out.rejected[name] = found
                continue
            T_cb, pts, obj = found
        out.names.append(name)
        out.T_base_gripper.append(s.robot_pose.matrix())
        out.T_cam_board.append(T_cb)
        out.image_points.append(pts)
        out.object_points.append(obj)
    return out


def _load_npz(path: Path) -> HandEyeSamples:
    with np.load(path) as z:
        missing = {"robot_poses", "board_poses"} - set(z.files)
        if missing:
            raise ConfigError(
                f"{path}: missing arrays {sorted(missing)}; needs robot_poses (N, 4, 4) and board_poses (N, 4, 4)"
            )
        robot, board = z["robot_poses"].astype(np.float64), z["board_poses"].astype(np.float64)
    if robot.ndim != 3 or robot.shape[1:] != (4, 4) or board.shape != robot.shape:
        raise ConfigError(f"{path}: robot_poses {robot.shape} and board_poses {board.shape} must both be (N, 4, 4)")
    n = len(robot)
    return HandEyeSamples([f"sample_{i:03d}" for i in range(n)], list(robot), list(board), [None] * n, [None] * n)


def write_samples(
    path: str | Path,
    robot_poses: list[np.ndarray],
    images: list[str] | None = None,
    board_poses: list[np.ndarray] | None = None,
    board: BoardConfig | None = None,
    intrinsics: str | None = None,
) -> None:
    """Write a samples file (YAML or JSON by suffix); image names are relative to the file's folder."""
    from calibration.atomic_write import write_yaml_atomic

    entries = []
    for i, T in enumerate(robot_poses):
        e = {"robot_pose": pose_to_dict(T)}
        if images is not None:
            e["image"] = images[i]
        else:
            e["board_pose"] = pose_to_dict(board_poses[i])
        entries.append(e)
    data = {
        "format": FORMAT,
        "board": board.model_dump() if board else None,
        "intrinsics": intrinsics,
        "samples": entries,
    }
    data = {k: v for k, v in data.items() if v is not None}
    validate_config(SamplesFile, data, str(path))
    path = Path(path)
    if path.suffix.lower() == ".json":
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    else:
        write_yaml_atomic(path, data)
