"""Shared synthetic ground truth for the calibration tests: a known camera and board views of it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.boards import BoardConfig
from calibration.synthetic import random_views, render_board_view

SIZE = (640, 480)
# A realistic webcam-like camera with visible barrel distortion.
K_TRUE = np.array([[610.0, 0.0, 326.5], [0.0, 606.0, 243.0], [0.0, 0.0, 1.0]])
D_TRUE = np.array([-0.11, 0.06, 0.0008, -0.0006, 0.0])
CHARUCO = BoardConfig(
    kind="charuco", squares_x=7, squares_y=5, square_m=0.03, marker_m=0.022, dictionary="DICT_5X5_100"
)
NUM_VIEWS = 14


@pytest.fixture(scope="session")
def charuco_views() -> dict[str, np.ndarray]:
    """14 rendered ChArUco views (640x480, gray-level noise) through K_TRUE / D_TRUE."""
    rng = np.random.default_rng(7)
    return {
        f"view_{i:02d}.png": render_board_view(CHARUCO, K_TRUE, D_TRUE, SIZE, T, rng)
        for i, T in enumerate(random_views(CHARUCO, NUM_VIEWS, rng))
    }


@pytest.fixture(scope="session")
def charuco_folder(tmp_path_factory, charuco_views) -> str:
    """The views as PNG files in a folder, as an operator would capture them."""
    folder = tmp_path_factory.mktemp("charuco_images")
    for name, img in charuco_views.items():
        cv2.imwrite(str(folder / name), img)
    return str(folder)
