"""Hand-eye from synthetic recordings with a known answer: every solver, both mounts, degenerate sets refused."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CHARUCO

from calibration.camera_info import CameraInfo
from calibration.errors import DegenerateSamplesError
from calibration.handeye import METHODS, check_diversity, solve_handeye
from calibration.handeye_samples import HandEyeSamples
from calibration.synthetic import synthetic_handeye
from calibration.transforms import inv_T, make_T, rotation_angle_deg, rvec_to_R

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
CAMERA = CameraInfo(K, np.zeros(5), (640, 480), "test", "plumb_bob", np.eye(3), np.hstack([K, np.zeros((3, 1))]))


def _errors(X_est: np.ndarray, X_true: np.ndarray) -> tuple[float, float]:
    return rotation_angle_deg(X_est[:3, :3].T @ X_true[:3, :3]), 1000.0 * float(
        np.linalg.norm(X_est[:3, 3] - X_true[:3, 3])
    )


def _samples(scene, with_points: bool = True) -> HandEyeSamples:
    n = len(scene.T_base_gripper)
    pts = scene.image_points if with_points else [None] * n
    obj = [CHARUCO.corner_points()] * n if with_points else [None] * n
    return HandEyeSamples([f"s{i}" for i in range(n)], scene.T_base_gripper, scene.T_cam_board, pts, obj, camera=CAMERA)


@pytest.mark.parametrize("mode", ["eye_in_hand", "eye_to_hand"])
def test_every_method_recovers_X_at_0p3px_noise(mode):
    # Corners projected with 0.3 px Gaussian noise -> solvePnP -> board poses -> solver (+ refinement).
    scene = synthetic_handeye(CHARUCO, K, mode, 15, np.random.default_rng(5), noise_px=0.3)
    samples = _samples(scene)
    for method in METHODS:
        res = solve_handeye(samples, mode, method)
        rot, trans = _errors(res.X, scene.X)
        assert res.refined
        assert rot < 0.5 and trans < 2.0, (method, rot, trans)
        fixed_rot, fixed_trans = _errors(res.T_fixed, scene.T_fixed)
        assert fixed_rot < 0.5 and fixed_trans < 2.0, (method, fixed_rot, fixed_trans)
        s = res.summary()["residuals"]
        assert s["reprojection_px_rms"] < 0.6  # ~ the injected noise
        assert s["rotation_deg_rms"] < 0.5 and s["translation_mm_rms"] < 5.0


@pytest.mark.parametrize("mode", ["eye_in_hand", "eye_to_hand"])
def test_closed_form_alone_is_close_and_refinement_improves_it(mode):
    scene = synthetic_handeye(CHARUCO, K, mode, 15, np.random.default_rng(5), noise_px=0.3)
    closed = solve_handeye(_samples(scene, with_points=False), mode, "park")
    assert not closed.refined
    rot_c, trans_c = _errors(closed.X, scene.X)
    assert rot_c < 0.5 and trans_c < 5.0  # board-pose noise x camera distance limits the closed form
    refined = solve_handeye(_samples(scene), mode, "park")
    _, trans_r = _errors(refined.X, scene.X)
    assert trans_r < trans_c and trans_r < 1.0
    np.testing.assert_allclose(refined.X_closed_form, closed.X, atol=1e-9)


def test_residuals_flag_a_bad_sample():
    scene = synthetic_handeye(CHARUCO, K, "eye_in_hand", 12, np.random.default_rng(2), noise_px=0.1)
    # The robot reported a pose 2 cm off for one sample (e.g. the image was taken while it moved).
    scene.T_base_gripper[4] = scene.T_base_gripper[4] @ make_T(np.eye(3), [0.02, 0.0, 0.0])
    res = solve_handeye(_samples(scene, with_points=False), "eye_in_hand", "tsai")
    assert int(np.argmax(res.translation_residual_mm)) == 4
    assert res.translation_residual_mm[4] > 10.0


def _one_axis_scene(n: int, mode: str):
    """Robot rotating about its gripper z axis only (plus translations): the classic degenerate set."""
    rng = np.random.default_rng(0)
    X = make_T(rvec_to_R([0.1, -0.2, 0.3]), [0.03, 0.01, 0.08])
    T_fixed = make_T(rvec_to_R([3.0, 0.1, 0.0]), [0.5, 0.0, 0.0])
    G, C = [], []
    for i in range(n):
        g = make_T(
            rvec_to_R([0.0, 0.0, np.radians(-60 + 120 * i / (n - 1))]), rng.uniform(-0.1, 0.1, 3) + [0.4, 0, 0.4]
        )
        G.append(g)
        c = inv_T(X) @ inv_T(g) @ T_fixed if mode == "eye_in_hand" else inv_T(X) @ g @ T_fixed
        C.append(c @ make_T(rvec_to_R(rng.normal(0, 1e-3, 3)), rng.normal(0, 1e-4, 3)))
    return G, C


def test_rotations_about_one_axis_only_are_refused_with_what_to_do():
    G, C = _one_axis_scene(10, "eye_in_hand")
    report = check_diversity(G, C, "eye_in_hand")
    assert not report.ok and report.axis_ratio < 0.1
    with pytest.raises(
        DegenerateSamplesError, match=r"rotations about one axis only .*0\.00, 0\.00, 1\.00.*rotate about x and y"
    ):
        solve_handeye(HandEyeSamples([str(i) for i in range(10)], G, C, [None] * 10, [None] * 10), "eye_in_hand")


def test_too_few_samples_and_too_little_rotation_are_refused():
    scene = synthetic_handeye(CHARUCO, K, "eye_in_hand", 3, np.random.default_rng(1))
    with pytest.raises(DegenerateSamplesError, match=r"too few samples: 3 \(need at least 5"):
        solve_handeye(_samples(scene), "eye_in_hand")
    # Pure translations: the rotation part is undetermined.
    G = [make_T(np.eye(3), [0.4 + 0.05 * i, 0.02 * i, 0.3]) for i in range(8)]
    C = [make_T(np.eye(3), [0.0, 0.0, 0.5 - 0.05 * i]) for i in range(8)]
    with pytest.raises(DegenerateSamplesError, match=r"rotations too small: .* 0\.0 deg"):
        solve_handeye(HandEyeSamples([str(i) for i in range(8)], G, C, [None] * 8, [None] * 8), "eye_in_hand")


def test_wrong_mode_is_detected_and_named():
    scene = synthetic_handeye(CHARUCO, K, "eye_to_hand", 12, np.random.default_rng(3))
    with pytest.raises(
        DegenerateSamplesError,
        match=r"contradict each other as eye_in_hand.*as eye_to_hand they agree.*is --mode wrong",
    ):
        solve_handeye(_samples(scene), "eye_in_hand")


def test_advice_names_the_missing_rotation_axis():
    # Rotations about gripper x and z, almost none about y: solvable, but the operator is told.
    rng = np.random.default_rng(4)
    X = make_T(rvec_to_R([0.2, 0.1, -0.3]), [0.02, -0.03, 0.07])
    T_fixed = make_T(rvec_to_R([3.1, 0.0, 0.2]), [0.5, 0.1, 0.0])
    G, C = [], []
    for i in range(12):
        r = [rng.uniform(-0.5, 0.5), rng.normal(0, 0.01), rng.uniform(-0.5, 0.5)]
        g = make_T(rvec_to_R(r), rng.uniform(-0.1, 0.1, 3) + [0.4, 0, 0.4])
        G.append(g)
        C.append(inv_T(X) @ inv_T(g) @ T_fixed)
    report = check_diversity(G, C, "eye_in_hand")
    assert report.ok
    assert any(a.startswith("rotate more about y") for a in report.advice), report.advice
    assert not any("about x" in a or "about z" in a for a in report.advice)
    res = solve_handeye(HandEyeSamples([str(i) for i in range(12)], G, C, [None] * 12, [None] * 12), "eye_in_hand")
    rot, trans = _errors(res.X, X)
    assert rot < 0.01 and trans < 0.1  # noise-free data: exact despite the weak axis


def test_inverted_robot_poses_are_caught_and_explained():
    scene = synthetic_handeye(CHARUCO, K, "eye_in_hand", 12, np.random.default_rng(6))
    scene.T_base_gripper = [inv_T(g) for g in scene.T_base_gripper]  # logged base-in-gripper by mistake
    with pytest.raises(DegenerateSamplesError, match="base-in-gripper instead of gripper-in-base"):
        solve_handeye(_samples(scene, with_points=False), "eye_in_hand")


def test_mismatched_pose_image_pairs_are_refused():
    scene = synthetic_handeye(CHARUCO, K, "eye_in_hand", 12, np.random.default_rng(8))
    scene.T_base_gripper = scene.T_base_gripper[1:] + scene.T_base_gripper[:1]  # off by one sample
    with pytest.raises(DegenerateSamplesError, match="robot motion and board motion disagree.*paired with the image"):
        solve_handeye(_samples(scene, with_points=False), "eye_in_hand")
