"""Hand-eye calibration: where the camera is relative to the robot.

Two set-ups, one equation. With ``G_i = T_base_gripper`` (robot end-effector pose) and
``C_i = T_cam_board`` (board pose seen by the camera) for samples ``i``:

- ``eye_in_hand``: camera on the gripper, board fixed in the world. Unknown ``X = T_gripper_cam``;
  ``G_i X C_i = T_base_board`` is the same for every sample.
- ``eye_to_hand``: camera fixed, board held by the gripper. Unknown ``X = T_base_cam``;
  ``G_i^-1 X C_i = T_gripper_board`` is the same for every sample.

Between two samples this is ``A X = X B`` with ``A`` the robot motion and ``B`` the camera motion.
Solvers: OpenCV's ``calibrateHandEye`` (tsai, park, horaud, andreff, daniilidis) and
``calibrateRobotWorldHandEye`` (shah, li), which solves ``X`` and the fixed board pose jointly.

Before solving, :func:`check_diversity` looks at the recorded motion and refuses sets that cannot
determine ``X`` (too few samples, rotations about one axis, too little rotation, robot and board
motion that contradict each other), and tells the operator what motion to add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import cv2
import numpy as np

from calibration.errors import DegenerateSamplesError
from calibration.handeye_refine import refine_handeye
from calibration.handeye_samples import HandEyeSamples
from calibration.transforms import R_to_rvec, inv_T, make_T, mean_rotation, pose_to_dict, rotation_angle_deg

log = logging.getLogger(__name__)

Mode = Literal["eye_in_hand", "eye_to_hand"]
MODES: tuple[str, ...] = ("eye_in_hand", "eye_to_hand")
HAND_EYE_METHODS = {
    "tsai": cv2.CALIB_HAND_EYE_TSAI,
    "park": cv2.CALIB_HAND_EYE_PARK,
    "horaud": cv2.CALIB_HAND_EYE_HORAUD,
    "andreff": cv2.CALIB_HAND_EYE_ANDREFF,
    "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS,
}
ROBOT_WORLD_METHODS = {"shah": cv2.CALIB_ROBOT_WORLD_HAND_EYE_SHAH, "li": cv2.CALIB_ROBOT_WORLD_HAND_EYE_LI}
METHODS: tuple[str, ...] = (*HAND_EYE_METHODS, *ROBOT_WORLD_METHODS)
_AXES = "xyz"


@dataclass(frozen=True)
class DiversityOptions:
    """Thresholds of :func:`check_diversity`."""

    min_samples: int = 5  # OpenCV needs 3; 10-20 varied poses give sub-degree results
    min_rotation_deg: float = 10.0  # the largest relative rotation must exceed this
    min_axis_ratio: float = 0.1  # below: all rotations about one axis -> refuse
    good_axis_ratio: float = 0.3  # below: advise rotating about the weak axis
    min_axis_rms_deg: float = 5.0  # advise when the RMS rotation about an axis is below this
    min_translation_m: float = 0.05  # advise when the gripper positions span less than this
    max_motion_mismatch_deg: float = 3.0  # median |angle(A) - angle(B)| above this: inconsistent data
    max_pitch_mismatch_mm: float = 10.0  # median |pitch(A) - pitch(B)| above this: inconsistent data
    max_residual_deg: float = 2.0  # after solving: chain residual RMS above these means the data contradict
    max_residual_mm: float = 20.0  # each other (wrong mode, inverted poses, a moving board)


@dataclass
class DiversityReport:
    """What the recorded motion can determine. ``errors`` refuse the set; ``advice`` is what to add."""

    num_samples: int
    max_rotation_deg: float = 0.0
    rotation_rms_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # about x, y, z of ``frame``
    axis_ratio: float = 0.0  # sqrt(2nd / 1st eigenvalue) of the rotation-vector scatter: 0 = one axis only
    translation_span_m: float = 0.0
    motion_mismatch_deg: float = 0.0  # median |angle(A_ij) - angle(B_ij)|, should be ~noise
    motion_mismatch_mm: float = 0.0  # median |pitch(A_ij) - pitch(B_ij)|, should be ~noise
    frame: str = "gripper"
    errors: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "num_samples": self.num_samples,
            "max_rotation_deg": self.max_rotation_deg,
            "rotation_rms_deg": dict(zip(_AXES, map(float, self.rotation_rms_deg))),
            "axis_ratio": self.axis_ratio,
            "translation_span_m": self.translation_span_m,
            "motion_mismatch_deg": self.motion_mismatch_deg,
            "motion_mismatch_mm": self.motion_mismatch_mm,
            "frame": self.frame,
            "errors": list(self.errors),
            "advice": list(self.advice),
        }


def _relative_motions(G: list[np.ndarray], C: list[np.ndarray], mode: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Robot motions ``A_ij`` and camera motions ``B_ij`` over all sample pairs, with ``A X = X B``."""
    A, B = [], []
    for i, j in combinations(range(len(G)), 2):
        if mode == "eye_in_hand":
            A.append(inv_T(G[j]) @ G[i])  # in the gripper frame
        else:
            A.append(G[j] @ inv_T(G[i]))  # in the base frame
        B.append(C[j] @ inv_T(C[i]))
    return A, B


