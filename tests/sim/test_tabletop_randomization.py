"""Domain randomization: off means the nominal scene exactly; on changes it, reproducibly per seed."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from sim.tabletop.config import TabletopConfig

CTX = Context("place_red_bowl", 3)


@pytest.fixture(scope="module")
def suite():
    return make_suite("tabletop")


def _images(env, n: int = 2) -> list[dict[str, np.ndarray]]:
    return [env.reset(CTX).images for _ in range(n)]


def test_randomization_is_off_by_default_and_then_changes_nothing(suite):
    env = suite.make_env()
    try:
        assert env.config.randomization.enabled is False
        a, b = _images(env)
        for cam in a:
            assert np.array_equal(a[cam], b[cam])
    finally:
        env.close()


def test_randomization_changes_images_and_is_reproducible_per_seed(suite):
    nominal_env = suite.make_env()
    on = {"enabled": True, "seed": 7}
    env_a, env_b, env_c = (suite.make_env(randomization=on), suite.make_env(randomization=on),
                           suite.make_env(randomization={"enabled": True, "seed": 8}))
    try:
        nominal = nominal_env.reset(CTX).images
        first, second = _images(env_a)
        for cam in nominal:
            assert not np.array_equal(first[cam], nominal[cam])
            assert not np.array_equal(first[cam], second[cam]), "each episode draws anew"
        again = env_b.reset(CTX).images
        other_seed = env_c.reset(CTX).images
        for cam in nominal:
            assert np.array_equal(first[cam], again[cam]), "same seed, same draws"
            assert not np.array_equal(first[cam], other_seed[cam])
        # The nominal scene comes back when randomization is off again (nothing leaks into the model).
        assert np.array_equal(nominal_env.reset(CTX).images["agentview"], nominal["agentview"])
    finally:
        for env in (nominal_env, env_a, env_b, env_c):
            env.close()


@pytest.mark.parametrize("part", ["lighting", "colours", "camera", "image"])
def test_each_visual_randomization_alone_changes_the_image(suite, part):
    parts = {p: {"enabled": p == part} for p in ("lighting", "colours", "camera", "image", "action")}
    nominal_env = suite.make_env()
    env = suite.make_env(randomization={"enabled": True, "seed": 1, **parts})
    try:
        nominal = nominal_env.reset(CTX).images["agentview"]
        changed = env.reset(CTX).images["agentview"]
        assert np.abs(changed.astype(int) - nominal.astype(int)).mean() > 0.5
    finally:
        env.close()
        nominal_env.close()


def test_action_randomization_perturbs_motion_and_adds_latency(suite):
    cfg = {"enabled": True, "seed": 3, "lighting": {"enabled": False}, "colours": {"enabled": False},
           "camera": {"enabled": False}, "image": {"enabled": False},
           "action": {"enabled": True, "noise_std": 0.0, "max_latency_steps": 2}}
    env = suite.make_env(randomization=cfg)
    try:
        lat = []
        for _ in range(6):
            start = env.reset(CTX).proprio[:3].copy()
            action = np.array([0.03, 0, 0, 0, 0, 0, 1], dtype=np.float32)
            moved_at = None
            for t in range(4):
                p = env.step(action, render=False).obs.proprio[:3]
                if moved_at is None and p[0] - start[0] > 0.015:
                    moved_at = t
            lat.append(moved_at)
            assert env.randomizer.draw.latency_steps == moved_at  # the hand starts moving after the drawn delay
        assert len(set(lat)) > 1, f"latency never varied: {lat}"
    finally:
        env.close()


def test_camera_pose_override_moves_the_view(suite):
    nominal_env = suite.make_env()
    moved_env = suite.make_env(cameras={"agentview": {"pos": (0.7, 0.1, 0.55), "lookat": (0, 0, 0), "fovy": 50}})
    try:
        nominal = nominal_env.reset(CTX).images["agentview"]
        moved = moved_env.reset(CTX).images["agentview"]
        assert np.abs(moved.astype(int) - nominal.astype(int)).mean() > 2
        assert moved_env.model.cam_fovy[moved_env.model.camera("agentview").id] == 50
    finally:
        nominal_env.close()
        moved_env.close()


def test_camera_randomization_is_centred_on_the_configured_pose(suite):
    # A calibrated camera pose (as `calibrate sim-camera --tabletop-out` writes it) is also the
    # centre of the camera-pose randomization, not the scene's built-in pose 0.2 m away.
    calibrated = {"agentview": {"pos": (0.7, 0.1, 0.55), "lookat": (0, 0, 0), "fovy": 50}}
    jitter = {"position_jitter_m": 0.015, "rotation_jitter_deg": 2.0, "fovy_jitter_deg": 2.0}
    parts = {p: {"enabled": p == "camera"} for p in ("lighting", "colours", "image", "action")}
    centre_env = suite.make_env(cameras=calibrated)
    env = suite.make_env(cameras=calibrated, randomization={"enabled": True, "seed": 4, **parts,
                                                            "camera": {"enabled": True, **jitter}})
    try:
        centre_env.reset(CTX)
        cam = env.model.camera("agentview").id
        pos0, quat0 = centre_env.model.cam_pos[cam].copy(), centre_env.model.cam_quat[cam].copy()
        np.testing.assert_allclose(pos0, calibrated["agentview"]["pos"])
        positions = []
        for _ in range(8):
            env.reset(CTX)
            pos, quat, fovy = env.model.cam_pos[cam].copy(), env.model.cam_quat[cam], env.model.cam_fovy[cam]
            assert np.abs(pos - pos0).max() <= 0.015 + 1e-9
            angle = np.degrees(2 * np.arccos(min(1.0, abs(float(np.dot(quat, quat0))))))
            assert angle <= 2.0 + 1e-6
            assert abs(fovy - 50) <= 2.0 + 1e-9
            positions.append(pos)
        assert np.ptp(np.array(positions), axis=0).max() > 0.005  # it does jitter
    finally:
        env.close()
        centre_env.close()


def test_config_errors_name_the_field():
    from robot_rl.config import validate_config

    with pytest.raises(ConfigError, match="randomization.image.noise_std"):
        validate_config(TabletopConfig, {"randomization": {"image": {"noise_std": -1}}})
    with pytest.raises(ConfigError, match="cameras.agentview"):
        validate_config(TabletopConfig, {"cameras": {"agentview": {"lookat": (0, 0, 0), "quat_wxyz": (1, 0, 0, 0)}}})
    with pytest.raises(ConfigError, match=r"cameras.wrist: .*'quat' is now 'quat_wxyz' \(w, x, y, z; MuJoCo's order\)"):
        validate_config(TabletopConfig, {"cameras": {"wrist": {"quat": (1, 0, 0, 0)}}})
    with pytest.raises(ConfigError, match="no such camera"):
        make_suite("tabletop").make_env(cameras={"topdown": {"fovy": 40}})
