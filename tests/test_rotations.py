"""robot_rl.rotations: known answers in (x, y, z, w), round trips, the w >= 0 representative, 0 and pi."""

import numpy as np
import pytest

from robot_rl.rotations import (
    quat_conj,
    quat_from_matrix,
    quat_from_rotvec,
    quat_mul,
    quat_normalize,
    quat_to_matrix,
    quat_to_rotvec,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
)

S = np.sqrt(0.5)
RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 degrees about z
RX180 = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x


def _unit_quats(n: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_known_answers_in_xyzw_order():
    np.testing.assert_allclose(quat_from_rotvec([0.0, 0.0, np.pi / 2]), [0, 0, S, S], atol=1e-15)
    np.testing.assert_allclose(quat_to_rotvec([0, 0, S, S]), [0, 0, np.pi / 2], atol=1e-15)
    np.testing.assert_allclose(quat_to_matrix([0, 0, S, S]), RZ90, atol=1e-15)
    np.testing.assert_allclose(quat_from_matrix(RZ90), [0, 0, S, S], atol=1e-15)
    # The rotation rotates vectors: x goes to y under 90 degrees about z.
    np.testing.assert_allclose(quat_to_matrix(quat_from_rotvec([0, 0, np.pi / 2])) @ [1, 0, 0], [0, 1, 0], atol=1e-15)


def test_edge_angles_zero_and_pi():
    np.testing.assert_array_equal(quat_from_rotvec(np.zeros(3)), [0, 0, 0, 1])
    np.testing.assert_array_equal(quat_to_rotvec([0, 0, 0, 1]), np.zeros(3))
    np.testing.assert_array_equal(quat_from_matrix(np.eye(3)), [0, 0, 0, 1])
    np.testing.assert_allclose(quat_from_rotvec([np.pi, 0, 0]), [1, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(quat_to_rotvec([1, 0, 0, 0]), [np.pi, 0, 0], atol=1e-15)
    np.testing.assert_allclose(quat_to_matrix([1, 0, 0, 0]), RX180, atol=1e-15)
    np.testing.assert_allclose(np.abs(quat_from_matrix(RX180)), [1, 0, 0, 0], atol=1e-15)  # +-q: w = 0
    # A tiny angle keeps its precision (no 0/0): the small-angle branch of the conversion.
    np.testing.assert_allclose(quat_to_rotvec(quat_from_rotvec([1e-10, -2e-10, 3e-10])), [1e-10, -2e-10, 3e-10],
                               rtol=1e-9)


def test_the_w_non_negative_representative():
    q = np.array([0.1, -0.2, 0.3, -0.9])
    n = quat_normalize(q)
    assert n[3] > 0 and np.linalg.norm(n) == pytest.approx(1.0)
    np.testing.assert_allclose(n, -q / np.linalg.norm(q))
    np.testing.assert_allclose(quat_normalize(2.0 * np.array([0.0, 0.0, S, S])), [0, 0, S, S])
    # -q is the same rotation: same rotation vector (angle <= pi), same matrix.
    np.testing.assert_allclose(quat_to_rotvec(q), quat_to_rotvec(-q), atol=1e-15)
    np.testing.assert_allclose(quat_to_matrix(q), quat_to_matrix(-q), atol=1e-15)
    assert np.all(quat_from_matrix(quat_to_matrix(_unit_quats(50)))[:, 3] >= 0)
    # An angle above pi gives w < 0 from the rotation vector (w = cos(angle / 2)); it is the short way round.
    long_way = quat_from_rotvec([0.0, 0.0, 4.0])
    assert long_way[3] < 0
    np.testing.assert_allclose(quat_to_rotvec(long_way), [0, 0, 4.0 - 2 * np.pi], atol=1e-12)


def test_zero_or_non_finite_quaternions_are_refused():
    for bad in ([0.0, 0.0, 0.0, 0.0], [np.nan, 0.0, 0.0, 1.0], [np.inf, 0.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match="has no direction"):
            quat_normalize(bad)
        with pytest.raises(ValueError, match="has no direction"):
            quat_to_matrix(bad)
        with pytest.raises(ValueError, match="has no direction"):
            quat_to_rotvec(bad)
    with pytest.raises(ValueError, match=r"quaternion \[0.0, 0.0, 0.0, 0.0\] has no direction"):
        quat_normalize(np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))  # one bad row of a batch


def test_round_trips_batched():
    q = quat_normalize(_unit_quats(200, seed=1))  # (200, 4)
    np.testing.assert_allclose(quat_from_matrix(quat_to_matrix(q)), q, atol=1e-14)
    np.testing.assert_allclose(quat_normalize(quat_from_rotvec(quat_to_rotvec(q))), q, atol=1e-14)
    v = np.random.default_rng(2).uniform(-1, 1, (200, 3)) * 1.7  # angles up to ~2.9 rad < pi
    np.testing.assert_allclose(quat_to_rotvec(quat_from_rotvec(v)), v, atol=1e-13)
    assert np.all(np.linalg.norm(quat_to_rotvec(q), axis=1) <= np.pi + 1e-12)


def test_product_and_conjugate_match_matrices():
    a, b = _unit_quats(2, seed=3)
    np.testing.assert_allclose(quat_to_matrix(quat_mul(a, b)), quat_to_matrix(a) @ quat_to_matrix(b), atol=1e-14)
    np.testing.assert_allclose(quat_normalize(quat_mul(a, quat_conj(a))), [0, 0, 0, 1], atol=1e-15)
    np.testing.assert_allclose(quat_to_matrix(quat_conj(a)), quat_to_matrix(a).T, atol=1e-14)
    # Batched product equals the row-by-row one.
    A, B = _unit_quats(10, seed=4), _unit_quats(10, seed=5)
    np.testing.assert_array_equal(quat_mul(A, B), np.stack([quat_mul(x, y) for x, y in zip(A, B)]))
    # Known answer: two 90-degree turns about z make 180 degrees about z.
    np.testing.assert_allclose(quat_mul([0, 0, S, S], [0, 0, S, S]), [0, 0, 1, 0], atol=1e-15)


def test_mujoco_order_conversions():
    wxyz = np.array([0.9, 0.1, -0.2, 0.3])
    np.testing.assert_array_equal(quat_wxyz_to_xyzw(wxyz), [0.1, -0.2, 0.3, 0.9])
    np.testing.assert_array_equal(quat_xyzw_to_wxyz(quat_wxyz_to_xyzw(wxyz)), wxyz)
    batch = _unit_quats(5)
    np.testing.assert_array_equal(quat_wxyz_to_xyzw(quat_xyzw_to_wxyz(batch)), batch)
