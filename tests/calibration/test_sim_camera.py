"""The MuJoCo camera built from a calibration renders points where OpenCV projects them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.sim_camera import mujoco_camera, scale_intrinsics
from calibration.transforms import inv_T, make_T, rvec_to_R
from robot_rl.rotations import quat_to_matrix, quat_wxyz_to_xyzw

# Coloured spheres at known world positions, seen by a tilted camera.
POINTS = np.array([[0.55, 0.05, 0.02], [0.45, -0.12, 0.10], [0.70, 0.15, 0.0], [0.60, -0.05, 0.20]])
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=float)


def _camera_pose() -> np.ndarray:
    # Optical frame looking from (0, 0, 0.6) down and forward at the spheres, with a little roll.
    pos = np.array([0.0, 0.0, 0.6])
    z = np.array([0.58, 0.0, 0.05]) - pos
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_T(np.stack([x, y, z], axis=1) @ rvec_to_R([0, 0, 0.1]), pos)


def test_pose_conventions():
    T = _camera_pose()
    cam = mujoco_camera(np.diag([500.0, 500.0, 1.0]) + [[0, 0, 319.5], [0, 0, 239.5], [0, 0, 0]], (640, 480), T)
    R = quat_to_matrix(quat_wxyz_to_xyzw(cam.quat_wxyz))
    # MuJoCo looks along its -z: that is the optical +z; its +y is the optical -y (image up).
    np.testing.assert_allclose(-R[:, 2], T[:3, 2], atol=1e-9)
    np.testing.assert_allclose(R[:, 1], -T[:3, 1], atol=1e-9)
    np.testing.assert_allclose(cam.xyaxes, np.concatenate([R[:, 0], R[:, 1]]), atol=1e-9)
    assert cam.fovy_deg == pytest.approx(np.degrees(2 * np.arctan(240 / 500)))
    assert cam.principalpixel == pytest.approx((0.0, 0.0))
    # Resizing keeps the field of view and scales the focal length.
    small = mujoco_camera(
        np.diag([500.0, 500.0, 1.0]) + [[0, 0, 319.5], [0, 0, 239.5], [0, 0, 0]], (640, 480), T, (160, 120)
    )
    assert small.fovy_deg == pytest.approx(cam.fovy_deg) and small.focalpixel == pytest.approx((125.0, 125.0))
    np.testing.assert_allclose(
        scale_intrinsics(np.eye(3) + [[0, 0, 319.5], [0, 0, 239.5], [0, 0, 0]], (640, 480), (320, 240))[:2, 2],
        [159.5, 119.5],
    )


def _render(cam, size, exact: bool) -> np.ndarray:
    import mujoco

    attrs = " ".join(f'{k}="{v}"' for k, v in cam.xml_attributes(exact_intrinsics=exact).items())
    spheres = "".join(
        f'<geom type="sphere" size="0.006" pos="{p[0]} {p[1]} {p[2]}" rgba="{c[0]} {c[1]} {c[2]} 1"/>'
        for p, c in zip(POINTS, COLOURS)
    )
    xml = (
        f'<mujoco><visual><global offwidth="{size[0]}" offheight="{size[1]}"/><headlight ambient="1 1 1" '
        f'diffuse="0 0 0" specular="0 0 0"/></visual>'
        f'<worldbody>{spheres}<camera name="c" {attrs}/></worldbody></mujoco>'
    )
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with mujoco.Renderer(model, size[1], size[0]) as r:
        r.update_scene(data, camera="c")
        return r.render().astype(float) / 255.0


def _centroids(img: np.ndarray) -> np.ndarray:
    out = []
    for c in COLOURS:
        mask = np.all(np.abs(img - c) < 0.35, axis=2) & (img.sum(axis=2) > 0.5)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 5, f"sphere {c} not visible"
        out.append([xs.mean(), ys.mean()])
    return np.array(out)


@pytest.mark.parametrize("exact", [False, True])
def test_rendered_points_land_where_opencv_projects_them(exact):
    size = (320, 240)
    T_world_cam = _camera_pose()
    # Square pixels and a centred principal point for fovy; off-centre and fx != fy for exact intrinsics.
    K = (
        np.array([[300.0, 0, 159.5], [0, 300.0, 119.5], [0, 0, 1]])
        if not exact
        else np.array([[310.0, 0, 171.0], [0, 298.0, 111.5], [0, 0, 1]])
    )
    cam = mujoco_camera(K, size, T_world_cam)
    T_cam_world = inv_T(T_world_cam)
    expected, _ = cv2.projectPoints(POINTS, cv2.Rodrigues(T_cam_world[:3, :3])[0], T_cam_world[:3, 3], K, np.zeros(5))
    got = _centroids(_render(cam, size, exact))
    np.testing.assert_allclose(got, expected.reshape(-1, 2), atol=0.6)


def test_a_square_sim_camera_sees_the_centre_crop_of_a_4_3_calibration():
    """Calibrated at 640x480, rendered square: the points land where the policy node's fit puts them."""
    K = np.array([[600.0, 0, 331.0], [0, 598.0, 243.5], [0, 0, 1]])
    T_world_cam = _camera_pose()
    cam = mujoco_camera(K, (640, 480), T_world_cam, (240, 240))
    T_cam_world = inv_T(T_world_cam)
    full, _ = cv2.projectPoints(POINTS, cv2.Rodrigues(T_cam_world[:3, :3])[0], T_cam_world[:3, 3], K, np.zeros(5))
    # The fit: crop x in [80, 560), then scale 480 -> 240 with pixel centres at integer coordinates.
    s = 240 / 480
    expected = (full.reshape(-1, 2) - [80, 0] + 0.5) * s - 0.5
    got = _centroids(_render(cam, (240, 240), exact=True))
    np.testing.assert_allclose(got, expected, atol=0.6)
    assert cam.fovy_deg == pytest.approx(np.degrees(2 * np.arctan(240 / 598)))  # vertical view unchanged
