"""Tabletop tasks: instructions, deterministic initial scenes (contexts) and success predicates.

Every task shares one scene (three cubes, a bowl, a plate, a target area), so instructions that
differ only in the object or the goal lead to different behaviour from the same pixels: a policy
has to read the language. A context ``(task, init_id)`` maps to its scene through a generator
seeded by ``(crc32(task), init_id)``: the same context gives the same scene on every machine.
Init ids ``0 .. num_train-1`` are the training contexts, the next ``num_eval`` are held out.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sim.tabletop.scene import (
    BOWL_INNER_RADIUS,
    CUBE_COLOURS,
    CUBE_HALF,
    PLATE_HEIGHT,
    PLATE_RADIUS,
    TARGET_RADIUS,
)

Kind = Literal["pick", "place", "push", "stack"]
NUM_TRAIN = 50
NUM_EVAL = 50
WORKSPACE_XY = ((-0.22, 0.22), (-0.28, 0.28))  # where objects are placed [m]
LIFT_HEIGHT = 0.1  # a picked cube's bottom must be this far above the table
PUSH_SUCCESS_RADIUS = 0.04


@dataclass(frozen=True)
class TaskDef:
    """One task: ``obj`` is a cube colour; ``goal`` is ``bowl``, ``plate``, ``target`` or a cube colour."""

    name: str
    instruction: str
    kind: Kind
    obj: str
    goal: str = ""
    max_steps: int = 80


TASKS: tuple[TaskDef, ...] = (
    TaskDef("pick_red", "pick up the red cube", "pick", "red", max_steps=60),
    TaskDef("pick_blue", "pick up the blue cube", "pick", "blue", max_steps=60),
    TaskDef("place_red_bowl", "put the red cube in the bowl", "place", "red", "bowl", max_steps=100),
    TaskDef("place_blue_bowl", "put the blue cube in the bowl", "place", "blue", "bowl", max_steps=100),
    TaskDef("place_green_plate", "put the green cube on the plate", "place", "green", "plate", max_steps=100),
    TaskDef("push_blue_target", "push the blue cube to the target", "push", "blue", "target", max_steps=120),
    TaskDef("push_red_target", "push the red cube to the target", "push", "red", "target", max_steps=120),
    TaskDef("stack_red_green", "stack the red cube on the green cube", "stack", "red", "green", max_steps=100),
)
TASKS_BY_NAME = {t.name: t for t in TASKS}

# The gripper's start box (x, y, z [m], yaw [rad]) when contexts draw it freely.
GRIPPER_START_LOW = np.array([-0.04, -0.04, 0.17, -0.3])
GRIPPER_START_HIGH = np.array([0.04, 0.04, 0.22, 0.3])

# Footprint radius of each item for keeping them apart when sampling a scene.
_RADIUS = {"bowl": BOWL_INNER_RADIUS + 0.015, "plate": PLATE_RADIUS, "target": TARGET_RADIUS}
_CUBE_RADIUS = 0.04  # footprint of a cube plus room for the open fingers


@dataclass(frozen=True)
class SceneInit:
    """Initial scene: cube (x, y, yaw), bowl/plate/target (x, y), gripper start (x, y, z, yaw)."""

    cubes: dict[str, tuple[float, float, float]]
    props: dict[str, tuple[float, float]]
    gripper: tuple[float, float, float, float]
    tries: int = field(default=0, compare=False)


def _seed(task: str, init_id: int) -> list[int]:
    return [zlib.crc32(task.encode()), init_id]


def _clear_of_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> bool:
    ab = b - a
    s = np.clip(np.dot(p - a, ab) / (np.dot(ab, ab) + 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + s * ab))) > radius


def _push_lane_ok(task: TaskDef, items: dict[str, tuple[np.ndarray, float]]) -> bool:
    """A push needs the cube 12-30 cm from the target, room behind it and a clear lane to the target."""
    (x0, x1), (y0, y1) = WORKSPACE_XY
    cube = items[f"{task.obj}_cube"][0]
    goal = items["target"][0]
    d = np.linalg.norm(goal - cube)
    if not 0.12 < d < 0.3:
        return False
    start = cube - (goal - cube) / d * 0.07  # where the pusher starts
    if not (x0 - 0.02 < start[0] < x1 + 0.02 and y0 - 0.02 < start[1] < y1 + 0.02):
        return False
    return all(_clear_of_segment(q, start, goal, rq + 0.05)
               for name, (q, rq) in items.items() if name not in (f"{task.obj}_cube", "target"))


def sample_scene(task: TaskDef, init_id: int) -> SceneInit:
    """The initial scene of context ``(task, init_id)``: a pure function of its arguments.

    Rejection-samples non-overlapping positions, with task-specific constraints that keep the
    task solvable (a push has a clear lane to the target; cubes have room for the fingers).
    """
    return _draw_scene(np.random.default_rng(_seed(task.name, init_id)),
                       lambda items: task.kind != "push" or _push_lane_ok(task, items), f"{task.name}/{init_id}")


@functools.lru_cache(maxsize=16)
def shared_layout(layout_id: int = 0) -> SceneInit:
    """One arrangement of all objects that every task can start from (each push task has its lane)."""
    push_tasks = [t for t in TASKS if t.kind == "push"]
    return _draw_scene(np.random.default_rng([zlib.crc32(b"shared-layout"), layout_id]),
                       lambda items: all(_push_lane_ok(t, items) for t in push_tasks), f"shared layout {layout_id}")


@functools.lru_cache(maxsize=16)
def task_layout(task_name: str) -> SceneInit:
    """The fixed arrangement of one task (LIBERO-90 style: every task has its own scene), drawn once.

    Unlike :func:`shared_layout`, the layout differs per task, so the scene itself hints at the task
    and only the objects' small per-context moves vary; a push task's own lane is kept clear.
    """
    task = TASKS_BY_NAME[task_name]
    return _draw_scene(np.random.default_rng([zlib.crc32(b"task-layout"), zlib.crc32(task_name.encode())]),
                       lambda items: task.kind != "push" or _push_lane_ok(task, items), f"layout of {task_name}")


def _draw_scene(rng: np.random.Generator, accept: Callable[[dict[str, tuple[np.ndarray, float]]], bool],
                what: str) -> SceneInit:
    (x0, x1), (y0, y1) = WORKSPACE_XY
    names = ["bowl", "plate", "target"] + [f"{c}_cube" for c in CUBE_COLOURS]
    for tries in range(1, 10_000):
        # Place items one at a time, each rejection-sampled against those already placed.
        items: dict[str, tuple[np.ndarray, float]] = {}
        for name in names:
            r = _RADIUS.get(name, _CUBE_RADIUS)
            margin = r if name in _RADIUS else 0.03
            for _ in range(100):
                p = rng.uniform([x0 + margin, y0 + margin], [x1 - margin, y1 - margin])
                if all(np.linalg.norm(p - q) >= r + rq + (0.01 if "target" in (name, other) else 0.02)
                       for other, (q, rq) in items.items()):
                    items[name] = (p, r)
                    break
            else:
                break
        if len(items) < len(names):
            continue
        if not accept(items):
            continue
        cubes = {
            c: (float(items[f"{c}_cube"][0][0]), float(items[f"{c}_cube"][0][1]), float(rng.uniform(-np.pi / 4, np.pi / 4)))
            for c in CUBE_COLOURS
        }
        props = {k: (float(items[k][0][0]), float(items[k][0][1])) for k in ("bowl", "plate", "target")}
        g = rng.uniform(GRIPPER_START_LOW, GRIPPER_START_HIGH)
        return SceneInit(cubes, props, (float(g[0]), float(g[1]), float(g[2]), float(g[3])), tries)
    raise RuntimeError(f"could not sample a scene for {what}")  # pragma: no cover


GRIPPER_YAW_PER_METRE = 10.0  # gripper_jitter of 1 cm also turns the start yaw by up to 0.1 rad


def jittered_scene(task: TaskDef, init_id: int, jitter: float, layout_id: int = 0,
                   gripper_jitter: float | None = None, per_task: bool = False) -> SceneInit:
    """LIBERO-style context: :func:`shared_layout` with every object moved by up to ``jitter``.

    Every task starts from the same fixed arrangement (so only the instruction tells the tasks
    apart, as in LIBERO-Goal), or with ``per_task`` from its own (:func:`task_layout`, as in
    LIBERO-90), and a context only perturbs it (uniform
    +-``jitter`` metres in x and y, +-0.3 rad of cube yaw, a fresh gripper start), as LIBERO's
    initial states do: the regime where a handful of demonstrations covers the held-out states.
    ``gripper_jitter`` (m): the gripper starts at the layout's own start pose moved by up to this
    in x, y and z (and its yaw by up to ``GRIPPER_YAW_PER_METRE`` times this), as LIBERO's robot
    starts from one home pose; None: anywhere in the start box (+-4 cm, 17-22 cm high, +-0.3 rad).
    Draws that overlap, leave the workspace or (push) block the lane are rejected. A pure
    function of its arguments, like :func:`sample_scene`.
    """
    base = task_layout(task.name) if per_task else shared_layout(layout_id)
    rng = np.random.default_rng(_seed(task.name, init_id) + [1])  # + [1]: a stream apart from sample_scene's
    (x0, x1), (y0, y1) = WORKSPACE_XY
    for tries in range(1, 10_000):
        items: dict[str, tuple[np.ndarray, float]] = {}
        for name, (x, y) in base.props.items():
            items[name] = (np.array([x, y]) + rng.uniform(-jitter, jitter, 2), _RADIUS[name])
        yaws = {}
        for colour, (x, y, yaw) in base.cubes.items():
            items[f"{colour}_cube"] = (np.array([x, y]) + rng.uniform(-jitter, jitter, 2), _CUBE_RADIUS)
            yaws[colour] = float(np.clip(yaw + rng.uniform(-0.3, 0.3), -np.pi / 4, np.pi / 4))
        names = list(items)
        inside = all(x0 <= p[0] <= x1 and y0 <= p[1] <= y1 for p, _ in items.values())
        apart = all(np.linalg.norm(items[a][0] - items[b][0]) >= items[a][1] + items[b][1]
                    for i, a in enumerate(names) for b in names[i + 1:])
        if not (inside and apart) or (task.kind == "push" and not _push_lane_ok(task, items)):
            continue
        cubes = {c: (float(items[f"{c}_cube"][0][0]), float(items[f"{c}_cube"][0][1]), yaws[c]) for c in CUBE_COLOURS}
        props = {k: (float(items[k][0][0]), float(items[k][0][1])) for k in ("bowl", "plate", "target")}
        g = rng.uniform(GRIPPER_START_LOW, GRIPPER_START_HIGH)
        if gripper_jitter is not None:  # the same draws, rescaled around the layout's start pose
            half = (GRIPPER_START_HIGH - GRIPPER_START_LOW) / 2
            unit = (g - (GRIPPER_START_LOW + half)) / half  # (4,) in [-1, 1]
            g = np.asarray(base.gripper) + unit * gripper_jitter * np.array([1.0, 1.0, 1.0, GRIPPER_YAW_PER_METRE])
        return SceneInit(cubes, props, (float(g[0]), float(g[1]), float(g[2]), float(g[3])), tries)
    raise RuntimeError(f"could not jitter the layout of {task.name}/{init_id}")  # pragma: no cover


def is_success(task: TaskDef, state: dict) -> bool:
    """Whether ``state`` (from ``TabletopEnv.privileged_state()``) satisfies the task.

    Place, stack and push require the cube to be released (no finger touching it), so holding a
    cube over the goal does not count.
    """
    cube = state["cubes"][task.obj]["pos"]
    released = not state["cubes"][task.obj]["touching_fingers"]
    if task.kind == "pick":
        return bool(cube[2] - CUBE_HALF > LIFT_HEIGHT and state["cubes"][task.obj]["touching_fingers"])
    if task.kind == "push":
        goal = state["props"]["target"]
        return bool(np.linalg.norm(cube[:2] - goal[:2]) < PUSH_SUCCESS_RADIUS and cube[2] < CUBE_HALF + 0.01 and released)
    if task.kind == "place" and task.goal == "bowl":
        bowl = state["props"]["bowl"]
        inside = np.linalg.norm(cube[:2] - bowl[:2]) < BOWL_INNER_RADIUS - 0.01
        return bool(inside and cube[2] < CUBE_HALF + 0.03 and released)
    if task.kind == "place" and task.goal == "plate":
        plate = state["props"]["plate"]
        on = np.linalg.norm(cube[:2] - plate[:2]) < PLATE_RADIUS - 0.005
        resting = abs(cube[2] - (PLATE_HEIGHT + CUBE_HALF)) < 0.01
        return bool(on and resting and released)
    if task.kind == "stack":
        base = state["cubes"][task.goal]["pos"]
        aligned = np.linalg.norm(cube[:2] - base[:2]) < CUBE_HALF
        on_top = abs(cube[2] - base[2] - 2 * CUBE_HALF) < 0.01
        base_down = base[2] < CUBE_HALF + 0.005
        return bool(aligned and on_top and base_down and released)
    raise ValueError(f"unknown task kind {task.kind!r}")  # pragma: no cover
