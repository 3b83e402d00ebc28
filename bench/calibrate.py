"""Calibration figures, side by side: hand-eye accuracy and time per solver (closed form vs refined),
intrinsics detection/solve time, latency estimation time. Synthetic ground truth; ~30 s on 2 cores.

    .venv/bin/python bench/calibrate.py

Named for the CLI command: a file here named after the calibration package would shadow the package.
"""

from __future__ import annotations

import time

import numpy as np

from calibration.boards import BoardConfig
from calibration.camera_info import CameraInfo
from calibration.handeye import METHODS, solve_handeye
from calibration.handeye_samples import HandEyeSamples
from calibration.intrinsics import calibrate_intrinsics
from calibration.latency import estimate_lag
from calibration.synthetic import random_views, render_board_view, synthetic_handeye
from calibration.transforms import rotation_angle_deg

BOARD = BoardConfig(kind="charuco", squares_x=7, squares_y=5, square_m=0.03, marker_m=0.022)
K = np.array([[610.0, 0.0, 326.5], [0.0, 606.0, 243.0], [0.0, 0.0, 1.0]])
D = np.array([-0.11, 0.06, 0.0008, -0.0006, 0.0])
CAMERA = CameraInfo(K, np.zeros(5), (640, 480), "bench", "plumb_bob", np.eye(3), np.hstack([K, np.zeros((3, 1))]))


def bench_handeye(seeds: int = 5, n: int = 15, noise_px: float = 0.3) -> None:
    print(f"hand-eye, eye_in_hand, {n} samples, {noise_px} px corner noise, worst of {seeds} seeds")
    print(
        f"{'method':<11} {'closed deg':>10} {'closed mm':>10} {'ms':>6} | {'refined deg':>11} {'refined mm':>10} {'ms':>6}"
    )
    scenes = [synthetic_handeye(BOARD, K, "eye_in_hand", n, np.random.default_rng(s), noise_px) for s in range(seeds)]
    for method in METHODS:
        row = []
        for refine in (False, True):
            errs, t0 = [], time.perf_counter()
            for sc in scenes:
                s = HandEyeSamples(
                    [str(i) for i in range(n)],
                    sc.T_base_gripper,
                    sc.T_cam_board,
                    sc.image_points,
                    [BOARD.corner_points()] * n,
                    camera=CAMERA,
                )
                X = solve_handeye(s, "eye_in_hand", method, refine=refine).X
                errs.append(
                    (rotation_angle_deg(X[:3, :3].T @ sc.X[:3, :3]), 1000 * np.linalg.norm(X[:3, 3] - sc.X[:3, 3]))
                )
            ms = 1000 * (time.perf_counter() - t0) / seeds
            worst = np.max(errs, axis=0)
            row.append((worst[0], worst[1], ms))
        (cd, cm, cms), (rd, rm, rms) = row
        print(f"{method:<11} {cd:>10.3f} {cm:>10.2f} {cms:>6.1f} | {rd:>11.3f} {rm:>10.2f} {rms:>6.1f}")


def bench_intrinsics(n: int = 14) -> None:
    rng = np.random.default_rng(0)
    views = random_views(BOARD, n, rng)
    render_board_view(BOARD, K, D, (640, 480), views[0], rng)  # warm the ray cache
    t0 = time.perf_counter()
    images = {f"{i}": render_board_view(BOARD, K, D, (640, 480), T, rng) for i, T in enumerate(views)}
    t_render = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    res = calibrate_intrinsics(images, BOARD)
    t_total = time.perf_counter() - t0
    print(
        f"intrinsics: {n} views 640x480: render {1000 * t_render:.0f} ms/view (synthetic only), "
        f"detect + solve {1000 * t_total:.0f} ms total; fx error {100 * abs(res.fx - K[0, 0]) / K[0, 0]:.3f} %, "
        f"RMS {res.rms_px:.3f} px"
    )


def bench_latency() -> None:
    rng = np.random.default_rng(1)
    ct = np.arange(0.0, 60.0, 0.01)
    cmd = np.repeat(rng.uniform(-1, 1, 151), 40)[: len(ct)]
    mt = np.arange(0.0, 60.0, 0.002)
    meas = cmd[np.clip(np.searchsorted(ct, mt - 0.0437, side="right") - 1, 0, None)]
    t0 = time.perf_counter()
    est = estimate_lag(ct, cmd, mt, meas, max_lag_s=0.5, ref_hold=True)
    print(
        f"latency: 60 s trace, 1 ms grid, lags 0-500 ms: {1000 * (time.perf_counter() - t0):.0f} ms, "
        f"error {1000 * abs(est.lag_s - 0.0437):.2f} ms"
    )


if __name__ == "__main__":
    bench_handeye()
    bench_intrinsics()
    bench_latency()