def _motion_mismatch(A: list[np.ndarray], B: list[np.ndarray]) -> tuple[float, float]:
    """Median ``|angle(A) - angle(B)|`` [deg] and ``|pitch(A) - pitch(B)|`` [m] over sample pairs.

    ``A = X B X^-1`` keeps a motion's rotation angle and its screw pitch (translation along the
    rotation axis). A mismatch means wrong mode, inverted robot poses, mismatched samples or units.
    """
    d_angle, d_pitch = [], []
    for a, b in zip(A, B):
        ra, rb = R_to_rvec(a[:3, :3]), R_to_rvec(b[:3, :3])
        na, nb = np.linalg.norm(ra), np.linalg.norm(rb)
        d_angle.append(abs(np.degrees(na - nb)))
        if min(na, nb) > np.radians(5.0):  # the axis of a small rotation is noise
            d_pitch.append(abs(ra @ a[:3, 3] / na - rb @ b[:3, 3] / nb))
    return (float(np.median(d_angle)) if d_angle else 0.0, float(np.median(d_pitch)) if d_pitch else 0.0)


def check_diversity(
    T_base_gripper: list[np.ndarray],
    T_cam_board: list[np.ndarray],
    mode: Mode,
    options: DiversityOptions = DiversityOptions(),
) -> DiversityReport:
    """Judge whether the recorded motion determines the hand-eye transform, before solving."""
    if mode not in MODES:
        raise ValueError(f"mode: got {mode!r}; allowed: {', '.join(MODES)}")
    G, C = list(T_base_gripper), list(T_cam_board)
    n = len(G)
    frame = "gripper" if mode == "eye_in_hand" else "robot base"
    rep = DiversityReport(num_samples=n, frame=frame)
    if n < options.min_samples:
        rep.errors.append(
            f"too few samples: {n} (need at least {options.min_samples}; 10-20 poses with varied "
            "orientations give sub-degree results)"
        )
        if n < 2:
            return rep
    A, B = _relative_motions(G, C, mode)
    rvecs = np.array([R_to_rvec(a[:3, :3]) for a in A])  # (P, 3) rad, axis * angle of each robot motion
    angles = np.degrees(np.linalg.norm(rvecs, axis=1))
    rep.max_rotation_deg = float(angles.max())
    rep.rotation_rms_deg = tuple(float(v) for v in np.degrees(np.sqrt(np.mean(rvecs**2, axis=0))))
    evals, evecs = np.linalg.eigh(rvecs.T @ rvecs / len(rvecs))  # ascending
    rep.axis_ratio = float(np.sqrt(max(evals[1], 0.0) / max(evals[2], 1e-18)))
    positions = np.array([g[:3, 3] for g in G])
    rep.translation_span_m = float(np.linalg.norm(positions.max(axis=0) - positions.min(axis=0)))
    rep.motion_mismatch_deg, rep.motion_mismatch_mm = _motion_mismatch(A, B)
    rep.motion_mismatch_mm *= 1000.0

    if rep.max_rotation_deg < options.min_rotation_deg:
        rep.errors.append(
            f"rotations too small: the largest change of end-effector orientation between samples is "
            f"{rep.max_rotation_deg:.1f} deg (need at least {options.min_rotation_deg:g}); tilt the "
            "end effector 15-30 deg about different axes between samples"
        )
    elif rep.axis_ratio < options.min_axis_ratio:
        axis = evecs[:, 2] * np.sign(evecs[np.argmax(np.abs(evecs[:, 2])), 2])
        others = [a for k, a in enumerate(_AXES) if k != int(np.argmax(np.abs(axis)))]
        rep.errors.append(
            f"rotations about one axis only (all about ~[{axis[0]:.2f}, {axis[1]:.2f}, {axis[2]:.2f}] in the "
            f"{frame} frame): the transform is undetermined along that axis; rotate about "
            f"{others[0]} and {others[1]} too"
        )
    if (
        rep.motion_mismatch_deg > options.max_motion_mismatch_deg
        or rep.motion_mismatch_mm > options.max_pitch_mismatch_mm
    ):
        # (Wrong --mode or inverted robot poses keep these invariants: the residual check after solving catches those.)
        hint = (
            "check that each robot pose is paired with the image taken at that pose while the robot was still, "
            "that positions are in metres and orientations are quaternions [x, y, z, w]"
        )
        rep.errors.append(
            f"robot motion and board motion disagree for {mode}: between samples, rotation angles differ by "
            f"{rep.motion_mismatch_deg:.1f} deg and translations along the rotation axis by "
            f"{rep.motion_mismatch_mm:.1f} mm (medians); {hint}"
        )
    if not rep.errors:
        weak = [
            f"{_AXES[k]} (RMS {r:.1f} deg)"
            for k, r in enumerate(rep.rotation_rms_deg)
            if r < max(options.min_axis_rms_deg, 0.35 * max(rep.rotation_rms_deg))
        ]
        if weak:
            rep.advice.append(f"rotate more about {' and '.join(weak)} of the {frame} frame")
        elif rep.axis_ratio < options.good_axis_ratio:
            rep.advice.append("rotations are mostly about one axis: add tilts about the other two")
        if rep.translation_span_m < options.min_translation_m:
            rep.advice.append(
                f"gripper positions span only {100 * rep.translation_span_m:.1f} cm: move over a larger volume"
            )
        if n < 10:
            rep.advice.append(f"only {n} samples: 10-20 give more reliable results")
    return rep


