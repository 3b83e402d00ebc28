"""Map the spec's proprio vector to and from what a robot publishes (joint states + end-effector pose).

A mapping is a list of ``"FIELD=SOURCE"`` strings, one per proprio field of the spec, in any order
(ROS parameters are flat, hence strings). Sources:

=====================  ====  ======================================================================
source                 size  value
=====================  ====  ======================================================================
``ee_position``        3     end-effector position x, y, z [m] (pose topic)
``ee_position_xy``     2     x, y only (planar robots); z is published as 0
``ee_axis_angle``      3     end-effector orientation as a rotation vector [rad] (from the quaternion)
``ee_quaternion``      4     orientation quaternion x, y, z, w
``joints:A,B,...``     n     positions of the named joints on ``/joint_states``, in that order
=====================  ====  ======================================================================

A ``joints`` source may map the driver's units linearly onto the spec's range with
``from LOW..HIGH to LOW..HIGH``, e.g. a Franka finger (0 closed .. 0.04 m open) onto the spec's
gripper (-1 closed .. +1 open): ``"gripper=joints:panda_finger_joint1 from 0..0.04 to -1..1"``, or a
Robotiq 2F-85 knuckle (0 open .. 0.8 rad closed): ``"gripper=joints:finger_joint from 0..0.8 to 1..-1"``.

The tabletop spec is ``["eef_pos=ee_position", "eef_axis_angle=ee_axis_angle",
"gripper=joints:gripper"]``. The policy node assembles proprio with :meth:`ProprioMap.from_robot`;
the sim robot publishes its env's proprio with :meth:`ProprioMap.to_robot`, so both agree by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.rotations import quat_from_rotvec, quat_normalize, quat_to_rotvec
from robot_rl.spec import EmbodimentSpec

_POSE_SOURCES = {"ee_position": 3, "ee_position_xy": 2, "ee_axis_angle": 3, "ee_quaternion": 4}


@dataclass(frozen=True)
class ProprioSource:
    """Where one proprio field comes from: a pose source name, or ``joints`` with joint names."""

    field: str
    kind: str                 # one of _POSE_SOURCES or "joints"
    joints: tuple[str, ...] = ()
    scale: float = 1.0        # spec value = driver value * scale + offset (joints only)
    offset: float = 0.0

    @property
    def size(self) -> int:
        return len(self.joints) if self.kind == "joints" else _POSE_SOURCES[self.kind]


def parse_source(entry: str) -> ProprioSource:
    """``"gripper=joints:finger_left"`` -> ProprioSource; ValueError naming what is allowed."""
    field, sep, source = (s.strip() for s in entry.partition("="))
    if not sep or not field or not source:
        raise ValueError(f"proprio source {entry!r}: expected 'FIELD=SOURCE'")
    if source.startswith("joints:"):
        source, _, mapping = source.partition(" from ")
        names = tuple(n.strip() for n in source.removeprefix("joints:").split(","))
        if not all(names):
            raise ValueError(f"proprio source {entry!r}: joints:NAME[,NAME...] needs non-empty joint names")
        scale, offset = _parse_range_map(entry, mapping) if mapping else (1.0, 0.0)
        return ProprioSource(field, "joints", names, scale, offset)
    if source not in _POSE_SOURCES:
        raise ValueError(f"proprio source {entry!r}: unknown source {source!r}; allowed: "
                         f"{', '.join(_POSE_SOURCES)}, joints:NAME[,NAME...]")
    return ProprioSource(field, source)


def _parse_range_map(entry: str, mapping: str) -> tuple[float, float]:
    """``"0..0.04 to -1..1"`` -> (scale, offset) with spec = driver * scale + offset."""
    hint = f"proprio source {entry!r}: expected 'joints:NAMES from LOW..HIGH to LOW..HIGH' (driver units to spec units)"
    src, sep, dst = mapping.partition(" to ")
    try:
        (a, b), (c, d) = (tuple(float(v) for v in part.strip().split("..")) for part in (src, dst))
    except ValueError:
        raise ValueError(hint) from None
    if not sep or not all(np.isfinite([a, b, c, d])) or a == b:
        raise ValueError(hint + "; the driver range must be finite and non-empty")
    scale = (d - c) / (b - a)
    return scale, c - a * scale


@dataclass
class RobotState:
    """What the robot reports: end-effector position (3,), quaternion (4,) x y z w, joint positions by name."""

    position: np.ndarray
    quaternion: np.ndarray
    joints: dict[str, float]


class ProprioMap:
    """A validated mapping between ``spec``'s proprio vector (D,) and a :class:`RobotState`."""

    def __init__(self, spec: EmbodimentSpec, entries: list[str]) -> None:
        self.spec = spec
        sources = {}
        for entry in entries:
            try:
                src = parse_source(entry)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            if src.field in sources:
                raise ConfigError(f"proprio source for '{src.field}' is given twice")
            sources[src.field] = src
        fields = {f.name: f for f in spec.proprio}
        unknown = sorted(set(sources) - set(fields))
        missing = [f for f in fields if f not in sources]
        if unknown or missing:
            raise ConfigError(f"proprio sources must name every proprio field of spec '{spec.name}' "
                              f"({', '.join(fields)}); unknown: {unknown or 'none'}, missing: {missing or 'none'}")
        for name, src in sources.items():
            if src.size != fields[name].size:
                raise ConfigError(f"proprio field '{name}' has size {fields[name].size} in spec '{spec.name}', "
                                  f"but source {src.kind}{':' + ','.join(src.joints) if src.joints else ''} "
                                  f"gives {src.size} values")
        self.sources = [sources[f.name] for f in spec.proprio]  # spec order

    @property
    def uses_pose(self) -> bool:
        return any(s.kind != "joints" for s in self.sources)

    @property
    def joint_names(self) -> list[str]:
        return [j for s in self.sources for j in s.joints]

    def from_robot(self, state: RobotState) -> np.ndarray:
        """Proprio (D,) float32 in spec order; KeyError naming a joint the state lacks."""
        parts = []
        for src in self.sources:
            if src.kind == "joints":
                missing = [j for j in src.joints if j not in state.joints]
                if missing:
                    raise KeyError(f"joint state has no joint {', '.join(missing)} (needed for '{src.field}')")
                parts.append(np.array([state.joints[j] for j in src.joints]) * src.scale + src.offset)
            elif src.kind == "ee_position":
                parts.append(state.position[:3])
            elif src.kind == "ee_position_xy":
                parts.append(state.position[:2])
            elif src.kind == "ee_axis_angle":
                parts.append(quat_to_rotvec(quat_normalize(state.quaternion)))
            else:
                parts.append(quat_normalize(state.quaternion))
        return np.concatenate(parts).astype(np.float32)  # (D,)

    def to_robot(self, proprio: np.ndarray) -> RobotState:
        """The robot state that ``proprio`` (D,) describes (identity orientation / origin where unmapped)."""
        proprio = np.asarray(proprio, dtype=np.float64)
        position, quaternion, joints = np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), {}
        for src, f in zip(self.sources, self.spec.proprio):
            value = proprio[self.spec.proprio_slice(f.name)]
            if src.kind == "joints":
                joints.update(zip(src.joints, ((value - src.offset) / src.scale).tolist()))
            elif src.kind == "ee_position":
                position = value.copy()
            elif src.kind == "ee_position_xy":
                position = np.array([value[0], value[1], 0.0])
            elif src.kind == "ee_axis_angle":
                quaternion = quat_from_rotvec(value)
            else:
                quaternion = quat_normalize(value)
        return RobotState(position, quaternion, joints)


def default_proprio_sources(spec: EmbodimentSpec) -> list[str]:
    """A guess for common layouts: ``*pos*`` -> position, ``*axis_angle*`` -> axis-angle, else joints named like the field."""
    out = []
    for f in spec.proprio:
        if "pos" in f.name and f.size in (2, 3):
            out.append(f"{f.name}={'ee_position' if f.size == 3 else 'ee_position_xy'}")
        elif ("axis_angle" in f.name or "rotvec" in f.name) and f.size == 3:
            out.append(f"{f.name}=ee_axis_angle")
        elif "quat" in f.name and f.size == 4:
            out.append(f"{f.name}=ee_quaternion")
        else:
            names = [f.name] if f.size == 1 else [f"{f.name}_{i}" for i in range(f.size)]
            out.append(f"{f.name}=joints:{','.join(names)}")
    return out
