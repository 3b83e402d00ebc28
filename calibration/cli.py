"""`robot-rl calibrate ...`: intrinsics, hand-eye, latency, and the MuJoCo camera they imply.

Registered through the ``robot_rl.cli`` entry point (``calibrate = calibration.cli:register``).
Results are written only after the whole calibration succeeded; bad input exits with status 2 and a
one-line reason, writing nothing.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import yaml

from calibration.boards import BoardConfig, parse_squares
from robot_rl.config import load_yaml, validate_config
from robot_rl.errors import ConfigError


def _board_from_args(args: argparse.Namespace) -> BoardConfig:
    try:
        sx, sy = parse_squares(args.squares)
    except ValueError as err:
        raise ConfigError(f"--squares: {err}") from None
    data = {"kind": args.board, "squares_x": sx, "squares_y": sy, "square_m": args.square_mm / 1000.0}
    if args.board == "charuco":
        if args.marker_mm is None:
            raise ConfigError("--marker-mm is required for --board charuco")
        data.update(marker_m=args.marker_mm / 1000.0, dictionary=args.dict)
    return validate_config(BoardConfig, data, "board options")


def _add_board_args(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("board (as printed)")
    g.add_argument(
        "--board",
        choices=("charuco", "chessboard"),
        default="charuco" if required else None,
        help="target kind (default charuco)" if required else "override the samples file's board",
    )
    g.add_argument(
        "--squares",
        required=required,
        metavar="WxH",
        help="number of squares across x down, e.g. 7x5 (a chessboard's inner corners are one fewer)",
    )
    g.add_argument(
        "--square-mm",
        type=float,
        required=required,
        metavar="MM",
        help="side of one square, measured on the print [mm]",
    )
    g.add_argument("--marker-mm", type=float, metavar="MM", help="ArUco marker side [mm] (charuco only)")
    g.add_argument(
        "--dict", default="DICT_5X5_100", metavar="NAME", help="ArUco dictionary (charuco only; default DICT_5X5_100)"
    )


def _intrinsics(args: argparse.Namespace) -> int:
    from calibration.camera_info import write_camera_info
    from calibration.intrinsics import IntrinsicsOptions, calibrate_intrinsics_folder

    board = _board_from_args(args)
    options = IntrinsicsOptions(
        min_corners=args.min_corners,
        min_views=args.min_views,
        k_coefficients=args.k_coefficients,
        max_error_px=args.max_error_px,
    )
    result = calibrate_intrinsics_folder(args.images, board, options)
    write_camera_info(args.out, result.K, result.D, result.size, args.camera_name)
    summary = {**result.summary(), "out": str(args.out)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"intrinsics from {summary['views_used']} views, RMS reprojection error {result.rms_px:.3f} px")
    print(
        f"  fx {result.fx:.2f}  fy {result.fy:.2f}  cx {result.cx:.2f}  cy {result.cy:.2f}"
        f"   ({result.size[0]}x{result.size[1]})"
    )
    print(f"  distortion [k1 k2 p1 p2 k3] {np.array2string(result.D, precision=5)}")
    for name, err in result.view_errors_px.items():
        print(f"  used     {name}: {err:.3f} px")
    for name, reason in result.rejected.items():
        print(f"  rejected {name}: {reason}")
    print(f"wrote {args.out}")
    return 0


def _handeye(args: argparse.Namespace) -> int:
    from calibration.atomic_write import write_yaml_atomic
    from calibration.camera_info import load_camera_info
    from calibration.handeye import DiversityOptions, solve_handeye
    from calibration.handeye_samples import load_samples

    camera = load_camera_info(args.intrinsics) if args.intrinsics else None
    if not args.squares and (args.board or args.square_mm or args.marker_mm):
        raise ConfigError("overriding the samples file's board needs --squares and --square-mm too")
    board = _board_from_args(args) if args.squares else None
    samples = load_samples(args.samples, camera=camera, board=board)
    result = solve_handeye(
        samples, args.mode, args.method, DiversityOptions(min_samples=args.min_samples), refine=not args.no_refine
    )
    summary = result.summary()
    write_yaml_atomic(args.out, summary)
    if args.json:
        print(json.dumps({**summary, "out": str(args.out)}, indent=2))
        return 0
    res = summary["residuals"]
    cam = summary["camera_pose"]
    print(
        f"{args.mode} ({args.method}{', refined' if result.refined else ''}) from {len(samples)} samples: "
        f"camera in {cam['parent']} frame"
    )
    print(
        f"  position [m] {np.round(cam['position'], 4).tolist()}"
        f"  orientation [x y z w] {np.round(cam['orientation'], 5).tolist()}"
    )
    print(
        f"  residuals: rotation RMS {res['rotation_deg_rms']:.3f} deg (max {res['rotation_deg_max']:.3f}), "
        f"translation RMS {res['translation_mm_rms']:.2f} mm (max {res['translation_mm_max']:.2f})"
        + (f", reprojection RMS {res['reprojection_px_rms']:.3f} px" if "reprojection_px_rms" in res else "")
    )
    for line in result.diversity.advice:
        print(f"  advice: {line}")
    for name, reason in result.rejected.items():
        print(f"  rejected {name}: {reason}")
    print(f"wrote {args.out}")
    return 0


def _latency(args: argparse.Namespace) -> int:
    from calibration.latency import camera_latency_from_file, command_latency_from_file, with_latency
    from robot_rl.spec import load_spec

    if not (args.command_trace or args.camera_trace):
        raise ConfigError("give --command-trace and/or --camera-trace")
    if args.out and not args.spec:
        raise ConfigError("--out writes an updated spec: also give --spec (built-in name or YAML path)")
    out: dict = {}
    cmd = cam = None
    if args.command_trace:
        cmd = command_latency_from_file(args.command_trace, args.max_lag)
        out["command_s"], out["command_correlation"] = cmd.lag_s, cmd.correlation
    if args.camera_trace:
        cam = camera_latency_from_file(args.camera_trace, args.max_lag)
        out["camera_s"], out["camera_correlation"] = cam.lag_s, cam.correlation
        if cam.num_events:
            out["camera_events"], out["camera_spread_s"] = cam.num_events, cam.spread_s
    if args.spec:
        try:
            spec = load_spec(args.spec)
        except KeyError as err:
            raise ConfigError(str(err)) from None
        spec = with_latency(spec, camera_s=cam.lag_s if cam else None, command_s=cmd.lag_s if cmd else None)
        out["latency"] = spec.latency.model_dump()
        if args.out:
            from calibration.atomic_write import write_yaml_atomic

            write_yaml_atomic(args.out, spec.to_dict())
            out["out"] = str(args.out)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if cmd:
        print(f"command-to-motion latency {1000 * cmd.lag_s:.1f} ms (correlation {cmd.correlation:.3f})")
    if cam:
        extra = (
            f", {cam.num_events} events, spread {1000 * cam.spread_s:.1f} ms"
            if cam.num_events
            else f", correlation {cam.correlation:.3f}"
        )
        print(f"camera latency {1000 * cam.lag_s:.1f} ms{extra}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m:
        raise ConfigError(f"--image-size: got {text!r}; expected WxH, e.g. 128x128")
    return int(m.group(1)), int(m.group(2))


def _sim_camera(args: argparse.Namespace) -> int:
    from calibration.camera_info import load_camera_info
    from calibration.sim_camera import mujoco_camera
    from calibration.transforms import pose_from_dict

    info = load_camera_info(args.intrinsics)
    handeye = load_yaml(args.handeye)
    try:
        T_parent_cam = pose_from_dict(handeye["camera_pose"])
        parent = handeye["camera_pose"]["parent"]
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{args.handeye}: not a hand-eye result (camera_pose: {err})") from None
    if args.parent_pose:
        vals = [float(v) for v in args.parent_pose.replace(",", " ").split()]
        if len(vals) != 7:
            raise ConfigError("--parent-pose: expected 7 numbers 'x y z qx qy qz qw'")
        T_parent_cam = pose_from_dict({"position": vals[:3], "orientation": vals[3:]}) @ T_parent_cam
        parent = "sim world" if parent == "base" else f"sim body of {parent}"
    size = _parse_size(args.image_size) if args.image_size else info.size
    cam = mujoco_camera(info.K, info.size, T_parent_cam, size)
    attrs = cam.xml_attributes(exact_intrinsics=args.exact)
    if args.tabletop_out:
        # A tabletop suite/env option block: the calibrated pose becomes the camera's nominal pose,
        # so domain randomization jitters around it (sim/tabletop/randomization.py).
        override = {"cameras": {args.name: {"pos": [float(v) for v in cam.pos],
                                             "quat_wxyz": [float(v) for v in cam.quat_wxyz],
                                             "fovy": float(cam.fovy_deg)}}}
        Path(args.tabletop_out).write_text(yaml.safe_dump(override, sort_keys=False))
    if args.json:
        print(json.dumps({"parent": parent, **cam.__dict__, "xml_attributes": attrs}, indent=2))
        return 0
    print(f"<!-- camera in the {parent} frame; render at {size[0]}x{size[1]} -->")
    print('<camera name="{}" {}/>'.format(args.name, " ".join(f'{k}="{v}"' for k, v in attrs.items())))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and its actions to the ``robot-rl`` parser."""
    parser = subparsers.add_parser(
        "calibrate",
        help="camera intrinsics, hand-eye extrinsics, latency, sim camera",
        description="Calibrate cameras and robot timing once per setup. See docs/calibration.md.",
    )
    sub = parser.add_subparsers(dest="calibrate_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "intrinsics",
        help="camera matrix and distortion from board images -> ROS camera_info YAML",
        description="Solve camera intrinsics from a folder of board images. Views without a usable "
        "board or with outlying error are rejected with the reason.",
    )
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (png/jpg/bmp/tif) of the board")
    _add_board_args(p, required=True)
    p.add_argument("--out", required=True, metavar="YAML", help="camera_info YAML to write")
    p.add_argument("--camera-name", default="camera", help="camera_name written into the YAML")
    p.add_argument("--min-corners", type=int, default=8, help="reject views with fewer detected corners (default 8)")
    p.add_argument("--min-views", type=int, default=6, help="refuse to solve with fewer good views (default 6)")
    p.add_argument("--max-error-px", type=float, default=2.0, help="reject views above this RMS error (default 2.0)")
    p.add_argument(
        "--k-coefficients", type=int, choices=(2, 3), default=2, help="radial terms to solve (default 2: k3 = 0)"
    )
    p.add_argument("--json", action="store_true", help="print the result (fx, fy, cx, cy, rms, ...) as JSON")
    p.set_defaults(func=_intrinsics)

    p = sub.add_parser(
        "handeye",
        help="camera pose on the gripper (eye_in_hand) or in the base (eye_to_hand)",
        description="Solve the hand-eye transform from a samples file (robot pose + board image or "
        "board pose per sample). Refuses sets whose motion cannot determine it and says "
        "what motion to add.",
    )
    p.add_argument(
        "--samples", required=True, metavar="FILE", help="samples YAML/JSON/npz, or a folder holding samples.yaml"
    )
    p.add_argument("--mode", required=True, choices=("eye_in_hand", "eye_to_hand"), help="where the camera is mounted")
    p.add_argument("--intrinsics", metavar="YAML", help="camera_info YAML (needed when samples have images)")
    from calibration.handeye import METHODS

    p.add_argument(
        "--method",
        choices=METHODS,
        default="tsai",
        help="solver: tsai, park, horaud, andreff, daniilidis (calibrateHandEye) or shah, li "
        "(calibrateRobotWorldHandEye); default tsai",
    )
    p.add_argument("--no-refine", action="store_true", help="skip the joint reprojection-error refinement")
    p.add_argument("--min-samples", type=int, default=5, help="refuse fewer samples (default 5)")
    _add_board_args(p, required=False)
    p.add_argument("--out", required=True, metavar="YAML", help="result YAML to write")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_handeye)

    p = sub.add_parser(
        "latency",
        help="camera and command-to-motion delays from recorded traces -> spec latency",
        description="Measure delays from .npz traces and optionally write them into an embodiment "
        "spec's latency: {camera_s, command_s}. Trace formats: docs/calibration.md.",
    )
    p.add_argument("--command-trace", metavar="NPZ", help="command_t, command, measured_t, measured")
    p.add_argument(
        "--camera-trace", metavar="NPZ", help="frame_t, frame_signal and event_t (or reference_t, reference)"
    )
    p.add_argument("--max-lag", type=float, default=0.5, metavar="S", help="largest delay searched [s] (default 0.5)")
    p.add_argument("--spec", help="embodiment spec (built-in name or YAML) to update")
    p.add_argument("--out", metavar="YAML", help="write the updated spec here")
    p.add_argument("--json", action="store_true", help="print the delays as JSON")
    p.set_defaults(func=_latency)

    p = sub.add_parser(
        "sim-camera",
        help="MuJoCo camera pose and field of view from a calibration",
        description="Print the MuJoCo <camera> that matches a calibrated camera.",
    )
    p.add_argument("--intrinsics", required=True, metavar="YAML", help="camera_info YAML")
    p.add_argument("--handeye", required=True, metavar="YAML", help="hand-eye result YAML (its camera_pose)")
    p.add_argument(
        "--parent-pose",
        metavar="'x y z qx qy qz qw'",
        help="pose of the hand-eye parent frame (robot base or gripper) in the MuJoCo parent frame",
    )
    p.add_argument("--image-size", metavar="WxH", help="simulator render size (default: the calibrated size)")
    p.add_argument("--exact", action="store_true", help="emit focalpixel/principalpixel/sensorsize instead of fovy")
    p.add_argument("--name", default="calibrated", help="camera name in the XML")
    p.add_argument("--json", action="store_true", help="print all values as JSON")
    p.add_argument("--tabletop-out", metavar="YAML",
                   help="also write a tabletop suite option block (cameras: {NAME: {pos, quat_wxyz, fovy}}); use --name "
                        "agentview or wrist and put the block under `suite.options` of a training config")
    p.set_defaults(func=_sim_camera)


__all__ = ["register"]