@dataclass
class HandEyeResult:
    """A solved hand-eye calibration.

    ``X``: ``T_gripper_cam`` (eye-in-hand) or ``T_base_cam`` (eye-to-hand). ``T_fixed``: the board in
    the base (eye-in-hand) or in the gripper (eye-to-hand), averaged over samples. Residuals are per
    sample: how far its chain (``G_i X C_i``, or ``G_i^-1 X C_i``) lands from ``T_fixed``.
    """

    mode: str
    method: str
    X: np.ndarray
    T_fixed: np.ndarray
    names: list[str]
    rotation_residual_deg: np.ndarray  # (N,)
    translation_residual_mm: np.ndarray  # (N,)
    reprojection_px: np.ndarray | None  # (N,) RMS per sample, NaN where the sample had no image
    diversity: DiversityReport
    rejected: dict[str, str] = field(default_factory=dict)
    refined: bool = False  # X and T_fixed were refined on corner reprojection error
    X_closed_form: np.ndarray | None = None  # the solver's answer before refinement

    @property
    def frames(self) -> tuple[str, str]:
        """``(parent of X, parent of T_fixed)``."""
        return ("gripper", "base") if self.mode == "eye_in_hand" else ("base", "gripper")

    def summary(self) -> dict:
        """JSON-friendly summary (also the YAML written by the CLI)."""
        cam_parent, board_parent = self.frames
        res = {
            "rotation_deg_rms": float(np.sqrt(np.mean(self.rotation_residual_deg**2))),
            "rotation_deg_max": float(self.rotation_residual_deg.max()),
            "translation_mm_rms": float(np.sqrt(np.mean(self.translation_residual_mm**2))),
            "translation_mm_max": float(self.translation_residual_mm.max()),
        }
        if self.reprojection_px is not None and np.isfinite(self.reprojection_px).any():
            res["reprojection_px_rms"] = float(np.sqrt(np.nanmean(self.reprojection_px**2)))
        res["per_sample"] = {
            n: {"rotation_deg": float(r), "translation_mm": float(t)}
            for n, r, t in zip(self.names, self.rotation_residual_deg, self.translation_residual_mm)
        }
        return {
            "mode": self.mode,
            "method": self.method,
            "refined": self.refined,
            "camera_pose": {
                "parent": cam_parent,
                "child": "camera_optical",
                **pose_to_dict(self.X),
                "matrix": self.X.tolist(),
            },
            "board_pose": {
                "parent": board_parent,
                "child": "board",
                **pose_to_dict(self.T_fixed),
                "matrix": self.T_fixed.tolist(),
            },
            "residuals": res,
            "samples_used": len(self.names),
            "rejected": dict(self.rejected),
            "diversity": self.diversity.to_dict(),
        }


