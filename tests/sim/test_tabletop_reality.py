"""Reality profiles: `none` is the training simulator bit for bit; `lab` / `hard` apply exactly the documented
shifts, the same ones for the same seed; each shift can be switched on alone; bad names are refused."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.env import Context, make_suite
from robot_rl.errors import ConfigError
from robot_rl.robot.image_fit import fit_image
from sim.tabletop.reality import PROFILES, SHIFT_NAMES

CTX = Context("pick_red", 55)
OTHER = Context("pick_blue", 60)
# Fields of the model a reality shift may touch: with `none` all equal the simulator's.
MODEL_FIELDS = ("light_pos", "light_diffuse", "geom_rgba", "geom_matid", "mat_rgba", "cam_pos", "cam_quat", "cam_fovy",
                "dof_damping", "geom_friction", "body_mass", "body_inertia")
ACTIONS = np.array([[0.02, -0.01, -0.03, 0.0, 0.0, 0.1, 1.0]] * 4 + [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]] * 4)


@pytest.fixture(scope="module")
def suite():
    return make_suite("tabletop", spec="tabletop_64", layout_jitter=0.01, gripper_jitter=0.01)


@pytest.fixture(scope="module")
def nominal(suite):
    env = suite.make_env()
    yield env
    env.close()


def _episode(env, ctx=CTX) -> tuple[list, np.ndarray]:
    """Observations of a short scripted episode and the final physics state."""
    obs = [env.reset(ctx)]
    for a in ACTIONS:
        obs.append(env.step(a).obs)
    return obs, np.concatenate([env.data.qpos, env.data.qvel])


def _expert_episode(suite, env, ctx=CTX) -> tuple[list, np.ndarray]:
    """Observations and cube state of the scripted expert's pick: it grasps and lifts, so dynamics show."""
    expert = suite.expert(ctx.task)
    obs = [env.reset(ctx)]
    expert.reset(env)
    for _ in range(30):
        obs.append(env.step(expert.act(obs[-1])).obs)
    return obs, env.data.qpos.copy()


def _same_obs(a, b) -> bool:
    return all(np.array_equal(x.proprio, y.proprio) and x.images.keys() == y.images.keys()
               and all(np.array_equal(x.images[c], y.images[c]) for c in x.images) for x, y in zip(a, b))


def test_none_is_the_training_simulator_bit_for_bit(suite, nominal):
    env = suite.make_env(reality={"profile": "none", "seed": 9})
    try:
        for f in MODEL_FIELDS:
            assert np.array_equal(getattr(env.model, f), getattr(nominal.model, f)), f
        obs_n, state_n = _episode(nominal)
        obs_r, state_r = _episode(env)
        assert _same_obs(obs_n, obs_r)
        assert np.array_equal(state_n, state_r)
        assert env.describe_reality() == {"profile": "none", "seed": 9, "shifts": {}}
    finally:
        env.close()


@pytest.mark.parametrize("profile", ["lab", "hard"])
def test_profile_applies_exactly_its_documented_shifts(suite, nominal, profile):
    shifts = PROFILES[profile]
    env = suite.make_env(reality={"profile": profile, "seed": 1})
    m, n = env.model, nominal.model
    try:
        applied = env.describe_reality()["shifts"]
        assert list(applied) == [s for s in SHIFT_NAMES if getattr(shifts, s) is not None] == list(SHIFT_NAMES)
        # Camera pose: exactly the documented offset and rotation for every camera.
        for cam in range(m.ncam):
            offset_mm = np.linalg.norm(m.cam_pos[cam] - n.cam_pos[cam]) * 1000
            assert offset_mm == pytest.approx(shifts.camera_pose.position_mm)
            cos_half = abs(float(np.dot(m.cam_quat[cam], n.cam_quat[cam])))
            angle_deg = np.degrees(2 * np.arccos(min(1.0, cos_half)))
            assert angle_deg == pytest.approx(shifts.camera_pose.rotation_deg, abs=1e-4)
        assert np.array_equal(m.cam_fovy, n.cam_fovy), "intrinsics are calibrated separately: unchanged"
        # Dynamics: the documented factors, nothing else.
        fingers = [m.joint(j).dofadr[0] for j in ("finger_left", "finger_right")]
        assert np.allclose(m.dof_damping[fingers], n.dof_damping[fingers] / shifts.gripper.speed)
        cube = m.geom("red_cube").id
        assert m.geom_friction[cube, 0] == pytest.approx(n.geom_friction[cube, 0] * shifts.friction.scale)
        assert np.array_equal(m.geom_friction[:, 1:], n.geom_friction[:, 1:])
        body = m.body("blue_cube").id
        assert m.body_mass[body] == pytest.approx(n.body_mass[body] * shifts.mass.scale)
        gripper = m.body("gripper").id
        assert m.body_mass[gripper] == n.body_mass[gripper]
        # ... and the constants MuJoCo derives from masses follow (stale ones made pushed cubes go NaN).
        assert np.allclose(m.body_invweight0[body], n.body_invweight0[body] / shifts.mass.scale)
        assert m.body_subtreemass[body] == pytest.approx(n.body_subtreemass[body] * shifts.mass.scale)
        # Lighting: every light's diffuse scaled by the reported factor and tint.
        light = applied["lighting"]
        assert abs(light["intensity_scale"] - 1) == pytest.approx(shifts.lighting.intensity)
        expected = np.clip(n.light_diffuse * light["intensity_scale"] * np.array(light["tints"]), 0, 1)
        assert np.allclose(m.light_diffuse, expected, atol=1e-3)
        assert m.geom_matid[m.geom("table").id] == m.material(f"table{shifts.colours.table_texture}").id != \
            n.geom_matid[n.geom("table").id]
        # 150 ms = one control period + 12.5 -> 13 physics steps of 4 ms; 200 ms = two periods
        latency = (applied["latency"]["steps"], applied["latency"]["substeps"])
        assert latency == {"lab": (1, 13), "hard": (2, 0)}[profile]
        # The observation differs from the simulator's (appearance and proprio).
        o_n, o_r = nominal.reset(CTX), env.reset(CTX)
        assert np.abs(o_r.images["agentview"].astype(int) - o_n.images["agentview"]).mean() > 3
        assert not np.array_equal(o_r.proprio, o_n.proprio)
    finally:
        env.close()


