"""Calibration targets (ChArUco and plain chessboard) and their detection in one image.

Board geometry follows OpenCV: the board frame has its origin at the board's top-left outer
corner, x to the right, y down the printed page, z into the board; units are metres.
``squares`` counts *squares* for both kinds (a 7x5 chessboard has 6x4 inner corners), so the
same numbers describe the printed sheet whichever kind it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from robot_rl.config import StrictConfig

BoardKind = Literal["charuco", "chessboard"]


def parse_squares(text: str) -> tuple[int, int]:
    """``"7x5"`` -> ``(7, 5)``: squares across and down. Raises ``ValueError`` naming the format."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise ValueError(f"squares: got {text!r}; expected WxH, e.g. 7x5")
    return int(m.group(1)), int(m.group(2))


class BoardConfig(StrictConfig):
    """A printed calibration target. Lengths in metres (the CLI takes millimetres)."""

    kind: BoardKind = "charuco"
    squares_x: int = Field(ge=3, le=100, description="squares across")
    squares_y: int = Field(ge=3, le=100, description="squares down")
    square_m: float = Field(gt=0.0, le=1.0, description="side of one square [m]")
    marker_m: float | None = Field(default=None, gt=0.0, le=1.0, description="ArUco marker side [m] (charuco only)")
    dictionary: str = Field(default="DICT_5X5_100", description="cv2.aruco predefined dictionary (charuco only)")

    @field_validator("dictionary")
    @classmethod
    def _known_dictionary(cls, v: str) -> str:
        if not v.startswith("DICT_") or not hasattr(cv2.aruco, v):
            known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
            raise ValueError(f"unknown ArUco dictionary {v!r}; known: {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _marker_fits(self) -> BoardConfig:
        if self.kind == "charuco":
            if self.marker_m is None:
                raise ValueError("a charuco board needs marker_m (marker side)")
            if self.marker_m >= self.square_m:
                raise ValueError(f"marker_m ({self.marker_m}) must be smaller than square_m ({self.square_m})")
        return self

    @property
    def inner_corners(self) -> tuple[int, int]:
        """Inner chessboard corners across and down: ``(squares_x - 1, squares_y - 1)``."""
        return self.squares_x - 1, self.squares_y - 1

    @property
    def num_corners(self) -> int:
        cx, cy = self.inner_corners
        return cx * cy

    @property
    def size_m(self) -> tuple[float, float]:
        """Printed board width and height in metres."""
        return self.squares_x * self.square_m, self.squares_y * self.square_m

    def corner_points(self) -> np.ndarray:
        """All inner corners in the board frame, row by row, ``(num_corners, 3)`` [m]."""
        cx, cy = self.inner_corners
        j, i = np.meshgrid(np.arange(cx), np.arange(cy))
        pts = np.stack([(j.ravel() + 1) * self.square_m, (i.ravel() + 1) * self.square_m, np.zeros(cx * cy)], axis=1)
        return pts  # (cx*cy, 3), same order as OpenCV's CharucoBoard.getChessboardCorners()

    def detector(self) -> BoardDetector:
        """A detector for this board (builds the OpenCV objects once)."""
        return BoardDetector(self)


@dataclass(frozen=True)
class Detection:
    """Board corners found in one image: ``object_points (N, 3)`` [m] and ``image_points (N, 2)`` [px]."""

    object_points: np.ndarray
    image_points: np.ndarray
    ids: np.ndarray  # (N,) corner indices into BoardConfig.corner_points()


class BoardDetector:
    """Finds a board's inner corners in grayscale images, to sub-pixel accuracy."""

    def __init__(self, board: BoardConfig) -> None:
        self.board = board

    @cached_property
    def charuco_board(self) -> cv2.aruco.CharucoBoard:
        b = self.board
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, b.dictionary))
        return cv2.aruco.CharucoBoard((b.squares_x, b.squares_y), b.square_m, b.marker_m, dictionary)

    @cached_property
    def _charuco_detector(self) -> cv2.aruco.CharucoDetector:
        return cv2.aruco.CharucoDetector(self.charuco_board)

    def detect(self, image: np.ndarray) -> Detection | None:
        """Corners in ``image`` (gray or BGR uint8), or ``None`` when the board is not found."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.board.kind == "charuco":
            return self._detect_charuco(gray)
        return self._detect_chessboard(gray)

    def _detect_charuco(self, gray: np.ndarray) -> Detection | None:
        corners, ids, _, _ = self._charuco_detector.detectBoard(gray)
        if ids is None or len(ids) == 0:
            return None
        ids = ids.reshape(-1).astype(np.int64)
        obj = self.board.corner_points()[ids]
        return Detection(obj, corners.reshape(-1, 2).astype(np.float64), ids)

    def _detect_chessboard(self, gray: np.ndarray) -> Detection | None:
        pattern = self.board.inner_corners
        # The sector-based detector is more accurate than findChessboardCorners + cornerSubPix.
        found, corners = cv2.findChessboardCornersSB(gray, pattern, flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not found:
            return None
        ids = np.arange(self.board.num_corners)
        return Detection(self.board.corner_points(), corners.reshape(-1, 2).astype(np.float64), ids)

    def render(self, pixels_per_square: int = 100, margin_px: int = 0) -> np.ndarray:
        """The board as it should be printed (uint8 gray), ``squares * pixels_per_square`` + margins.

        Pixel ``(u, v)`` shows board point ``((u + 0.5 - margin) / s, (v + 0.5 - margin) / s)``
        times ``square_m`` where ``s = pixels_per_square``.
        """
        b = self.board
        w, h = b.squares_x * pixels_per_square, b.squares_y * pixels_per_square
        if b.kind == "charuco":
            return self.charuco_board.generateImage(
                (w + 2 * margin_px, h + 2 * margin_px), marginSize=margin_px, borderBits=1
            )
        j, i = np.meshgrid(np.arange(w) // pixels_per_square, np.arange(h) // pixels_per_square)
        img = np.where((i + j) % 2 == 0, 0, 255).astype(np.uint8)
        return cv2.copyMakeBorder(img, margin_px, margin_px, margin_px, margin_px, cv2.BORDER_CONSTANT, value=255)
