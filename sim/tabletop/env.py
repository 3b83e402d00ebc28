"""`TabletopEnv`: the MuJoCo tabletop behind robot_rl's Env contract.

Control: an action is a 7-D end-effector delta in spec units (dx, dy, dz [m]; drx, dry, drz
axis-angle [rad] in the world frame, about the end-effector point; gripper -1 close .. +1 open).
Like an operational-space controller, the env keeps a commanded end-effector pose, adds the
clipped delta, and drives the gripper's mocap target there over the first part of the control
period (a weld constraint pulls the gripper after it), so the hand arrives by the end of the step.
The commanded pose stays within ``MAX_LEAD`` of the measured one: pushing against the table or a
cube does not wind up a large force.

One model and data live for the env's lifetime: ``reset`` switches contexts by writing qpos and
mocap poses. Cameras render only when an observation is needed: ``step(a, render=False)`` skips
them, which is how an open-loop chunk is executed cheaply; ``observation()`` renders the current
scene.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import mujoco  # sim/tabletop/__init__.py picks the headless GL backend before this first import
import numpy as np

from robot_rl.env import Context, Env, Observation, StepResult
from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.spec import EmbodimentSpec
from sim.tabletop.config import CameraPose, TabletopConfig
from sim.tabletop.randomization import SceneRandomizer
from sim.tabletop.reality import Reality
from sim.tabletop.mj_quat import (quat_wxyz_from_rotvec, quat_wxyz_lookat, quat_wxyz_mul, quat_wxyz_to_matrix,
                                  quat_wxyz_to_rotvec)
from sim.tabletop.scene import (
    AGENTVIEW_LOOKAT,
    AGENTVIEW_POS,
    CUBE_COLOURS,
    CUBE_HALF,
    FINGER_OPEN,
    NUM_TABLE_TEXTURES,
    TCP_OFFSET,
    build_mjcf,
)
from sim.tabletop.tasks import NUM_EVAL, NUM_TRAIN, TASKS_BY_NAME, TaskDef, is_success, jittered_scene, sample_scene

log = logging.getLogger(__name__)

MAX_LEAD = 0.06  # the commanded end-effector point stays within this of the measured one [m]
RAMP_FRACTION = 0.5  # the mocap target reaches the new pose after this fraction of the substeps
WORKSPACE_LOW = np.array([-0.4, -0.45, 0.012])  # end-effector point bounds [m]
WORKSPACE_HIGH = np.array([0.4, 0.45, 0.45])


def _close_renderers(renderers: dict) -> None:
    for r in renderers.values():
        r.close()
    renderers.clear()


class ActionError(RobotRLError, ValueError):
    """An action had the wrong shape or non-finite values."""


class TabletopEnv(Env):
    """One tabletop simulator; reset it to any context of the suite without rebuilding it."""

    def __init__(self, spec: EmbodimentSpec, config: TabletopConfig | None = None,
                 tasks: dict[str, TaskDef] | None = None) -> None:
        self.spec = spec
        self.config = config or TabletopConfig()
        self._tasks = dict(tasks or TASKS_BY_NAME)
        if spec.action_dim != 7 or spec.proprio_dim != 7:
            raise ConfigError(f"tabletop needs a 7-D action and 7-D proprio; spec '{spec.name}' has "
                              f"{spec.action_dim}-D action and {spec.proprio_dim}-D proprio")
        period = spec.control_period_s
        self.substeps = int(round(period / self.config.timestep))
        if self.substeps < 1 or abs(self.substeps * self.config.timestep - period) > 1e-9:
            raise ConfigError(f"timestep: got {self.config.timestep}; must divide the control period {period} s")
        max_image = (max(c.height for c in spec.cameras), max(c.width for c in spec.cameras))
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(self.config.timestep, max_image))
        self.data = mujoco.MjData(self.model)
        self._ids()
        self._apply_camera_overrides()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        for cam in spec.cameras:
            if cam.name not in self._cam_ids:
                raise ConfigError(f"spec camera '{cam.name}' is not in the tabletop scene; cameras: {sorted(self._cam_ids)}")
            if (cam.height, cam.width) not in self._renderers:
                # One renderer (GL context + buffers) per image size, shared by the cameras of that size.
                r = mujoco.Renderer(self.model, cam.height, cam.width)
                r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.config.shadows
                r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
                r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
                self._renderers[(cam.height, cam.width)] = r
        # Free the GL contexts when the env is collected or at interpreter exit, while EGL is still
        # loaded (mujoco.Renderer.__del__ during shutdown prints EGL errors otherwise).
        self._finalizer = weakref.finalize(self, _close_renderers, self._renderers)
        # The lab's fixed shift goes into the model first: randomization's nominal snapshot is then the lab.
        self.reality = Reality(self.config.reality, period, self.substeps)
        m = self.model
        self.reality.apply_to_model(m, list(self._cube_geom.values()), [m.body(f"{c}_cube").id for c in CUBE_COLOURS],
                                    self._prop_mats, self._table_geom, self._table_mats, sorted(self._finger_geoms),
                                    [m.joint(n).dofadr[0] for n in ("finger_left", "finger_right")])
        if self.reality.shifts.mass is not None:
            # Masses feed constants MuJoCo derives at compile time (subtree masses, the inverse weights the
            # contact solver scales its softness by): stale ones made pushed cubes blow up (NaN warnings).
            mujoco.mj_setConst(m, self.data)
        if self.reality.active:
            log.info("reality profile %r (seed %d) applied: %s", self.config.reality.profile, self.config.reality.seed,
                     self.reality.describe())
        self.randomizer = SceneRandomizer(self.model, self.config.randomization, list(self._cube_geom.values()),
                                          self._prop_mats, self._table_geom, self._table_mats)
        self._scene_cache: dict[Context, Any] = {}
        self._task: TaskDef | None = None
        self._context: Context | None = None
        self._t = 0
        self._target_pos = np.zeros(3)
        self._target_quat = np.array([1.0, 0.0, 0.0, 0.0])
        self._low = spec.action_low.astype(np.float64)
        self._high = spec.action_high.astype(np.float64)

    # ---- set-up ------------------------------------------------------------------------------

    def _ids(self) -> None:
        m = self.model
        self._mocap = {n: m.body(n).mocapid[0] for n in ("gripper_target", "bowl", "plate", "target")}
        self._gripper_qpos = m.joint("gripper").qposadr[0]
        self._gripper_body = m.body("gripper").id
        self._finger_qpos = [m.joint("finger_left").qposadr[0], m.joint("finger_right").qposadr[0]]
        self._tcp = m.site("tcp").id
        self._cube_qpos = {c: m.joint(f"{c}_cube").qposadr[0] for c in CUBE_COLOURS}
        self._cube_geom = {c: m.geom(f"{c}_cube").id for c in CUBE_COLOURS}
        self._finger_geoms = {m.geom("finger_left").id, m.geom("finger_right").id}
        self._cam_ids = {m.camera(i).name: i for i in range(m.ncam)}
        self._table_geom = m.geom("table").id
        self._table_mats = [m.material(f"table{i}").id for i in range(NUM_TABLE_TEXTURES)]
        self._prop_mats = [m.material(n).id for n in ("bowl", "plate", "target", "gripper")]

    def _apply_camera_overrides(self) -> None:
        self.model.cam_quat[self._cam_ids["agentview"]] = quat_wxyz_lookat(np.array(AGENTVIEW_POS),
                                                                           np.array(AGENTVIEW_LOOKAT))
        for name, pose in self.config.cameras.items():
            if name not in self._cam_ids:
                raise ConfigError(f"cameras.{name}: no such camera; cameras: {sorted(self._cam_ids)}")
            self._set_camera_pose(self._cam_ids[name], pose)

    def _set_camera_pose(self, cam: int, pose: CameraPose) -> None:
        m = self.model
        if pose.pos is not None:
            m.cam_pos[cam] = pose.pos
        if pose.quat_wxyz is not None:
            q = np.asarray(pose.quat_wxyz, float)
            m.cam_quat[cam] = q / np.linalg.norm(q)
        elif pose.lookat is not None:
            m.cam_quat[cam] = quat_wxyz_lookat(m.cam_pos[cam], np.asarray(pose.lookat, float))
        elif m.cam_bodyid[cam] == 0 and pose.pos is not None:
            m.cam_quat[cam] = quat_wxyz_lookat(m.cam_pos[cam], np.array(AGENTVIEW_LOOKAT))
        if pose.fovy is not None:
            m.cam_fovy[cam] = pose.fovy

    # ---- Env contract ------------------------------------------------------------------------

    @property
    def max_steps(self) -> int:
        if self._task is None:
            raise RobotRLError("the env has not been reset yet: call reset(context) first")
        return self.config.episode_limit(self._task.max_steps)

    @property
    def task(self) -> TaskDef | None:
        """The task of the current episode (None before the first reset)."""
        return self._task

    @property
    def t(self) -> int:
        """Env steps taken in the current episode."""
        return self._t

    def reset(self, context: Context) -> Observation:
        """Put the scene in the context's initial state (bit-for-bit the same every time)."""
        task = self._tasks.get(context.task)
        if task is None:
            raise ConfigError(f"tabletop has no task '{context.task}'; tasks: {', '.join(self._tasks)}")
        if not 0 <= context.init_id < NUM_TRAIN + NUM_EVAL:
            raise ConfigError(f"init_id: got {context.init_id}; allowed 0..{NUM_TRAIN + NUM_EVAL - 1}")
        scene = self._scene_cache.get(context)
        if scene is None:
            jitter = self.config.layout_jitter
            scene = self._scene_cache[context] = (sample_scene(task, context.init_id) if jitter is None
                                                  else jittered_scene(task, context.init_id, jitter,
                                                                      gripper_jitter=self.config.gripper_jitter,
                                                                      per_task=self.config.layout == "per_task"))
        self._task, self._context, self._t = task, context, 0
        m, d = self.model, self.data

        self.randomizer.reset()  # nominal scene, then this episode's draws if randomization is on
        self.reality.reset(task.name, context.init_id)

        mujoco.mj_resetData(m, d)
        for colour, (x, y, yaw) in scene.cubes.items():
            a = self._cube_qpos[colour]
            d.qpos[a:a + 3] = (x, y, CUBE_HALF)
            d.qpos[a + 3:a + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        for prop, (x, y) in scene.props.items():
            d.mocap_pos[self._mocap[prop]] = (x, y, 0.0)
        gx, gy, gz, gyaw = scene.gripper
        self._target_quat = np.array([np.cos(gyaw / 2), 0.0, 0.0, np.sin(gyaw / 2)])
        self._target_pos = np.array([gx, gy, gz])
        body_pos = self._body_pos_for(self._target_pos, self._target_quat)
        g = self._gripper_qpos
        d.qpos[g:g + 3] = body_pos
        d.qpos[g + 3:g + 7] = self._target_quat
        d.mocap_pos[self._mocap["gripper_target"]] = body_pos
        d.mocap_quat[self._mocap["gripper_target"]] = self._target_quat
        for q in self._finger_qpos:
            d.qpos[q] = FINGER_OPEN
        d.ctrl[0] = FINGER_OPEN
        mujoco.mj_forward(m, d)
        for _ in range(self.config.settle_steps):
            mujoco.mj_step(m, d)
        d.time = 0.0
        return self.observation()

    def step(self, action: np.ndarray, render: bool = True) -> StepResult:
        """Apply one action (clipped to the spec's limits) for one control period.

        ``render=False`` skips the cameras: the returned observation has ``images == {}`` (use it
        for the actions of a chunk whose observations nobody reads; ``observation()`` renders).
        """
        if self._task is None:
            raise RobotRLError("the env has not been reset yet: call reset(context) first")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.spec.action_dim,):
            raise ActionError(f"action: got shape {np.shape(action)}; expected ({self.spec.action_dim},)")
        if not np.all(np.isfinite(a)):
            raise ActionError(f"action: got non-finite values {a.tolist()}")
        clipped = np.clip(a, self._low, self._high)
        hold = np.zeros_like(clipped)
        hold[6] = self._gripper_command()
        applied = self.reality.action(self.randomizer.action(clipped, self._low, self._high, hold), hold)
        self._apply(applied, delay=self.reality.latency_substeps)
        self._t += 1
        success = is_success(self._task, self.privileged_state())
        timeout = self._t >= self.max_steps
        obs = self.observation() if render else self._proprio_only()
        info = {"t": self._t, "clipped": bool(np.any(clipped != a)), "timeout": timeout and not success,
                "context_id": self._context.id if self._context else ""}
        return StepResult(obs=obs, success=success, done=success or timeout, info=info)

    def set_randomization(self, enabled: bool) -> None:
        """From the next reset on, apply ``config.randomization`` (True, the default) or run the
        nominal scene (False, what evaluation asks for). The randomization generator is not
        advanced by nominal episodes."""
        self.randomizer.requested = bool(enabled)

    @property
    def randomized(self) -> bool:
        """Whether the current episode is randomized (``config.randomization.enabled`` and requested)."""
        return self.randomizer.active

    def close(self) -> None:
        """Free the renderers' GL contexts; the env cannot render afterwards."""
        self._finalizer()

    # ---- control -----------------------------------------------------------------------------

    def _gripper_command(self) -> float:
        return float(2.0 * self.data.ctrl[0] / FINGER_OPEN - 1.0)

    def _body_pos_for(self, tcp_pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
        """Gripper frame origin that puts the end-effector point at ``tcp_pos`` with orientation ``quat``."""
        return tcp_pos - quat_wxyz_to_matrix(quat) @ np.array([0.0, 0.0, TCP_OFFSET])

    def _apply(self, a: np.ndarray, delay: int = 0) -> None:
        """Drive the hand by ``a`` for one period; the command acts ``delay`` physics steps into it (latency)."""
        m, d = self.model, self.data
        if delay:  # the command has not arrived yet: the previous target holds
            mujoco.mj_step(m, d, nstep=delay)
        measured = d.site_xpos[self._tcp].copy()
        target = self._target_pos + a[:3]
        lead = target - measured
        dist = float(np.linalg.norm(lead))
        if dist > MAX_LEAD:  # blocked: do not let the command run away from the hand
            target = measured + lead * (MAX_LEAD / dist)
        target = np.clip(target, WORKSPACE_LOW, WORKSPACE_HIGH)
        quat = quat_wxyz_mul(quat_wxyz_from_rotvec(a[3:6]), self._target_quat)
        quat /= np.linalg.norm(quat)
        d.ctrl[0] = FINGER_OPEN * (float(a[6]) + 1.0) / 2.0

        mocap = self._mocap["gripper_target"]
        start_pos = d.mocap_pos[mocap].copy()
        start_quat = d.mocap_quat[mocap].copy()
        end_pos = self._body_pos_for(target, quat)
        if np.dot(start_quat, quat) < 0:
            quat = -quat
        # A command arriving late in the period ramps over what is left of it (reality latency only).
        ramp = max(1, min(int(self.substeps * RAMP_FRACTION), self.substeps - delay))
        s = (np.arange(1, ramp + 1) / ramp)[:, None]  # (ramp, 1) interpolation fractions
        positions = start_pos + s * (end_pos - start_pos)  # (ramp, 3)
        quats = (1 - s) * start_quat + s * quat  # (ramp, 4): normalised lerp, fine for steps <= 0.5 rad
        quats /= np.linalg.norm(quats, axis=1, keepdims=True)
        for i in range(ramp):
            d.mocap_pos[mocap] = positions[i]
            d.mocap_quat[mocap] = quats[i]
            mujoco.mj_step(m, d)
        if self.substeps > delay + ramp:  # the target holds still for the rest of the period
            mujoco.mj_step(m, d, nstep=self.substeps - delay - ramp)
        self._target_pos, self._target_quat = target, quat

    # ---- observations and state ----------------------------------------------------------------

    def _proprio(self) -> np.ndarray:
        d = self.data
        quat = d.xquat[self._gripper_body]
        opening = d.qpos[self._finger_qpos[0]] / FINGER_OPEN
        rotvec = quat_wxyz_to_rotvec(quat)
        return np.concatenate([d.site_xpos[self._tcp], rotvec, [2.0 * opening - 1.0]]).astype(np.float32)

    def _proprio_only(self) -> Observation:
        return Observation(images={}, proprio=self.reality.proprio(self._proprio()),
                           instruction=self._task.instruction if self._task else "",
                           timestamp=float(self.data.time))

    def render(self, camera: str) -> np.ndarray:
        """Render one camera of the current scene: uint8 (H, W, 3), before image randomization."""
        cam = self.spec.camera(camera)
        renderer = self._renderers[(cam.height, cam.width)]
        renderer.update_scene(self.data, camera=self._cam_ids[camera])
        return renderer.render()

    def render_frame(self, camera: str, height: int, width: int) -> np.ndarray:
        """One camera as a real driver would stream it: uint8 (height, width, 3), e.g. 480 x 640.

        The field of view is widened so that the policy path's fit (centre crop to the spec aspect,
        then area resize: robot_rl/robot/image_fit.py) shows what :meth:`observation` shows. The
        reality profile's sensor noise and blur are applied at the driver's size, scaled so that
        after the fit they match those of :meth:`observation`.
        """
        cam = self.spec.camera(camera)
        off = self.model.vis.global_
        if height > off.offheight or width > off.offwidth:
            raise ConfigError(f"render_frame: {width}x{height} is larger than the offscreen buffer "
                              f"{off.offwidth}x{off.offheight}")
        key = ("frame", height, width)
        if key not in self._renderers:
            r = mujoco.Renderer(self.model, height, width)
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.config.shadows
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
            self._renderers[key] = r
        cid = self._cam_ids[camera]
        fovy = float(self.model.cam_fovy[cid])
        wide, crop_rows = self._frame_fovy(camera, height, width)
        self.model.cam_fovy[cid] = wide
        try:
            renderer = self._renderers[key]
            renderer.update_scene(self.data, camera=cid)
            img = renderer.render()
        finally:
            self.model.cam_fovy[cid] = fovy
        return self.reality.image(img, scale=crop_rows / cam.height)

    def _frame_fovy(self, camera: str, height: int, width: int) -> tuple[float, float]:
        """(vertical field of view [deg] of a driver-sized frame, rows the policy path's crop keeps)."""
        cam = self.spec.camera(camera)
        fovy = float(self.model.cam_fovy[self._cam_ids[camera]])
        # The crop keeps the full height when the frame is wider than the spec aspect; otherwise it keeps
        # width / spec aspect rows, and the vertical field of view must grow by height / those rows.
        crop_rows = min(height, width * cam.height / cam.width)
        return float(2 * np.degrees(np.arctan(np.tan(np.radians(fovy) / 2) * height / crop_rows))), crop_rows

    def frame_camera_matrix(self, camera: str, height: int, width: int) -> np.ndarray:
        """The pinhole K (3, 3) of :meth:`render_frame` frames: square pixels, principal point at the centre.

        MuJoCo renders with the vertical field of view ``fovy``: ``fy = (height / 2) / tan(fovy / 2)``.
        Pixel centres sit at integer coordinates (OpenCV's convention, as in ``image_fit.fit_intrinsics``),
        so the centre of the image is ``((width - 1) / 2, (height - 1) / 2)``.
        """
        fovy, _ = self._frame_fovy(camera, height, width)
        f = (height / 2.0) / np.tan(np.radians(fovy) / 2.0)
        return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])

    def observation(self) -> Observation:
        """The observation of the current scene, with every spec camera rendered."""
        obs = self._proprio_only()
        for cam in self.spec.camera_names:
            img = self.render(cam)
            obs.images[cam] = self.randomizer.image(self.reality.image(img))
        return obs

    def describe_reality(self) -> dict[str, Any]:
        """Every reality shift this env applies, with its drawn values (``{"profile", "seed", "shifts"}``)."""
        return self.reality.describe()

    def privileged_state(self) -> dict[str, Any]:
        """Simulator ground truth for success predicates and scripted experts (not for policies)."""
        d = self.data
        touching = {c: False for c in CUBE_COLOURS}
        geom_to_cube = {g: c for c, g in self._cube_geom.items()}
        for g1, g2 in d.contact.geom[: d.ncon]:
            if g1 in self._finger_geoms and g2 in geom_to_cube:
                touching[geom_to_cube[g2]] = True
            elif g2 in self._finger_geoms and g1 in geom_to_cube:
                touching[geom_to_cube[g1]] = True
        cubes = {}
        for c, a in self._cube_qpos.items():
            cubes[c] = {"pos": d.qpos[a:a + 3].copy(), "quat_wxyz": d.qpos[a + 3:a + 7].copy(),
                        "touching_fingers": touching[c]}
        return {
            "eef_pos": d.site_xpos[self._tcp].copy(),
            "eef_quat_wxyz": d.xquat[self._gripper_body].copy(),
            "gripper_opening": float(d.qpos[self._finger_qpos[0]]),
            "cubes": cubes,
            "props": {p: d.mocap_pos[self._mocap[p]].copy() for p in ("bowl", "plate", "target")},
        }
