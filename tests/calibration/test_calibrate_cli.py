"""`robot-rl calibrate ...` end to end: the installed console script on real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import CHARUCO, D_TRUE, K_TRUE, SIZE

from calibration.camera_info import load_camera_info, write_camera_info
from calibration.handeye_samples import write_samples
from calibration.synthetic import random_views, render_board_view
from calibration.transforms import inv_T, make_T, pose_from_dict, rotation_angle_deg, rvec_to_R
from robot_rl.cli import main
from robot_rl.spec import EmbodimentSpec

ROBOT_RL = str(Path(sys.executable).with_name("robot-rl"))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ROBOT_RL, "calibrate", *args], capture_output=True, text=True, timeout=120, check=False)


def test_intrinsics_cli_json_on_an_image_folder(charuco_folder, tmp_path):
    out = tmp_path / "camera.yaml"
    proc = _run(
        "intrinsics",
        "--images",
        charuco_folder,
        "--board",
        "charuco",
        "--squares",
        "7x5",
        "--square-mm",
        "30",
        "--marker-mm",
        "22",
        "--dict",
        "DICT_5X5_100",
        "--camera-name",
        "agentview",
        "--json",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert abs(result["fx"] - K_TRUE[0, 0]) / K_TRUE[0, 0] < 0.005
    assert abs(result["fy"] - K_TRUE[1, 1]) / K_TRUE[1, 1] < 0.005
    assert abs(result["cx"] - K_TRUE[0, 2]) < 3 and abs(result["cy"] - K_TRUE[1, 2]) < 3
    assert result["rms"] < 0.3 and result["views_used"] == 14
    info = load_camera_info(out)
    assert info.camera_name == "agentview" and info.size == SIZE
    assert info.K[0, 0] == pytest.approx(result["fx"])


def test_intrinsics_cli_chessboard_flags(tmp_path, capsys):
    # `--board chessboard --squares WxH --square-mm S` (no marker size or dictionary).
    from calibration.boards import BoardConfig

    board = BoardConfig(kind="chessboard", squares_x=8, squares_y=6, square_m=0.025)
    rng = np.random.default_rng(3)
    for i, T in enumerate(random_views(board, 8, rng)):
        cv2.imwrite(str(tmp_path / f"c{i:02d}.png"), render_board_view(board, K_TRUE, D_TRUE, SIZE, T, rng))
    out = tmp_path / "camera.yaml"
    rc = main(["calibrate", "intrinsics", "--images", str(tmp_path), "--board", "chessboard", "--squares", "8x6",
               "--square-mm", "25", "--json", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    result = json.loads(captured.out)
    assert abs(result["fx"] - K_TRUE[0, 0]) / K_TRUE[0, 0] < 0.005
    assert abs(result["fy"] - K_TRUE[1, 1]) / K_TRUE[1, 1] < 0.005
    assert result["rms"] < 0.5 and result["views_used"] >= 7
    assert load_camera_info(out).K[0, 0] == pytest.approx(result["fx"])


def test_intrinsics_cli_refuses_a_folder_without_boards(tmp_path):
    for i in range(7):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((480, 640), 90, np.uint8))
    out = tmp_path / "camera.yaml"
    proc = _run(
        "intrinsics",
        "--images",
        str(tmp_path),
        "--squares",
        "7x5",
        "--square-mm",
        "30",
        "--marker-mm",
        "22",
        "--out",
        str(out),
    )
    assert proc.returncode == 2
    assert "too few usable views: 0" in proc.stderr and "0.png: no board found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def eye_in_hand_folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A recorded eye-in-hand session: 12 board images + robot poses + camera.yaml, and the true X."""
    folder = tmp_path_factory.mktemp("handeye")
    rng = np.random.default_rng(21)
    X = make_T(rvec_to_R([0.05, -0.1, 1.6]), [0.04, -0.02, 0.06])  # T_gripper_cam
    T_base_board = make_T(rvec_to_R([np.pi, 0.0, 0.3]), [0.55, 0.05, 0.0])
    poses, images = [], []
    for i, T_cb in enumerate(random_views(CHARUCO, 12, rng)):
        poses.append(T_base_board @ inv_T(T_cb) @ inv_T(X))
        images.append(f"sample_{i:02d}.png")
        cv2.imwrite(str(folder / images[-1]), render_board_view(CHARUCO, K_TRUE, D_TRUE, SIZE, T_cb, rng))
    cv2.imwrite(str(folder / "sample_12.png"), np.full((480, 640), 100, np.uint8))  # the board fell out of view
    poses.append(poses[0])
    images.append("sample_12.png")
    write_camera_info(folder / "camera.yaml", K_TRUE, D_TRUE, SIZE)
    write_samples(folder / "samples.yaml", poses, images=images, board=CHARUCO)
    return folder, X