def test_latency_holds_the_first_command_and_proprio_carries_the_bias(suite, nominal):
    env = suite.make_env(reality={"profile": "lab", "only": ["latency", "proprio"],
                                  "overrides": {"latency": {"latency_s": 0.1}}})  # one whole control period
    try:
        nominal.reset(CTX)
        env.reset(CTX)
        z0 = env.privileged_state()["eef_pos"][2]
        down = np.array([0.0, 0.0, -0.04, 0.0, 0.0, 0.0, 1.0])
        nominal.step(down)
        env.step(down)
        assert nominal.privileged_state()["eef_pos"][2] < z0 - 0.03
        assert env.privileged_state()["eef_pos"][2] == pytest.approx(z0, abs=2e-3), "100 ms late: still holding"
        env.step(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]))
        assert env.privileged_state()["eef_pos"][2] < z0 - 0.03, "...then the delayed command acts"
        # Reported eef position = true + fixed bias + 0.5 mm noise: the mean error over readings is the bias.
        bias = np.array(env.describe_reality()["shifts"]["proprio"]["position_bias"])
        errors = [env.step(np.zeros(7), render=False).obs.proprio[:3] - env.privileged_state()["eef_pos"]
                  for _ in range(30)]
        assert np.allclose(np.mean(errors, axis=0), bias, atol=5e-4)
        assert np.linalg.norm(bias) == pytest.approx(0.003, abs=1e-5)
    finally:
        env.close()


def test_latency_within_a_period(suite):
    """Half a period late (50 ms = 13 of 25 physics steps): the hand has moved part of the way by the period's end."""
    ref, half = suite.make_env(), suite.make_env(reality={"profile": "lab", "only": ["latency"],
                                                          "overrides": {"latency": {"latency_s": 0.05}}})
    try:
        down = np.array([0.0, 0.0, -0.04, 0.0, 0.0, 0.0, 1.0])
        drops = []
        for env in (ref, half):
            env.reset(CTX)
            z0 = env.privileged_state()["eef_pos"][2]
            env.step(down)
            drops.append(env.privileged_state()["eef_pos"][2] - z0)
        full, moved = drops
        assert 0.1 < moved / full < 0.9, (moved, full)
    finally:
        ref.close()
        half.close()


@pytest.mark.parametrize("shift", SHIFT_NAMES)
def test_each_shift_can_be_switched_on_alone(suite, nominal, shift):
    env = suite.make_env(reality={"profile": "lab", "only": [shift]})
    try:
        assert list(env.describe_reality()["shifts"]) == [shift]
        touched = {f for f in MODEL_FIELDS if not np.array_equal(getattr(env.model, f), getattr(nominal.model, f))}
        expected = {"lighting": {"light_pos", "light_diffuse"}, "colours": {"geom_rgba", "geom_matid", "mat_rgba"},
                    "camera_pose": {"cam_pos", "cam_quat"}, "gripper": {"dof_damping"},
                    "friction": {"geom_friction"}, "mass": {"body_mass", "body_inertia"}}.get(shift, set())
        assert touched == expected
        obs_n, qpos_n = _expert_episode(suite, nominal)
        obs_r, qpos_r = _expert_episode(suite, env)
        assert not _same_obs(obs_n, obs_r), f"{shift} alone changes what the policy sees"
        if shift in ("friction", "mass"):
            assert not np.array_equal(qpos_n, qpos_r), f"{shift} changes the grasp's physics"
    finally:
        env.close()


