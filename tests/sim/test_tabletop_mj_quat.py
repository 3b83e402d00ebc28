"""sim/tabletop/mj_quat.py: MuJoCo's (w, x, y, z) helpers agree with the core's (x, y, z, w) convention."""

import numpy as np

from robot_rl.rotations import quat_from_rotvec, quat_mul, quat_to_matrix, quat_to_rotvec, quat_wxyz_to_xyzw
from robot_rl.rotations import quat_xyzw_to_wxyz
from sim.tabletop.mj_quat import (quat_wxyz_conj, quat_wxyz_from_axis_angle, quat_wxyz_from_rotvec, quat_wxyz_lookat,
                                  quat_wxyz_mul, quat_wxyz_random, quat_wxyz_to_matrix, quat_wxyz_to_rotvec)


def _wxyz(n: int, seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_the_w_first_helpers_match_the_core_in_its_order():
    for a, b in zip(_wxyz(50, 0), _wxyz(50, 1)):
        # The product is the core's, bit for bit.
        np.testing.assert_array_equal(quat_wxyz_mul(a, b),
                                      quat_xyzw_to_wxyz(quat_mul(quat_wxyz_to_xyzw(a), quat_wxyz_to_xyzw(b))))
        np.testing.assert_allclose(quat_wxyz_to_rotvec(a), quat_to_rotvec(quat_wxyz_to_xyzw(a)), atol=1e-14)
        np.testing.assert_allclose(quat_wxyz_to_matrix(a), quat_to_matrix(quat_wxyz_to_xyzw(a)), atol=1e-14)
        v = quat_to_rotvec(quat_wxyz_to_xyzw(a))
        np.testing.assert_allclose(quat_wxyz_from_rotvec(v), quat_xyzw_to_wxyz(quat_from_rotvec(v)), atol=1e-15)
        np.testing.assert_allclose(quat_wxyz_mul(a, quat_wxyz_conj(a)), [1, 0, 0, 0], atol=1e-15)


def test_known_answers_in_mujoco_order():
    s = np.sqrt(0.5)
    np.testing.assert_allclose(quat_wxyz_from_rotvec([0, 0, np.pi / 2]), [s, 0, 0, s], atol=1e-15)
    np.testing.assert_allclose(quat_wxyz_from_axis_angle([0, 0, 1], np.pi / 2), [s, 0, 0, s], atol=1e-15)
    np.testing.assert_array_equal(quat_wxyz_from_rotvec(np.zeros(3)), [1, 0, 0, 0])
    np.testing.assert_allclose(quat_wxyz_to_rotvec([0, 1, 0, 0]), [np.pi, 0, 0], atol=1e-15)  # edge angle pi
    np.testing.assert_allclose(quat_wxyz_to_rotvec([-s, 0, 0, -s]), [0, 0, np.pi / 2], atol=1e-15)  # w < 0: short way
    # A camera at +x looking at the origin: it looks along its -z, so its z axis is world +x; image up is world +z.
    R = quat_wxyz_to_matrix(quat_wxyz_lookat(np.array([1.0, 0, 0]), np.zeros(3)))
    np.testing.assert_allclose(R[:, 2], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(R[:, 1], [0, 0, 1], atol=1e-12)


def test_random_rotations_stay_within_the_angle():
    rng = np.random.default_rng(3)
    angles = [np.linalg.norm(quat_wxyz_to_rotvec(quat_wxyz_random(rng, 0.2))) for _ in range(200)]
    assert max(angles) <= 0.2 + 1e-12 and max(angles) > 0.15
