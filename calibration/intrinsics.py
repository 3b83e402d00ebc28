"""Camera intrinsics (pinhole + plumb_bob distortion) from images of a calibration board.

Every image is either used or rejected with a reason the operator can act on:
``no board found``, ``too few corners`` (partly visible or blurred board), ``corners nearly
collinear``, or ``outlier`` (reprojection error far above the other views: a moved board, motion
blur, a wrong detection). Outliers are removed one at a time, worst first, re-solving in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from calibration.boards import BoardConfig, Detection
from calibration.errors import CalibrationError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class IntrinsicsOptions:
    """Knobs of :func:`calibrate_intrinsics` (defaults suit a 7x5 ChArUco and 10-30 views)."""

    min_corners: int = 8  # per view; fewer constrain the homography badly
    min_views: int = 6
    outlier_factor: float = 3.0  # a view is an outlier above factor * median per-view error ...
    outlier_min_px: float = 0.5  # ... and above this many pixels (keeps sub-pixel views however noisy the rest)
    max_error_px: float = 2.0  # and any view above this is rejected whatever the median
    k_coefficients: int = 2  # radial terms solved (2: k1, k2 like ROS camera_calibration; 3 adds k3)


@dataclass
class IntrinsicsResult:
    """A solved camera: ``K (3, 3)``, ``D (5,)`` plumb_bob ``[k1, k2, p1, p2, k3]``, ``size = (W, H)``."""

    K: np.ndarray
    D: np.ndarray
    size: tuple[int, int]
    rms_px: float  # RMS reprojection error over all corners of the used views
    view_errors_px: dict[str, float]  # per used view: RMS reprojection error
    rejected: dict[str, str] = field(default_factory=dict)  # view name -> reason
    rvecs: list[np.ndarray] = field(default_factory=list)
    tvecs: list[np.ndarray] = field(default_factory=list)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    def summary(self) -> dict:
        """JSON-friendly figures: ``fx, fy, cx, cy, rms, D``, views used and rejected with reasons."""
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "rms": self.rms_px,
            "distortion": [float(v) for v in self.D],
            "image_width": self.size[0],
            "image_height": self.size[1],
            "views_used": len(self.view_errors_px),
            "view_errors_px": self.view_errors_px,
            "rejected": self.rejected,
        }


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (sorted by name). Raises :class:`CalibrationError` when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: not a directory of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise CalibrationError(f"{path}: cannot be read as an image")
    return img


def _spans_plane(detection: Detection) -> bool:
    # Corners along one line (one row of a partly seen board) give no homography.
    pts = detection.object_points[:, :2] - detection.object_points[:, :2].mean(axis=0)
    s = np.linalg.svd(pts, compute_uv=False)
    return len(s) == 2 and s[1] > 0.1 * s[0]


def detect_views(
    images: dict[str, np.ndarray], board: BoardConfig, min_corners: int
) -> tuple[dict[str, Detection], dict[str, str], tuple[int, int]]:
    """Detect the board in each image. Returns usable detections, rejections ``{name: reason}``, image size."""
    detector = board.detector()
    sizes = {(img.shape[1], img.shape[0]) for img in images.values()}
    if len(sizes) > 1:
        raise CalibrationError(f"images have different sizes {sorted(sizes)}; calibrate one camera mode at a time")
    size = sizes.pop()
    good: dict[str, Detection] = {}
    rejected: dict[str, str] = {}
    for name, img in images.items():
        det = detector.detect(img)
        if det is None:
            rejected[name] = "no board found"
        elif len(det.ids) < min_corners:
            rejected[name] = f"too few corners: {len(det.ids)} of {board.num_corners} (need {min_corners})"
        elif not _spans_plane(det):
            rejected[name] = "corners nearly collinear (board seen edge-on or one row only)"
        else:
            good[name] = det
    return good, rejected, size


def _solve(dets: list[Detection], size: tuple[int, int], flags: int):
    obj = [d.object_points.astype(np.float32) for d in dets]
    img = [d.image_points.astype(np.float32) for d in dets]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    rms, K, D, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
        obj, img, size, None, None, flags=flags, criteria=criteria
    )
    return rms, K, D.reshape(-1)[:5], rvecs, tvecs, per_view.reshape(-1)


def calibrate_from_detections(
    detections: dict[str, Detection],
    size: tuple[int, int],
    options: IntrinsicsOptions = IntrinsicsOptions(),
    rejected: dict[str, str] | None = None,
) -> IntrinsicsResult:
    """Solve ``K, D`` from per-view corner detections, rejecting outlier views one at a time."""
    rejected = dict(rejected or {})
    flags = 0 if options.k_coefficients >= 3 else cv2.CALIB_FIX_K3
    names = list(detections)
    while True:
        if len(names) < options.min_views:
            reasons = "".join(f"\n  {n}: {r}" for n, r in rejected.items())
            raise CalibrationError(
                f"too few usable views: {len(names)} (need at least {options.min_views}); "
                f"capture more images with the whole board visible at varied angles. Rejected:{reasons or ' none'}"
            )
        rms, K, D, rvecs, tvecs, per_view = _solve([detections[n] for n in names], size, flags)
        median = float(np.median(per_view))
        limit = min(options.max_error_px, max(options.outlier_factor * median, options.outlier_min_px))
        worst = int(np.argmax(per_view))
        if per_view[worst] <= limit:
            break
        rejected[names[worst]] = (
            f"outlier: reprojection error {per_view[worst]:.2f} px > limit {limit:.2f} px "
            f"(median of views {median:.2f} px)"
        )
        log.info("rejecting %s: %s", names[worst], rejected[names[worst]])
        names.pop(worst)
    return IntrinsicsResult(
        K=K,
        D=D,
        size=size,
        rms_px=float(rms),
        view_errors_px={n: float(e) for n, e in zip(names, per_view)},
        rejected=rejected,
        rvecs=list(rvecs),
        tvecs=list(tvecs),
    )


def calibrate_intrinsics(
    images: dict[str, np.ndarray], board: BoardConfig, options: IntrinsicsOptions = IntrinsicsOptions()
) -> IntrinsicsResult:
    """Intrinsics from ``{view name: gray or BGR uint8 image}`` of ``board``."""
    if not images:
        raise CalibrationError("no images given")
    detections, rejected, size = detect_views(images, board, options.min_corners)
    return calibrate_from_detections(detections, size, options, rejected)


def calibrate_intrinsics_folder(
    folder: str | Path, board: BoardConfig, options: IntrinsicsOptions = IntrinsicsOptions()
) -> IntrinsicsResult:
    """:func:`calibrate_intrinsics` over every image file in ``folder`` (view names are file names)."""
    return calibrate_intrinsics({p.name: read_gray(p) for p in list_images(folder)}, board, options)
