"""Joint refinement of a hand-eye solution by minimising corner reprojection error.

The closed-form solvers average per-sample board poses, whose rotation noise (a few tenths of a
degree for a small board) is amplified by the camera-to-board distance into millimetres of
translation error. Fitting ``X`` and the fixed board pose to every detected corner at once, with
the robot poses held fixed, uses all the information and removes most of that error.

Levenberg-Marquardt over 12 parameters (a 6-D increment of ``X`` and of ``T_fixed``) with a
numerical Jacobian: small enough that a hand-written solver is clearer than a dependency.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.transforms import inv_T, make_T, rvec_to_R


def _increment(T: np.ndarray, d: np.ndarray) -> np.ndarray:
    # Right-multiplied increment: rotation vector d[:3] and translation d[3:] in T's own frame.
    return T @ make_T(rvec_to_R(d[:3]), d[3:])


def reprojection_residuals(
    X: np.ndarray,
    T_fixed: np.ndarray,
    H: list[np.ndarray],
    obj: list[np.ndarray],
    pts: list[np.ndarray],
    K: np.ndarray,
    D: np.ndarray,
) -> np.ndarray:
    """Stacked ``(sum N_i * 2,)`` pixel residuals of predicted board ``inv(X) H_i T_fixed`` vs detected corners."""
    out = []
    X_inv = inv_T(X)
    for h, o, p in zip(H, obj, pts):
        T_cb = X_inv @ h @ T_fixed
        proj, _ = cv2.projectPoints(o, cv2.Rodrigues(T_cb[:3, :3])[0], T_cb[:3, 3], K, D)
        out.append((proj.reshape(-1, 2) - p).ravel())
    return np.concatenate(out)


def refine_handeye(
    X: np.ndarray,
    T_fixed: np.ndarray,
    H: list[np.ndarray],
    obj: list[np.ndarray],
    pts: list[np.ndarray],
    K: np.ndarray,
    D: np.ndarray,
    iterations: int = 30,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Refine ``(X, T_fixed)`` so that ``inv(X) @ H_i @ T_fixed`` reprojects the board onto ``pts[i]``.

    ``H_i`` is ``inv(T_base_gripper_i)`` for eye-in-hand and ``T_base_gripper_i`` for eye-to-hand.
    Returns the refined pair and the final RMS reprojection error [px].
    """
    params = np.zeros(12)
    scale = np.array([1e-3] * 3 + [1e-4] * 3)  # finite-difference steps: rad, m

    def residuals(p: np.ndarray) -> np.ndarray:
        return reprojection_residuals(_increment(X, p[:6]), _increment(T_fixed, p[6:]), H, obj, pts, K, D)

    r = residuals(params)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(iterations):
        J = np.empty((len(r), 12))  # (M, 12)
        for k in range(12):
            step = scale[k % 6]
            dp = np.zeros(12)
            dp[k] = step
            J[:, k] = (residuals(params + dp) - residuals(params - dp)) / (2 * step)
        JtJ, Jtr = J.T @ J, J.T @ r
        improved = False
        while lam < 1e8:
            delta = -np.linalg.solve(JtJ + lam * np.diag(np.diag(JtJ) + 1e-12), Jtr)
            r_new = residuals(params + delta)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                params, r, lam, improved = params + delta, r_new, lam * 0.3, True
                break
            lam *= 10
        if not improved or abs(cost - cost_new) < 1e-10 * max(cost, 1e-12):
            cost = min(cost, cost_new)
            break
        cost = cost_new
    rms = float(np.sqrt(cost / (len(r) / 2)))
    return _increment(X, params[:6]), _increment(T_fixed, params[6:]), rms
