"""Scripted experts: one closed-loop state machine per task kind, acting through the 7-D action.

An expert reads privileged simulator state (object poses, finger contacts) from the env it is
bound to, and returns actions in spec units, exactly what a policy would send. Optional Gaussian
noise on the motion dimensions makes demonstrations vary; the closed loop corrects for it.

    expert = suite.expert("place_red_bowl", noise=0.1, seed=3)
    obs = env.reset(ctx); expert.reset(env)
    while True:
        result = env.step(expert.act(obs)); obs = result.obs
        if result.done: break
"""

from __future__ import annotations

import numpy as np

from sim.tabletop.env import TabletopEnv
from sim.tabletop.mj_quat import quat_wxyz_conj, quat_wxyz_mul, quat_wxyz_to_rotvec
from sim.tabletop.scene import CUBE_HALF, PLATE_HEIGHT
from sim.tabletop.tasks import TaskDef

OPEN, CLOSE = 1.0, -1.0
MAX_STEP = 0.04  # the expert's own speed limit per step [m], below the spec's 0.05
MAX_ROT = 0.4  # [rad]
HOVER_Z = 0.1  # end-effector height above a cube before descending [m]
CARRY_Z = 0.17  # end-effector height when carrying [m]
PUSH_SPEED = 0.015  # [m per step]; faster pushes fling the cube
PUSH_STANDOFF = 0.065  # pusher start distance behind the cube centre [m]
PUSH_GRIP = CLOSE  # closed fingers make a ~2.5 cm square pusher; half-open ones let the cube wedge in
PUSH_NOISE_SCALE = 0.25  # noise while in contact is scaled down: a noisy push loses the cube


def yaw_of(quat_wxyz: np.ndarray) -> float:
    """Yaw [rad] (rotation about world z) of a MuJoCo ``(w, x, y, z)`` quaternion."""
    w, x, y, z = quat_wxyz
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