def _split(Ts: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [T[:3, :3] for T in Ts], [T[:3, 3].reshape(3, 1) for T in Ts]


def _solve_X(G: list[np.ndarray], C: list[np.ndarray], mode: str, method: str) -> np.ndarray:
    if method in HAND_EYE_METHODS:
        # OpenCV solves eye-in-hand; eye-to-hand is the same problem with base-in-gripper poses.
        robot = G if mode == "eye_in_hand" else [inv_T(g) for g in G]
        R, t = cv2.calibrateHandEye(*_split(robot), *_split(C), method=HAND_EYE_METHODS[method])
        return make_T(R, t)
    # calibrateRobotWorldHandEye: world2cam_i = gripper2cam * base2gripper_i * world2base.
    base2gripper = [inv_T(g) for g in G]
    if mode == "eye_in_hand":  # world = board
        _, _, R, t = cv2.calibrateRobotWorldHandEye(
            *_split(C), *_split(base2gripper), method=ROBOT_WORLD_METHODS[method]
        )
        return inv_T(make_T(R, t))  # gripper2cam -> T_gripper_cam
    # eye-to-hand: the board plays the camera, the camera plays the world.
    R, t, _, _ = cv2.calibrateRobotWorldHandEye(
        *_split([inv_T(c) for c in C]), *_split(base2gripper), method=ROBOT_WORLD_METHODS[method]
    )
    return inv_T(make_T(R, t))  # "base2world" = T_cam_base -> T_base_cam


def _chain(G: np.ndarray, X: np.ndarray, C: np.ndarray, mode: str) -> np.ndarray:
    """The fixed transform implied by one sample: board in base (eye-in-hand) or in gripper (eye-to-hand)."""
    return G @ X @ C if mode == "eye_in_hand" else inv_T(G) @ X @ C


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v))))


