"""Assemble the policy's observation from the latest robot inputs, only when every input is fresh.

The policy node keeps the latest message of each input (one image per spec camera, the
end-effector pose, the joint states, the instruction) with its stamp. Before acting it asks
:meth:`ObservationInputs.problems`: an input that never arrived, or whose stamp is older than
``max_age_s`` (or further in the future than that: a clock problem), blocks acting, and the
reasons say which input and by how much. Image stamps are corrected by the camera latency (the
embodiment spec's ``latency.camera_s``: how much later a frame is stamped than the moment it
shows), so ages and the capture time refer to when the world looked like the image. Only then :meth:`ObservationInputs.assemble` builds the
batch ``{"images": {cam: (1, H, W, 3)}, "proprio": (1, D), "instruction": [str]}`` and the
observation's capture time: the *oldest* input stamp, the honest age of what the policy saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.policies.batch import ObsBatch
from robot_rl.robot.image_fit import centre_crop_box, fit_image
from robot_rl.robot.proprio import ProprioMap, RobotState
from robot_rl.spec import EmbodimentSpec


@dataclass(frozen=True)
class Problem:
    """Why the policy cannot act now: a short ``key`` (counted in diagnostics) and a readable detail."""

    key: str
    detail: str


def check_image(spec: EmbodimentSpec, camera: str, image: np.ndarray, resize: bool) -> np.ndarray:
    """The image as the spec wants it: (H, W, 3) uint8; ValueError for a wrong shape (unless ``resize``).

    ``resize``: fit larger frames to the spec by centre crop to its aspect + area resize
    (:func:`robot_rl.robot.image_fit.fit_image`, the transform the calibrated sim camera models);
    frames smaller than the spec are refused either way.
    """
    cam = spec.camera(camera)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"camera '{camera}': expected an RGB uint8 image (h, w, 3), got {image.dtype} {image.shape}")
    if image.shape != cam.shape:
        if not resize:
            raise ValueError(f"camera '{camera}': image is {image.shape[1]}x{image.shape[0]}, spec '{spec.name}' "
                             f"wants {cam.width}x{cam.height} (set resize_images: true to crop and resize)")
        _, _, w, h = centre_crop_box((image.shape[1], image.shape[0]), (cam.width, cam.height))
        if w < cam.width or h < cam.height:  # upsampling would invent detail the policy never saw in training
            raise ValueError(f"camera '{camera}': image is {image.shape[1]}x{image.shape[0]}, smaller than the "
                             f"{cam.width}x{cam.height} spec '{spec.name}' wants after cropping to its aspect")
        image = fit_image(image, cam.height, cam.width)
    return image


class ObservationInputs:
    """Latest stamped inputs of the policy node; pure state, fed by the node's subscriptions."""

    def __init__(self, spec: EmbodimentSpec, proprio_map: ProprioMap, max_age_s: float,
                 needs_joint_states: bool | None = None, camera_latency_s: float = 0.0) -> None:
        self.spec = spec
        self.proprio_map = proprio_map
        self.max_age_s = max_age_s
        self.camera_latency_s = camera_latency_s
        self.needs_pose = proprio_map.uses_pose
        self.needs_joints = bool(proprio_map.joint_names) if needs_joint_states is None else needs_joint_states
        self.images: dict[str, tuple[np.ndarray, float]] = {}
        self.ee_pose: tuple[np.ndarray, np.ndarray, float] | None = None
        self.joints: tuple[dict[str, float], float] | None = None
        self.instruction = ""
        # Inputs stamped before this (the current episode's start) belong to the old scene.
        self.not_before = 0.0

    def set_image(self, camera: str, image: np.ndarray, stamp: float) -> None:
        """Keep ``image`` with the moment it shows: its ``stamp`` minus the camera latency."""
        self.images[camera] = (image, stamp - self.camera_latency_s)

    def set_ee_pose(self, position: np.ndarray, quaternion: np.ndarray, stamp: float) -> None:
        self.ee_pose = (np.asarray(position, dtype=np.float64), np.asarray(quaternion, dtype=np.float64), stamp)

    def set_joints(self, names: list[str], positions: list[float], stamp: float) -> None:
        """Merge a JointState (drivers may publish several, each with a subset of the joints)."""
        if len(names) != len(positions):
            raise ValueError(f"joint state has {len(names)} names but {len(positions)} positions")
        merged = dict(self.joints[0]) if self.joints else {}
        merged.update(zip(names, (float(p) for p in positions)))
        self.joints = (merged, stamp)

    def _age(self, key: str, stamp: float, now: float) -> Problem | None:
        if stamp < self.not_before:
            return Problem(f"old_{key}", f"{key} was captured before the episode started")
        age = now - stamp
        if age > self.max_age_s:
            return Problem(f"stale_{key}", f"{key} is {age:.3f} s old (max_input_age_s {self.max_age_s})")
        if -age > self.max_age_s:
            return Problem(f"future_{key}", f"{key} is stamped {-age:.3f} s in the future (clock skew?)")
        return None

    def problems(self, now: float, instruction: str | None = None) -> list[Problem]:
        """Everything that stops acting now; empty when every input is present and fresh.

        ``instruction``: the running episode's (from its start event); None = outside an episode, the
        latched ``/robot_rl/instruction`` (:attr:`instruction`) is needed.
        """
        out = []
        for cam in self.spec.camera_names:
            if cam not in self.images:
                out.append(Problem(f"missing_image_{cam}", f"no image from camera '{cam}' yet"))
            elif (p := self._age(f"image_{cam}", self.images[cam][1], now)) is not None:
                out.append(p)
        if self.needs_pose:
            if self.ee_pose is None:
                out.append(Problem("missing_ee_pose", "no end-effector pose yet"))
            elif (p := self._age("ee_pose", self.ee_pose[2], now)) is not None:
                out.append(p)
        if self.needs_joints:
            if self.joints is None:
                out.append(Problem("missing_joint_states", "no joint states yet"))
            else:
                if (p := self._age("joint_states", self.joints[1], now)) is not None:
                    out.append(p)
                missing = [j for j in self.proprio_map.joint_names if j not in self.joints[0]]
                if missing:
                    out.append(Problem("missing_joints", f"joint states lack {', '.join(missing)}"))
        if not (instruction or self.instruction):
            out.append(Problem("no_instruction", "no instruction (publish one on /robot_rl/instruction)"))
        return out

    def proprio(self) -> np.ndarray:
        """Proprio (D,) from the latest pose and joints (call after :meth:`problems` came back empty)."""
        pos, quat = (self.ee_pose[0], self.ee_pose[1]) if self.ee_pose else (np.zeros(3), np.array([0.0, 0, 0, 1]))
        joints = self.joints[0] if self.joints else {}
        return self.proprio_map.from_robot(RobotState(pos, quat, joints))

    def assemble(self, instruction: str | None = None) -> tuple[ObsBatch, float]:
        """(observation batch of one, capture time = oldest input stamp). Check :meth:`problems` first."""
        stamps = [s for _, s in self.images.values()]
        if self.needs_pose and self.ee_pose is not None:
            stamps.append(self.ee_pose[2])
        if self.needs_joints and self.joints is not None:
            stamps.append(self.joints[1])
        batch: ObsBatch = {
            "images": {cam: self.images[cam][0][None] for cam in self.spec.camera_names},  # (1, H, W, 3)
            "proprio": self.proprio()[None],  # (1, D)
            "instruction": [instruction or self.instruction],
        }
        return batch, min(stamps)
