"""Known-answer tests for the workspace box, step/velocity clamps and NaN rejection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl.config import validate_config
from robot_rl.safety import Reason, SafetyLimits, apply_ee_delta, check_finite
from robot_rl.rotations import quat_from_rotvec, quat_mul, quat_to_rotvec

LIMITS = SafetyLimits(workspace_low=[0.0, -0.5, 0.0], workspace_high=[1.0, 0.5, 1.0], max_step_translation_m=0.03,
                      max_step_rotation_rad=0.2, max_linear_speed_m_s=0.25, max_angular_speed_rad_s=1.0)
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
HOME = np.array([0.5, 0.0, 0.5])


def _action(dx=0.0, dy=0.0, dz=0.0, rx=0.0, ry=0.0, rz=0.0, g=None):
    a = [dx, dy, dz, rx, ry, rz] + ([] if g is None else [g])
    return np.array(a)


def test_small_step_passes_unchanged():
    out = apply_ee_delta(HOME, IDENTITY, _action(dx=0.01, dz=-0.005, g=0.5), 0.1, LIMITS)
    assert out.ok and out.clamps == []
    np.testing.assert_allclose(out.position, [0.51, 0.0, 0.495])
    np.testing.assert_allclose(out.orientation, IDENTITY)
    assert out.gripper == 0.5


def test_translation_is_clamped_to_the_tighter_of_step_and_speed():
    # 0.25 m/s * 0.1 s = 0.025 < 0.03: the speed limit wins; direction kept.
    out = apply_ee_delta(HOME, IDENTITY, _action(dx=0.03, dy=0.04), 0.1, LIMITS)
    assert Reason.CLAMP_TRANSLATION in out.clamps
    np.testing.assert_allclose(out.position - HOME, [0.015, 0.02, 0.0])  # 0.025 * (0.6, 0.8)
    # At 50 Hz the step cap is 0.25 * 0.02 = 0.005.
    out = apply_ee_delta(HOME, IDENTITY, _action(dz=0.01), 0.02, LIMITS)
    np.testing.assert_allclose(out.position - HOME, [0.0, 0.0, 0.005])
    # At 1 Hz the step cap is 0.03 (the per-step limit).
    out = apply_ee_delta(HOME, IDENTITY, _action(dz=0.1), 1.0, LIMITS)
    np.testing.assert_allclose(out.position - HOME, [0.0, 0.0, 0.03])


def test_rotation_is_clamped_and_applied_in_the_base_frame():
    out = apply_ee_delta(HOME, IDENTITY, _action(rz=0.5), 0.1, LIMITS)  # cap min(0.2, 1.0 * 0.1) = 0.1
    assert Reason.CLAMP_ROTATION in out.clamps
    np.testing.assert_allclose(quat_to_rotvec(out.orientation), [0.0, 0.0, 0.1], atol=1e-12)
    # Base frame: q_target = exp(drot) * q_current. Start rotated 90 deg about x, turn 0.1 about z.
    q0 = quat_from_rotvec([math.pi / 2, 0.0, 0.0])
    out = apply_ee_delta(HOME, q0, _action(rz=0.1), 0.1, LIMITS)
    np.testing.assert_allclose(out.orientation, quat_mul(quat_from_rotvec([0, 0, 0.1]), q0), atol=1e-12)


def test_target_is_clipped_into_the_workspace():
    out = apply_ee_delta(np.array([0.99, 0.0, 0.5]), IDENTITY, _action(dx=0.02), 0.1, LIMITS)
    assert out.ok and Reason.CLAMP_WORKSPACE in out.clamps
    np.testing.assert_allclose(out.position, [1.0, 0.0, 0.5])


def test_outside_the_workspace_nothing_is_commanded():
    out = apply_ee_delta(np.array([1.2, 0.0, 0.5]), IDENTITY, _action(dx=-0.01), 0.1, LIMITS)
    assert not out.ok and out.refused == Reason.OUTSIDE_WORKSPACE and out.position is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused(bad):
    assert not check_finite(np.array([0.0, bad]))
    out = apply_ee_delta(HOME, IDENTITY, _action(dy=bad), 0.1, LIMITS)
    assert out.refused == Reason.NONFINITE
    out = apply_ee_delta(np.array([0.5, bad, 0.5]), IDENTITY, _action(), 0.1, LIMITS)
    assert out.refused == Reason.NONFINITE


def test_degenerate_orientation_is_refused():
    out = apply_ee_delta(HOME, np.zeros(4), _action(), 0.1, LIMITS)
    assert out.refused == Reason.BAD_POSE


def test_spec_limits_clip_first():
    low, high = np.full(7, -0.02), np.full(7, 0.02)
    out = apply_ee_delta(HOME, IDENTITY, _action(dx=0.5, g=3.0), 1.0, LIMITS, low, high)
    assert Reason.CLAMP_SPEC_LIMITS in out.clamps
    np.testing.assert_allclose(out.position - HOME, [0.02, 0.0, 0.0])
    assert out.gripper == 0.02


def test_limits_config_is_validated():
    with pytest.raises(ConfigError, match="workspace_low"):
        validate_config(SafetyLimits, {"workspace_low": [0, 0, 1], "workspace_high": [1, 1, 0.5]})
    with pytest.raises(ConfigError, match="max_step_translation_m: got 0"):
        validate_config(SafetyLimits, {"max_step_translation_m": 0})


def test_rotvec_quat_round_trip():
    for v in ([0.1, -0.2, 0.3], [math.pi - 1e-6, 0, 0], [0, 0, 0]):
        np.testing.assert_allclose(quat_to_rotvec(quat_from_rotvec(v)), v, atol=1e-9)


def test_a_measured_pose_just_outside_the_box_is_at_its_face_and_the_target_stays_inside():
    # A grasp at the box's floor reads a few mm below it when the pose sensor is noisy or biased.
    limits = LIMITS.model_copy(update={"outside_tolerance_m": 0.005})
    floor = limits.workspace_low[2]
    out = apply_ee_delta(np.array([0.5, 0.0, floor - 0.003]), IDENTITY, _action(dz=-0.01), 0.1, limits)
    assert out.ok and Reason.CLAMP_WORKSPACE in out.clamps
    assert out.position[2] == pytest.approx(floor)  # never below the box
    beyond = apply_ee_delta(np.array([0.5, 0.0, floor - 0.006]), IDENTITY, _action(dz=0.01), 0.1, limits)
    assert beyond.refused == Reason.OUTSIDE_WORKSPACE
    strict = limits.model_copy(update={"outside_tolerance_m": 0.0})
    assert apply_ee_delta(np.array([0.5, 0.0, floor - 0.001]), IDENTITY, _action(), 0.1, strict).refused \
        == Reason.OUTSIDE_WORKSPACE
