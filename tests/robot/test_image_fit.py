"""Fitting camera frames to the spec: centre crop to its aspect, area resize, and the matching intrinsics."""

import numpy as np
import pytest

from robot_rl.robot.image_fit import area_resize, area_resize_numpy, centre_crop_box, fit_image, fit_intrinsics


@pytest.mark.parametrize("size, aspect, box", [
    ((640, 480), (128, 128), (80, 0, 480, 480)),   # 4:3 -> square keeps the full height
    ((480, 640), (1, 1), (0, 80, 480, 480)),       # portrait -> square keeps the full width
    ((640, 480), (4, 3), (0, 0, 640, 480)),        # same aspect: nothing cropped
    ((1280, 720), (4, 3), (160, 0, 960, 720)),
])
def test_centre_crop_box(size, aspect, box):
    assert centre_crop_box(size, aspect) == box


def test_fit_keeps_the_centre_and_averages_areas():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = 90  # the centred square
    frame[:240, 80:320] = 250  # its top-left quarter
    out = fit_image(frame, 128, 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert (out[:64, :64] == 250).all() and (out[64:, :] == 90).all() and (out[:64, 64:] == 90).all()
    # A 2x2 checker averages to grey: area averaging, not picking one pixel
    checker = (np.indices((480, 480)).sum(0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)
    assert np.abs(fit_image(checker, 120, 120).astype(int) - 128).max() <= 1


@pytest.mark.parametrize("src, dst", [((480, 480), (128, 128)), ((480, 640), (96, 128)), ((240, 320), (224, 224)),
                                      ((123, 77), (31, 19))])
def test_opencv_and_numpy_agree_within_one_level_when_shrinking(src, dst):
    pytest.importorskip("cv2")
    img = np.random.default_rng(0).integers(0, 256, (*src, 3), dtype=np.uint8)
    diff = np.abs(area_resize(img, *dst).astype(int) - area_resize_numpy(img, *dst))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # OpenCV rounds in fixed point for some ratios


def test_intrinsics_follow_the_pixels():
    """A point projected in the full frame and then fitted lands where the fitted K projects it."""
    K = np.array([[600.0, 0, 331.0], [0, 598.0, 243.5], [0, 0, 1]])
    pts = np.array([[0.1, -0.05, 1.0], [-0.2, 0.1, 2.0], [0.0, 0.0, 0.7]])
    def project(K_, p):
        uv = (K_ @ p.T).T
        return uv[:, :2] / uv[:, 2:]
    for size, to in (((640, 480), (128, 128)), ((640, 480), (64, 48)), ((480, 640), (96, 96))):
        x0, y0, w, h = centre_crop_box(size, to)
        fitted = (project(K, pts) - [x0, y0] + 0.5) * [to[0] / w, to[1] / h] - 0.5
        np.testing.assert_allclose(project(fit_intrinsics(K, size, to), pts), fitted, atol=1e-9)
