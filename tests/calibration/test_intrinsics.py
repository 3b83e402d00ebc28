"""Intrinsics recovered from rendered board images with a known camera; bad views rejected with reasons."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import CHARUCO, D_TRUE, K_TRUE, SIZE

from calibration.boards import BoardConfig
from calibration.errors import CalibrationError
from calibration.intrinsics import IntrinsicsOptions, calibrate_intrinsics, calibrate_intrinsics_folder
from calibration.synthetic import look_at_pose, random_views, render_board_view


def _rel(a: float, b: float) -> float:
    return abs(a - b) / b


def test_charuco_recovers_focal_length_and_principal_point(charuco_views):
    res = calibrate_intrinsics(charuco_views, CHARUCO)
    assert not res.rejected, res.rejected
    assert res.size == SIZE
    assert _rel(res.fx, K_TRUE[0, 0]) < 0.005 and _rel(res.fy, K_TRUE[1, 1]) < 0.005
    assert abs(res.cx - K_TRUE[0, 2]) < 3.0 and abs(res.cy - K_TRUE[1, 2]) < 3.0
    assert abs(res.D[0] - D_TRUE[0]) < 0.02  # k1: the dominant distortion term
    assert res.rms_px < 0.3  # detections on clean renders are sub-pixel
    assert len(res.view_errors_px) == len(charuco_views)
    # The solved lens model undistorts like the true one where the views covered the image.
    grid = np.array([[u, v] for u in (100, 320, 540) for v in (80, 240, 400)], dtype=np.float64).reshape(-1, 1, 2)
    ref = cv2.undistortPoints(grid, K_TRUE, D_TRUE, P=K_TRUE)
    got = cv2.undistortPoints(grid, res.K, res.D, P=K_TRUE)
    assert np.abs(ref - got).max() < 1.0


def test_chessboard_recovers_focal_length():
    board = BoardConfig(kind="chessboard", squares_x=8, squares_y=6, square_m=0.025)
    rng = np.random.default_rng(3)
    views = {
        f"c{i}.png": render_board_view(board, K_TRUE, D_TRUE, SIZE, T, rng)
        for i, T in enumerate(random_views(board, 12, rng))
    }
    res = calibrate_intrinsics(views, board)
    assert len(res.view_errors_px) >= 10, res.rejected
    assert _rel(res.fx, K_TRUE[0, 0]) < 0.005 and _rel(res.fy, K_TRUE[1, 1]) < 0.005


def test_bad_views_are_rejected_with_the_reason(charuco_views):
    rng = np.random.default_rng(11)
    views = dict(charuco_views)
    views["blank.png"] = np.full(SIZE[::-1], 120, np.uint8)
    # Board mostly out of the frame: a few corners only.
    views["edge.png"] = render_board_view(
        CHARUCO, K_TRUE, D_TRUE, SIZE, look_at_pose(CHARUCO, 0.3, 5, 0, 0, offset=(0.16, 0.1)), rng
    )
    # Taken through a different lens (zoomed): does not fit the others.
    K_zoom = K_TRUE.copy()
    K_zoom[:2, :2] *= 1.25
    views["zoomed.png"] = render_board_view(CHARUCO, K_zoom, D_TRUE, SIZE, look_at_pose(CHARUCO, 0.5, 30, 45, 10), rng)
    res = calibrate_intrinsics(views, CHARUCO)
    assert res.rejected["blank.png"] == "no board found"
    assert res.rejected["edge.png"].startswith("too few corners")
    assert res.rejected["zoomed.png"].startswith("outlier: reprojection error")
    assert set(res.view_errors_px) == set(charuco_views)  # every good view kept
    assert _rel(res.fx, K_TRUE[0, 0]) < 0.005


def test_too_few_views_is_an_error_listing_the_rejections(charuco_views):
    views = dict(list(charuco_views.items())[:3])
    views["blank.png"] = np.zeros(SIZE[::-1], np.uint8)
    with pytest.raises(
        CalibrationError, match=r"too few usable views: 3 \(need at least 6\)(.|\n)*blank.png: no board found"
    ):
        calibrate_intrinsics(views, CHARUCO)


def test_no_board_anywhere_is_an_error_not_numbers():
    views = {f"b{i}.png": np.random.default_rng(i).integers(0, 255, SIZE[::-1], dtype=np.uint8) for i in range(8)}
    with pytest.raises(CalibrationError, match="too few usable views: 0"):
        calibrate_intrinsics(views, CHARUCO, IntrinsicsOptions())


def test_folder_errors(tmp_path):
    with pytest.raises(CalibrationError, match="not a directory"):
        calibrate_intrinsics_folder(tmp_path / "missing", CHARUCO)
    with pytest.raises(CalibrationError, match="no images"):
        calibrate_intrinsics_folder(tmp_path, CHARUCO)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((480, 640), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((240, 320), np.uint8))
    with pytest.raises(CalibrationError, match="different sizes"):
        calibrate_intrinsics_folder(tmp_path, CHARUCO)