class TabletopExpert:
    """Scripted expert for one tabletop task; ``reset(env)`` binds it to an env after ``env.reset``."""

    def __init__(self, task: TaskDef, noise: float = 0.0, seed: int = 0) -> None:
        if noise < 0:
            raise ValueError(f"noise: got {noise}; must be >= 0")
        self.task = task
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._env: TabletopEnv | None = None
        self.phase = "start"
        self._count = 0

    def reset(self, env: TabletopEnv) -> None:
        """Start a new episode on ``env`` (already reset to a context of this expert's task)."""
        if env.task is None or env.task.name != self.task.name:
            raise ValueError(f"expert for '{self.task.name}' bound to an env reset to "
                             f"'{env.task.name if env.task else None}'")
        self._env = env
        self.phase = "above" if self.task.kind != "push" else "push_above"
        self._count = 0
        self._standoff = PUSH_STANDOFF

    def act(self, obs: object = None) -> np.ndarray:
        """The next action, float32 (7,). ``obs`` is accepted for interface symmetry and unused."""
        if self._env is None:
            raise RuntimeError("call expert.reset(env) after env.reset(context) first")
        s = self._env.privileged_state()
        if self.task.kind == "push":
            a = self._push(s)
        else:
            a = self._pick_and_place(s)
        noise = self.noise * (PUSH_NOISE_SCALE if self.phase == "push" else 1.0)
        if noise > 0:
            # Noise grows with the commanded motion: demonstrations vary along the way, but fine
            # positioning near a grasp or a release stays precise enough to succeed.
            a[:3] += self._rng.normal(0.0, noise * (np.linalg.norm(a[:3]) + 0.002), 3)
            a[3:6] += self._rng.normal(0.0, noise * (np.linalg.norm(a[3:6]) + 0.01), 3)
        low, high = self._env.spec.action_low, self._env.spec.action_high
        return np.clip(a, low, high).astype(np.float32)

    # ---- motion primitives ---------------------------------------------------------------------

    def _move(self, s: dict, target: np.ndarray, yaw: float, grip: float, step: float = MAX_STEP,
              frm: np.ndarray | None = None) -> np.ndarray:
        """Action moving point ``frm`` (default the end-effector) towards ``target`` and to ``yaw``, roll/pitch 0."""
        frm = s["eef_pos"] if frm is None else frm
        delta = np.asarray(target, float) - frm
        norm = np.linalg.norm(delta)
        if norm > step:
            delta *= step / norm
        desired = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
        cur = s["eef_quat_wxyz"]
        err = quat_wxyz_mul(desired, quat_wxyz_conj(cur))  # desired * current^-1 (world frame)
        rot = quat_wxyz_to_rotvec(err)
        rn = np.linalg.norm(rot)
        if rn > MAX_ROT:
            rot *= MAX_ROT / rn
        return np.concatenate([delta, rot, [grip]])

    def _grasp_yaw(self, s: dict, cube_quat: np.ndarray) -> float:
        """Gripper yaw aligned with the cube's faces, the one closest to the current yaw."""
        cube_yaw = yaw_of(cube_quat)
        cur = yaw_of(s["eef_quat_wxyz"])
        k = np.round(wrap(cur - cube_yaw) / (np.pi / 2))
        return wrap(cube_yaw + k * np.pi / 2)

    # ---- pick / place / stack ------------------------------------------------------------------

    def _release_height(self, s: dict) -> tuple[np.ndarray, float]:
        """Where the carried cube's centre goes (xy) and how high, for the task's goal."""
        if self.task.kind == "stack":
            base = s["cubes"][self.task.goal]["pos"]
            return base[:2], base[2] + 2 * CUBE_HALF + 0.006
        goal = s["props"][self.task.goal]
        if self.task.goal == "bowl":
            return goal[:2], CUBE_HALF + 0.02
        return goal[:2], PLATE_HEIGHT + CUBE_HALF + 0.008

    def _pick_and_place(self, s: dict) -> np.ndarray:
        cube = s["cubes"][self.task.obj]
        pos = cube["pos"]
        eef = s["eef_pos"]
        held = cube["touching_fingers"]
        if self.phase in ("lift", "carry", "lower") and not held:
            self.phase = "above"  # dropped it: start over
        if self.phase == "above":
            yaw = self._grasp_yaw(s, cube["quat_wxyz"])
            target = pos + np.array([0, 0, HOVER_Z])
            err = target - eef
            yaw_err = abs(wrap(yaw - yaw_of(s["eef_quat_wxyz"])))
            if np.linalg.norm(err[:2]) < 0.008 and abs(err[2]) < 0.02 and yaw_err < 0.05:
                self.phase = "descend"
            else:
                return self._move(s, target, yaw, OPEN)
        if self.phase == "descend":
            yaw = self._grasp_yaw(s, cube["quat_wxyz"])
            target = pos + np.array([0, 0, -0.002])
            if np.linalg.norm(target - eef) < 0.006:
                self.phase, self._count = "grasp", 0
            else:
                return self._move(s, target, yaw, OPEN)
        if self.phase == "grasp":
            self._count += 1
            if self._count > 3 and held:
                self.phase = "lift"
            elif self._count > 8:
                self.phase = "above"  # missed: try again
            return self._move(s, eef, yaw_of(s["eef_quat_wxyz"]), CLOSE)
        yaw_hold = yaw_of(s["eef_quat_wxyz"])
        if self.phase == "lift":
            target = np.array([pos[0], pos[1], CARRY_Z])
            if self.task.kind == "pick" or eef[2] < CARRY_Z - 0.02:
                return self._move(s, target, yaw_hold, CLOSE)
            self.phase = "carry"
        goal_xy, release_z = self._release_height(s)
        if self.phase == "carry":
            target = np.array([goal_xy[0], goal_xy[1], pos[2]])
            if np.linalg.norm(target[:2] - pos[:2]) < 0.006:
                self.phase = "lower"
            else:
                return self._move(s, target, yaw_hold, CLOSE, frm=pos)
        if self.phase == "lower":
            target = np.array([goal_xy[0], goal_xy[1], release_z])
            if abs(pos[2] - release_z) < 0.006:
                self.phase, self._count = "release", 0
            else:
                return self._move(s, target, yaw_hold, CLOSE, step=0.03, frm=pos)
        if self.phase == "release":
            self._count += 1
            if self._count > 3:
                self.phase = "retreat"
            return self._move(s, eef, yaw_hold, OPEN)
        # retreat: straight up, open
        return self._move(s, np.array([eef[0], eef[1], CARRY_Z]), yaw_hold, OPEN)

    # ---- push ----------------------------------------------------------------------------------

    def _push(self, s: dict) -> np.ndarray:
        pos = s["cubes"][self.task.obj]["pos"]
        goal = s["props"]["target"]
        eef = s["eef_pos"]
        to_goal = goal[:2] - pos[:2]
        dist = float(np.linalg.norm(to_goal))
        direction = to_goal / max(dist, 1e-6)
        yaw = 0.0  # the pusher is square: no need to turn
        pre = np.array([*(pos[:2] - direction * self._standoff), 0.0])
        if dist < 0.012 and self.phase == "push":
            self.phase = "back_off"
        tilt = float(np.linalg.norm(quat_wxyz_to_rotvec(s["eef_quat_wxyz"])[:2]))
        if self.phase in ("push", "push_down") and tilt > 0.15:
            # The hand is jammed against something (the bowl, the plate): back up, start closer next time.
            if self.phase == "push_down":
                self._standoff = max(0.04, self._standoff - 0.01)
            self.phase = "push_up"
        if self.phase == "push_above":
            target = pre + np.array([0, 0, 0.08])
            if np.linalg.norm(target - eef) < 0.012:
                self.phase = "push_down"
            else:
                return self._move(s, target, yaw, PUSH_GRIP)
        if self.phase == "push_down":
            target = pre + np.array([0, 0, 0.02])
            if np.linalg.norm(target - eef) < 0.008:
                self.phase = "push"
            else:
                return self._move(s, target, yaw, PUSH_GRIP, step=0.03)
        if self.phase == "push":
            rel = eef[:2] - pos[:2]
            lateral = rel - direction * np.dot(rel, direction)
            if np.linalg.norm(lateral) > 0.015 or np.dot(rel, direction) > -0.02:
                self.phase = "push_up"  # lost the line: go around and line up again
            else:
                # Aim the pusher at the point behind the cube on the line to the goal, moving forward.
                behind = pos[:2] - direction * 0.03
                target_xy = behind + direction * min(PUSH_SPEED, dist)
                target = np.array([target_xy[0], target_xy[1], 0.02])
                return self._move(s, target, yaw, PUSH_GRIP, step=PUSH_SPEED + 0.005)
        if self.phase == "push_up":
            if eef[2] > 0.07:
                self.phase = "push_above"
                return self._move(s, pre + np.array([0, 0, 0.08]), yaw, PUSH_GRIP)
            return self._move(s, np.array([eef[0], eef[1], 0.09]), yaw_of(s["eef_quat_wxyz"]), PUSH_GRIP)
        if self.phase == "back_off" and dist > 0.025 and eef[2] > 0.07:
            self.phase = "push_above"  # the cube slid on or was knocked off the target: push again
            return self._move(s, pre + np.array([0, 0, 0.08]), yaw, PUSH_GRIP)
        # back_off: away from the cube and up, so it is released on the target
        target = np.array([*(eef[:2] - direction * 0.02), 0.08])
        return self._move(s, target, yaw_of(s["eef_quat_wxyz"]), PUSH_GRIP)