def test_handeye_cli_from_images(eye_in_hand_folder, tmp_path):
    folder, X = eye_in_hand_folder
    out = tmp_path / "handeye.yaml"
    proc = _run(
        "handeye",
        "--samples",
        str(folder),
        "--mode",
        "eye_in_hand",
        "--intrinsics",
        str(folder / "camera.yaml"),
        "--method",
        "park",
        "--json",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rejected"] == {"sample_12.png": "no board found"} and result["samples_used"] == 12
    assert result["refined"] and result["residuals"]["reprojection_px_rms"] < 0.5
    X_est = pose_from_dict(yaml.safe_load(out.read_text())["camera_pose"])
    assert rotation_angle_deg(X_est[:3, :3].T @ X[:3, :3]) < 0.5
    assert np.linalg.norm(X_est[:3, 3] - X[:3, 3]) < 0.002


def test_handeye_cli_refuses_degenerate_samples_and_writes_nothing(eye_in_hand_folder, tmp_path, capsys):
    folder, _ = eye_in_hand_folder
    few = tmp_path / "few"
    few.mkdir()
    data = yaml.safe_load((folder / "samples.yaml").read_text())
    data["samples"] = data["samples"][:3]
    for s in data["samples"]:
        shutil.copy(folder / s["image"], few / s["image"])
    (few / "samples.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "handeye.yaml"
    code = main(
        [
            "calibrate",
            "handeye",
            "--samples",
            str(few / "samples.yaml"),
            "--mode",
            "eye_in_hand",
            "--intrinsics",
            str(folder / "camera.yaml"),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert "too few samples: 3" in capsys.readouterr().err
    assert not out.exists()
    # Images but no intrinsics: says what to pass.
    code = main(["calibrate", "handeye", "--samples", str(folder), "--mode", "eye_in_hand", "--out", str(out)])
    assert code == 2 and "--intrinsics" in capsys.readouterr().err


def test_sim_camera_cli_prints_a_mujoco_camera(eye_in_hand_folder, tmp_path, capsys):
    folder, X = eye_in_hand_folder
    he = tmp_path / "he.yaml"
    assert (
        main(
            [
                "calibrate",
                "handeye",
                "--samples",
                str(folder),
                "--mode",
                "eye_in_hand",
                "--intrinsics",
                str(folder / "camera.yaml"),
                "--out",
                str(he),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "calibrate",
                "sim-camera",
                "--intrinsics",
                str(folder / "camera.yaml"),
                "--handeye",
                str(he),
                "--image-size",
                "128x96",
                "--json",
            ]
        )
        == 0
    )
    cam = json.loads(capsys.readouterr().out)
    assert cam["parent"] == "gripper" and cam["resolution"] == [128, 96]
    assert cam["fovy_deg"] == pytest.approx(np.degrees(2 * np.arctan(240 / K_TRUE[1, 1])), abs=0.2)
    np.testing.assert_allclose(cam["pos"], X[:3, 3], atol=0.002)
    assert main(["calibrate", "sim-camera", "--intrinsics", str(folder / "camera.yaml"), "--handeye", str(he)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith('<camera name="calibrated" pos="')

    # The calibrated wrist camera becomes the tabletop sim's wrist camera (pose relative to the gripper, fovy).
    block = tmp_path / "tabletop_camera.yaml"
    assert main(["calibrate", "sim-camera", "--intrinsics", str(folder / "camera.yaml"), "--handeye", str(he),
                 "--name", "wrist", "--image-size", "128x128", "--tabletop-out", str(block)]) == 0
    options = yaml.safe_load(block.read_text())
    from robot_rl.env import make_suite

    env = make_suite("tabletop", **options).make_env()
    try:
        env.reset(make_suite("tabletop").contexts("pick_red")[0])
        wrist = env.model.camera("wrist").id
        np.testing.assert_allclose(env.model.cam_pos[wrist], X[:3, 3], atol=0.002)
        np.testing.assert_allclose(env.model.cam_fovy[wrist], options["cameras"]["wrist"]["fovy"])
        q = np.asarray(options["cameras"]["wrist"]["quat_wxyz"])
        np.testing.assert_allclose(env.model.cam_quat[wrist], q / np.linalg.norm(q), atol=1e-9)
    finally:
        env.close()


def test_latency_cli_writes_the_spec(tmp_path, capsys):
    rng = np.random.default_rng(4)
    ct = np.arange(0.0, 12.0, 0.01)
    cmd = np.repeat(rng.uniform(-0.05, 0.05, 31), 40)[: len(ct)]
    mt = np.arange(0.0, 12.0, 0.004)
    meas = cmd[np.clip(np.searchsorted(ct, mt - 0.052, side="right") - 1, 0, None)]
    np.savez(tmp_path / "cmd.npz", command_t=ct, command=cmd, measured_t=mt, measured=meas)
    events = np.cumsum(rng.uniform(0.3, 0.6, 25))
    ft = np.arange(0.0, events[-1] + 1, 1 / 30)
    np.savez(
        tmp_path / "cam.npz",
        event_t=events,
        frame_t=ft,
        frame_signal=(np.searchsorted(events, ft - 0.081, side="right") % 2) * 200.0,
    )
    out = tmp_path / "robot.yaml"
    assert (
        main(
            [
                "calibrate",
                "latency",
                "--command-trace",
                str(tmp_path / "cmd.npz"),
                "--camera-trace",
                str(tmp_path / "cam.npz"),
                "--spec",
                "tabletop",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    spec = EmbodimentSpec.from_yaml(out)
    assert spec.latency.command_s == pytest.approx(0.052, abs=0.003)
    assert spec.latency.camera_s == pytest.approx(0.081, abs=0.004)
    assert printed["latency"] == spec.latency.model_dump()
    np.savez(tmp_path / "bad.npz", command_t=ct)
    assert main(["calibrate", "latency", "--command-trace", str(tmp_path / "bad.npz")]) == 2
    assert "missing arrays ['command', 'measured_t', 'measured']" in capsys.readouterr().err


def test_every_action_has_help(capsys):
    for action in ("intrinsics", "handeye", "latency", "sim-camera"):
        with pytest.raises(SystemExit) as exit_info:
            main(["calibrate", action, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: robot-rl calibrate " + action) and "--json" in out
