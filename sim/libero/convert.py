"""Pure conversions between LIBERO's raw observations / actions and the embodiment spec.

Conventions (all checked against the real env in tests/sim/test_libero_env.py):

- **Images.** robosuite reads pixels back from OpenGL, whose first row is the *bottom* of the
  image, so LIBERO's ``*_image`` arrays are upside down. ``upright`` flips rows (``img[::-1]``),
  giving the camera's view as a person would see it. ``openvla`` rotates by 180 degrees
  (``img[::-1, ::-1]``) as OpenVLA's LIBERO pipeline (and datasets derived from it) do, i.e.
  upright mirrored left-right.
- **Proprio.** ``eef_pos`` is ``robot0_eef_pos`` (m, world frame). ``eef_axis_angle`` is
  ``robot0_eef_quat`` (x, y, z, w) turned into an axis-angle vector with robosuite's
  ``quat2axisangle`` formula (what OpenVLA-OFT's LIBERO proprio uses): angle ``2 acos(w)``
  without canonicalising the quaternion's sign, so it can exceed pi. With the gripper pointing
  down the angle sits near pi and the vector can jump sign; policies see what OFT's saw.
  ``gripper`` is the finger opening ``(q_left - q_right) / 0.08`` mapped to [-1 closed, +1 open].
- **Actions.** Spec units are commanded OSC deltas in metres and radians; LIBERO's OSC_POSE
  controller takes inputs in [-1, 1] scaled by its ``output_max`` (0.05 m, 0.5 rad), so the
  LIBERO input is ``action / spec.high``. The gripper sign flips: robosuite's Panda gripper
  opens at -1 and closes at +1; the embodiment spec (robot_rl/spec.py) says -1 close, +1 open.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

PANDA_FINGER_RANGE = 0.04  # m, each Panda finger joint travels [0, 0.04] (right finger mirrored)


def flip_image(raw: np.ndarray, convention: Literal["upright", "openvla"]) -> np.ndarray:
    """LIBERO (OpenGL, bottom row first) image -> contiguous uint8 (H, W, 3) in ``convention``."""
    out = raw[::-1] if convention == "upright" else raw[::-1, ::-1]
    return np.ascontiguousarray(out, dtype=np.uint8)


def robosuite_quat2axisangle(quat_xyzw: np.ndarray) -> np.ndarray:
    """(x, y, z, w) quaternion -> axis-angle (3,) exactly as robosuite's ``quat2axisangle`` computes it.

    Not :func:`robot_rl.rotations.quat_to_rotvec`: robosuite does not make ``w >= 0`` first, so for
    ``w < 0`` the angle exceeds pi (the long way round), and OpenVLA-OFT's LIBERO proprio has it so.
    """
    q = np.asarray(quat_xyzw, dtype=np.float64)
    w = float(np.clip(q[3], -1.0, 1.0))
    den = np.sqrt(1.0 - w * w)
    if np.isclose(den, 0.0):  # no rotation: any axis, zero angle
        return np.zeros(3)
    return q[:3] * 2.0 * np.arccos(w) / den


def gripper_opening(finger_qpos: np.ndarray) -> float:
    """Panda finger joints (q_left >= 0, q_right <= 0) -> opening in [-1 closed, +1 fully open]."""
    gap = float(finger_qpos[0] - finger_qpos[1]) / (2 * PANDA_FINGER_RANGE)  # 0 closed .. 1 open
    return float(np.clip(2.0 * gap - 1.0, -1.0, 1.0))


def proprio_from_obs(raw: dict[str, np.ndarray]) -> np.ndarray:
    """float32 (7,): eef_pos (3) + eef_axis_angle (3) + gripper (1), the order of ``libero.yaml``."""
    return np.concatenate(
        [raw["robot0_eef_pos"], robosuite_quat2axisangle(raw["robot0_eef_quat"]),
         [gripper_opening(raw["robot0_gripper_qpos"])]]
    ).astype(np.float32)


def to_libero_action(action: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Spec action (A=7, already clipped to the spec) -> LIBERO OSC_POSE input in [-1, 1] (7,)."""
    out = np.asarray(action, dtype=np.float64) / np.abs(high)
    out[6] = -out[6]  # ours: +1 open; robosuite: -1 open
    return out
