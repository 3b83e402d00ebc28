"""Known answers for LIBERO's observation / action conventions (pure numpy, no simulator)."""

import numpy as np
import pytest

from robot_rl.rotations import quat_to_rotvec
from sim.libero.convert import flip_image, gripper_opening, proprio_from_obs, robosuite_quat2axisangle, to_libero_action

HIGH = np.array([0.05, 0.05, 0.05, 0.5, 0.5, 0.5, 1.0], np.float32)


def test_quat_to_axis_angle_known_answers():
    np.testing.assert_allclose(robosuite_quat2axisangle([0, 0, 0, 1]), [0, 0, 0])
    # 90 degrees about z: (x, y, z, w) = (0, 0, sin 45, cos 45)
    s = np.sqrt(0.5)
    np.testing.assert_allclose(robosuite_quat2axisangle([0, 0, s, s]), [0, 0, np.pi / 2], atol=1e-12)
    # 180 degrees about x (the Panda gripper pointing down)
    np.testing.assert_allclose(robosuite_quat2axisangle([1, 0, 0, 0]), [np.pi, 0, 0], atol=1e-12)
    # robosuite does not canonicalise the sign: w < 0 gives an angle above pi, not the short way round
    q = np.array([0.0, 0.0, np.sin(2.0), np.cos(2.0)])  # angle 4 rad about z
    np.testing.assert_allclose(robosuite_quat2axisangle(q), [0, 0, 4.0], atol=1e-12)
    # ...where the core's convention goes the short way (angle <= pi); with w >= 0 the two agree.
    np.testing.assert_allclose(quat_to_rotvec(q), [0, 0, 4.0 - 2 * np.pi], atol=1e-12)
    np.testing.assert_allclose(robosuite_quat2axisangle(-q), quat_to_rotvec(-q), atol=1e-12)


def test_gripper_opening_maps_finger_gap_to_minus_one_closed_plus_one_open():
    assert gripper_opening(np.array([0.0, 0.0])) == pytest.approx(-1.0)
    assert gripper_opening(np.array([0.04, -0.04])) == pytest.approx(1.0)
    assert gripper_opening(np.array([0.02, -0.02])) == pytest.approx(0.0)
    assert gripper_opening(np.array([0.05, -0.05])) == 1.0  # clipped


def test_flip_image_conventions():
    raw = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)  # OpenGL: row 0 is the bottom
    up = flip_image(raw, "upright")
    np.testing.assert_array_equal(up[0], raw[1])
    np.testing.assert_array_equal(flip_image(raw, "openvla"), raw[::-1, ::-1])
    assert up.flags.c_contiguous and up.dtype == np.uint8


def test_actions_scale_to_osc_inputs_and_flip_the_gripper_sign():
    ours = np.array([0.05, -0.025, 0.0, 0.5, 0.0, -0.25, 1.0], np.float32)  # +1 = open in the spec
    libero = to_libero_action(ours, HIGH)
    np.testing.assert_allclose(libero, [1.0, -0.5, 0.0, 1.0, 0.0, -0.5, -1.0], atol=1e-6)  # robosuite: -1 = open


def test_proprio_layout():
    raw = {"robot0_eef_pos": np.array([0.1, 0.2, 0.3]), "robot0_eef_quat": np.array([1.0, 0, 0, 0]),
           "robot0_gripper_qpos": np.array([0.04, -0.04])}
    p = proprio_from_obs(raw)
    assert p.dtype == np.float32 and p.shape == (7,)
    np.testing.assert_allclose(p, [0.1, 0.2, 0.3, np.pi, 0, 0, 1.0], rtol=1e-6)