def test_same_seed_same_lab_other_seed_other_lab_and_episodes_do_not_depend_on_history(suite):
    a, b, c = (suite.make_env(reality={"profile": "lab", "seed": s}) for s in (3, 3, 4))
    try:
        assert a.describe_reality() == b.describe_reality() != c.describe_reality()
        _episode(a, OTHER)  # a ran another episode first; b did not
        obs_a, state_a = _episode(a)
        obs_b, state_b = _episode(b)
        assert _same_obs(obs_a, obs_b) and np.array_equal(state_a, state_b)
        obs_c, _ = _episode(c)
        assert not _same_obs(obs_a, obs_c)
    finally:
        for env in (a, b, c):
            env.close()


def test_overrides_and_without(suite):
    env = suite.make_env(reality={"profile": "lab", "overrides": {"latency": {"latency_s": 0.2}, "mass": None},
                                  "without": ["lighting"]})
    try:
        shifts = env.describe_reality()["shifts"]
        assert shifts["latency"] == {"latency_s": 0.2, "steps": 2, "substeps": 0, "effective_s": 0.2}
    finally:
        env.close()
    env = suite.make_env(reality={"profile": "lab", "overrides": {"latency": {"latency_s": 0.05}}})
    try:  # to the 4 ms physics step, half up, and the effective value is reported
        assert env.describe_reality()["shifts"]["latency"] == {"latency_s": 0.05, "steps": 0, "substeps": 13,
                                                               "effective_s": 0.052}
        assert "mass" not in shifts and "lighting" not in shifts and "camera_pose" in shifts
    finally:
        env.close()


@pytest.mark.parametrize("reality, words", [
    ({"profile": "lab2"}, ["reality.profile", "'lab2'", "'none'", "'lab'", "'hard'"]),
    ({"profile": "lab", "only": ["camera"]}, ["reality.only[0]", "'camera'", "'camera_pose'", "'proprio'"]),
    ({"profile": "lab", "without": ["blur"]}, ["reality.without[0]", "'blur'", "'image'"]),
    ({"profile": "lab", "overrides": {"cam": {}}}, ["'cam'", "'camera_pose'"]),
    ({"profile": "lab", "overrides": {"latency": {"delay": 1}}},
     ["overrides.latency", "delay: unknown field", "latency_s"]),
    ({"profile": "lab", "overrides": {"latency": {"latency_s": 2}}}, ["overrides.latency.latency_s: got 2", "0.5"]),
    ({"profil": "lab"}, ["profil"]),
])
def test_unknown_names_are_refused_naming_the_allowed_values(reality, words):
    with pytest.raises(ConfigError) as err:
        make_suite("tabletop", reality=reality)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("height, width", [(480, 640), (480, 360)])  # landscape keeps the height, portrait the width
def test_driver_sized_frames_fit_back_to_the_observation(suite, height, width):
    # A fresh env: closing other envs' renderers (eglReleaseThread) can spoil a live env's next render on
    # this machine's EGL, a MuJoCo/Mesa matter outside this test.
    nominal = suite.make_env()
    obs = nominal.reset(CTX)
    for cam in ("agentview", "wrist"):
        frame = nominal.render_frame(cam, height, width)
        assert frame.shape == (height, width, 3) and frame.dtype == np.uint8
        # A 64 px render and a 480 px render area-resized differ by anti-aliasing only (~2-3 grey levels);
        # a wrong field of view (a zoomed view) differs by ~20.
        diff = np.abs(fit_image(frame, 64, 64).astype(int) - obs.images[cam]).mean()
        assert diff < 5, (cam, diff)
    assert float(nominal.model.cam_fovy[0]) == pytest.approx(55.0), "the spec camera's field of view is restored"
    with pytest.raises(ConfigError, match="offscreen buffer"):
        nominal.render_frame("agentview", 1080, 1920)
    nominal.close()


def test_frame_camera_matrix_fits_to_the_spec_camera(suite):
    # camera_info of a driver-sized frame, carried through the policy path's fit, is the spec camera's K.
    from robot_rl.robot.image_fit import fit_intrinsics

    env = suite.make_env()
    cam = env.spec.camera("agentview")
    f_spec = (cam.height / 2) / np.tan(np.radians(float(env.model.cam_fovy[0])) / 2)
    spec_K = np.array([[f_spec, 0, (cam.width - 1) / 2], [0, f_spec, (cam.height - 1) / 2], [0, 0, 1]])
    for height, width in ((480, 640), (480, 360)):
        K = env.frame_camera_matrix("agentview", height, width)
        assert K[0, 2] == (width - 1) / 2 and K[0, 0] == K[1, 1]
        np.testing.assert_allclose(fit_intrinsics(K, (width, height), (cam.width, cam.height)), spec_K, rtol=1e-9,
                                   atol=1e-9)
    env.close()
