"""Synthetic ground truth for tests, benchmarks and demos: board images rendered through a known
camera (pinhole + plumb_bob distortion), and robot/board pose sets with a known hand-eye transform.

Rendering is exact ray casting: each output pixel is undistorted to a ray, intersected with the
board plane and looked up in the printed board image (2x supersampled, then area-averaged).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from calibration.boards import BoardConfig, BoardDetector
from calibration.transforms import inv_T, make_T, rvec_to_R

_PX_PER_SQUARE = 120  # printed-board texture resolution; above the camera's so lookups do not alias


@lru_cache(maxsize=4)
def _board_texture(board: BoardConfig) -> np.ndarray:
    # A white border, as on a printed sheet (chessboard detection needs it).
    return BoardDetector(board).render(_PX_PER_SQUARE, _PX_PER_SQUARE // 2)


@lru_cache(maxsize=2)
def _pixel_rays(K_bytes: bytes, D_bytes: bytes, W: int, H: int) -> np.ndarray:
    # Undistorting a million pixels is the slow part of rendering; every view of one camera shares it.
    K, D = np.frombuffer(K_bytes).reshape(3, 3), np.frombuffer(D_bytes)
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)  # (W*H, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9)
    return cv2.undistortPointsIter(pix, K, D, None, None, criteria).reshape(-1, 2)  # (W*H, 2) normalised


def look_at_pose(
    board: BoardConfig,
    distance: float,
    tilt_deg: float,
    azimuth_deg: float,
    roll_deg: float,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """``T_cam_board`` for a camera ``distance`` m from the board centre (+``offset`` m in the board
    plane), its view axis tilted ``tilt_deg`` from the board normal towards ``azimuth_deg``, rolled ``roll_deg``."""
    w, h = board.size_m
    target = np.array([w / 2 + offset[0], h / 2 + offset[1], 0.0])
    a, b = np.radians(tilt_deg), np.radians(azimuth_deg)
    # The board's z axis points into the board: the camera sits on the -z side.
    position = target + distance * np.array([np.sin(a) * np.cos(b), np.sin(a) * np.sin(b), -np.cos(a)])
    z = target - position
    z /= np.linalg.norm(z)
    x = np.array([1.0, 0.0, 0.0]) - z * z[0]
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R_board_cam = np.stack([x, y, z], axis=1) @ rvec_to_R([0.0, 0.0, np.radians(roll_deg)])
    return inv_T(make_T(R_board_cam, position))


def random_views(
    board: BoardConfig,
    n: int,
    rng: np.random.Generator,
    distance: tuple[float, float] = (0.35, 0.55),
    max_tilt_deg: float = 40.0,
) -> list[np.ndarray]:
    """``n`` varied ``T_cam_board`` poses that keep a 7x5-ish board mostly in a 640x480 view."""
    w, h = board.size_m
    return [
        look_at_pose(
            board,
            rng.uniform(*distance),
            rng.uniform(10.0, max_tilt_deg),
            rng.uniform(0, 360),
            rng.uniform(-25, 25),
            (rng.uniform(-0.15, 0.15) * w, rng.uniform(-0.15, 0.15) * h),
        )
        for _ in range(n)
    ]


def render_board_view(
    board: BoardConfig,
    K: np.ndarray,
    D: np.ndarray,
    size: tuple[int, int],
    T_cam_board: np.ndarray,
    rng: np.random.Generator | None = None,
    noise_gray: float = 2.0,
    background: int = 110,
) -> np.ndarray:
    """The board seen by camera ``(K, D)`` at ``T_cam_board``: uint8 gray image of ``size = (W, H)``."""
    margin = _PX_PER_SQUARE // 2
    texture = _board_texture(board)
    ss = 2  # supersampling factor
    W, H = size
    K_ss = np.array(K, dtype=np.float64).copy()
    K_ss[:2, :2] *= ss
    K_ss[:2, 2] = K_ss[:2, 2] * ss + (ss - 1) / 2.0  # high-res pixel centres average to the low-res centre
    rays = _pixel_rays(K_ss.tobytes(), np.asarray(D, dtype=np.float64).tobytes(), W * ss, H * ss)
    Hmg = np.column_stack([T_cam_board[:3, 0], T_cam_board[:3, 1], T_cam_board[:3, 3]])  # board (X,Y,1) -> ray
    plane = np.linalg.solve(Hmg, np.column_stack([rays, np.ones(len(rays))]).T).T  # (N, 3) ~ (X, Y, 1)
    in_front = plane[:, 2] > 0
    X = np.where(in_front, plane[:, 0] / np.where(in_front, plane[:, 2], 1.0), -1.0)
    Y = np.where(in_front, plane[:, 1] / np.where(in_front, plane[:, 2], 1.0), -1.0)
    s = _PX_PER_SQUARE / board.square_m
    map_x = (X * s + margin - 0.5).reshape(H * ss, W * ss).astype(np.float32)
    map_y = (Y * s + margin - 0.5).reshape(H * ss, W * ss).astype(np.float32)
    hi = cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background)
    img = cv2.resize(hi, (W, H), interpolation=cv2.INTER_AREA).astype(np.float64)
    if rng is not None and noise_gray > 0:
        img += rng.normal(0.0, noise_gray, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@dataclass
class HandEyeScene:
    """Ground truth and noisy observations for one hand-eye data set.

    ``X`` is the unknown being calibrated: ``T_gripper_cam`` (eye-in-hand) or ``T_base_cam``
    (eye-to-hand). ``T_base_gripper[i]`` and ``T_cam_board[i]`` are what a recording holds.
    """

    mode: str
    X: np.ndarray
    T_fixed: np.ndarray  # board in base (eye-in-hand) or board in gripper (eye-to-hand)
    T_base_gripper: list[np.ndarray]
    T_cam_board: list[np.ndarray]  # estimated by solvePnP from noisy corners
    image_points: list[np.ndarray]  # (N, 2) noisy corners per sample


def synthetic_handeye(
    board: BoardConfig,
    K: np.ndarray,
    mode: str,
    n: int,
    rng: np.random.Generator,
    noise_px: float = 0.3,
    max_tilt_deg: float = 35.0,
) -> HandEyeScene:
    """A hand-eye recording with a known answer: varied views of the board, corners projected through
    ``K`` with Gaussian ``noise_px`` noise, board poses recovered with solvePnP (as from real images)."""
    X = make_T(rvec_to_R(rng.normal(0, 0.6, 3)), rng.uniform(-0.08, 0.08, 3))
    T_fixed = make_T(rvec_to_R(rng.normal(0, 0.6, 3)), rng.uniform(-0.3, 0.3, 3))
    obj = board.corner_points()
    D0 = np.zeros(5)
    poses, boards, points = [], [], []
    for T_cb in random_views(board, n, rng, max_tilt_deg=max_tilt_deg):
        if mode == "eye_in_hand":  # base <- board <- cam <- gripper
            T_bg = T_fixed @ inv_T(T_cb) @ inv_T(X)
        else:  # base <- cam <- board <- gripper
            T_bg = X @ T_cb @ inv_T(T_fixed)
        img, _ = cv2.projectPoints(obj, cv2.Rodrigues(T_cb[:3, :3])[0], T_cb[:3, 3], K, D0)
        img = img.reshape(-1, 2) + rng.normal(0.0, noise_px, (len(obj), 2))
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, D0, flags=cv2.SOLVEPNP_ITERATIVE)
        assert ok
        poses.append(T_bg)
        boards.append(make_T(rvec_to_R(rvec), tvec))
        points.append(img)
    return HandEyeScene(mode, X, T_fixed, poses, boards, points)