def _consistency(
    G: list[np.ndarray], C: list[np.ndarray], X: np.ndarray, mode: str, T_fixed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T_fixed`` (the mean of the per-sample chains unless given) and each chain's distance from it [deg], [mm]."""
    chains = np.array([_chain(g, X, c, mode) for g, c in zip(G, C)])  # (N, 4, 4)
    if T_fixed is None:
        T_fixed = make_T(mean_rotation(chains[:, :3, :3]), chains[:, :3, 3].mean(axis=0))
    rot = np.array([rotation_angle_deg(T_fixed[:3, :3].T @ T[:3, :3]) for T in chains])
    trans = 1000.0 * np.linalg.norm(chains[:, :3, 3] - T_fixed[:3, 3], axis=1)
    return T_fixed, rot, trans


def _inconsistent_message(G, C, mode, method, rot, trans, names, options) -> str:
    other = "eye_to_hand" if mode == "eye_in_hand" else "eye_in_hand"
    _, o_rot, o_trans = _consistency(G, C, _solve_X(G, C, other, method), other)
    msg = (
        f"the samples contradict each other as {mode}: chain residuals RMS {_rms(rot):.2f} deg, {_rms(trans):.1f} mm "
        f"(limits {options.max_residual_deg:g} deg, {options.max_residual_mm:g} mm); "
    )
    if _rms(o_rot) <= options.max_residual_deg and _rms(o_trans) <= options.max_residual_mm:
        return msg + (
            f"as {other} they agree ({_rms(o_rot):.2f} deg, {_rms(o_trans):.1f} mm): is --mode wrong, or are "
            "the robot poses base-in-gripper instead of gripper-in-base?"
        )
    worst = np.argsort(-trans)[:3]
    return msg + (
        "did the board or camera mount move during recording? worst samples: "
        + ", ".join(f"{names[i]} ({rot[i]:.2f} deg, {trans[i]:.1f} mm)" for i in worst)
    )


def solve_handeye(
    samples: HandEyeSamples,
    mode: Mode,
    method: str = "tsai",
    options: DiversityOptions = DiversityOptions(),
    refine: bool = True,
) -> HandEyeResult:
    """Check the samples' diversity, solve ``X`` with ``method``, and compute residuals.

    With ``refine`` and samples that carry detected corners (from images), the closed-form answer
    is refined by minimising corner reprojection error over all samples (:mod:`calibration.handeye_refine`).

    Raises :class:`DegenerateSamplesError` (naming the missing motion) instead of returning numbers
    from a set that cannot determine them.
    """
    if mode not in MODES:
        raise ValueError(f"mode: got {mode!r}; allowed: {', '.join(MODES)}")
    if method not in METHODS:
        raise ValueError(f"method: got {method!r}; allowed: {', '.join(METHODS)}")
    G, C = samples.T_base_gripper, samples.T_cam_board
    report = check_diversity(G, C, mode, options)
    if not report.ok:
        rejected = "".join(f"\n  rejected {n}: {r}" for n, r in samples.rejected.items())
        raise DegenerateSamplesError("cannot calibrate from these samples:\n  " + "\n  ".join(report.errors) + rejected)
    for line in report.advice:
        log.warning("pose diversity: %s", line)
    X = _solve_X(G, C, mode, method)
    if not np.isfinite(X).all():
        raise DegenerateSamplesError(f"method {method} returned a non-finite transform; try another --method")
    X_closed_form = X
    T_fixed, rot, trans = _consistency(G, C, X, mode)
    if _rms(rot) > options.max_residual_deg or _rms(trans) > options.max_residual_mm:
        raise DegenerateSamplesError(_inconsistent_message(G, C, mode, method, rot, trans, samples.names, options))
    with_points = [i for i, p in enumerate(samples.image_points) if p is not None]
    refined = refine and samples.camera is not None and len(with_points) >= options.min_samples
    if refined:
        H = [inv_T(G[i]) if mode == "eye_in_hand" else G[i] for i in with_points]
        X, T_fixed, rms = refine_handeye(
            X,
            T_fixed,
            H,
            [samples.object_points[i] for i in with_points],
            [samples.image_points[i] for i in with_points],
            samples.camera.K,
            samples.camera.D,
        )
        log.info("refined %s solution: reprojection RMS %.3f px", method, rms)
        _, rot, trans = _consistency(G, C, X, mode, T_fixed)
    reproj = None
    if samples.camera is not None and any(p is not None for p in samples.image_points):
        reproj = np.full(len(G), np.nan)
        for i, (g, pts, obj) in enumerate(zip(G, samples.image_points, samples.object_points)):
            if pts is None:
                continue
            # Where the board should appear if X and T_fixed were exact.
            T_cb = inv_T(X) @ (inv_T(g) if mode == "eye_in_hand" else g) @ T_fixed
            proj, _ = cv2.projectPoints(
                obj, cv2.Rodrigues(T_cb[:3, :3])[0], T_cb[:3, 3], samples.camera.K, samples.camera.D
            )
            reproj[i] = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - pts) ** 2, axis=1))))
    return HandEyeResult(
        mode,
        method,
        X,
        T_fixed,
        list(samples.names),
        rot,
        trans,
        reproj,
        report,
        dict(samples.rejected),
        refined=refined,
        X_closed_form=X_closed_form,
    )
