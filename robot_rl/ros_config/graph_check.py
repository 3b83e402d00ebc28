"""Checks that span nodes: what each node's parameters say about the others, in words.

Every node's own parameters are validated by its config model (:func:`robot_rl.ros_config.graph.
validate_graph`); a graph can still not work as a whole: a camera streams frames the spec cannot use,
the executor commands joints the policy never reads, two camera nodes open the same device, a
reliable subscriber waits for a best-effort publisher. :func:`check_graph` finds these from the
validated configs of a graph (``robot-rl up GRAPH --check``); :func:`check_running` finds the same
classes of problems from what a running graph shows (``robot-rl doctor``, the rclpy side in
``ros_nodes/doctor.py``). Both are pure: no ROS here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from robot_rl.config import StrictConfig
from robot_rl.robot.proprio import parse_source
from robot_rl.wire import topics
from robot_rl.ros_config.executor import check_command_spec
from robot_rl.spec import EmbodimentSpec, load_spec

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One cross-node problem: ``error`` (the graph cannot work) or ``warning`` (it works; read this)."""

    level: Level
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


@dataclass(frozen=True)
class NodeInfo:
    """A node of a graph: its name, console script and validated config."""

    name: str
    executable: str
    config: StrictConfig


def camera_fit(camera: str, size_wh: tuple[int, int], spec_wh: tuple[int, int], resize: bool,
               where: str) -> Finding | None:
    """A camera's frame size against the spec's: equal is fine, larger is fitted (or refused without
    ``resize``), smaller is always refused (policy_node never upsamples)."""
    (w, h), (sw, sh) = size_wh, spec_wh
    if (w, h) == (sw, sh):
        return None
    if w < sw or h < sh:
        return Finding("error", f"{where}: camera '{camera}' streams {w}x{h}, smaller than the spec's {sw}x{sh}: "
                                "policy_node refuses every frame (raise the camera's width/height)")
    if not resize:
        return Finding("error", f"{where}: camera '{camera}' streams {w}x{h} but the spec wants {sw}x{sh} and "
                                "policy_node has resize_images: false, so every frame is refused")
    return Finding("warning", f"{where}: camera '{camera}' streams {w}x{h}; policy_node fits it to the spec's "
                              f"{sw}x{sh} (centre crop to the spec's aspect, then area resize)")


def qos_mismatch(publisher: str, subscriber: str) -> bool:
    """True when a subscription with QoS ``subscriber`` never hears a publisher with QoS ``publisher``
    (named profiles: sensor_data is best effort, reliable and latched are reliable)."""
    return publisher == "sensor_data" and subscriber in ("reliable", "latched")


def _spec(name: str, node: str, out: list[Finding]) -> EmbodimentSpec | None:
    try:
        return load_spec(name)
    except (KeyError, OSError, ValueError) as err:
        out.append(Finding("error", f"{node}: spec {name!r}: {err}"))
        return None


def _proprio_joints(entries: list[str]) -> list[str]:
    names: list[str] = []
    for entry in entries:
        source = parse_source(entry)
        if source.kind == "joints":
            names.extend(source.joints)
    return names


def check_graph(nodes: list[NodeInfo]) -> list[Finding]:
    """Cross-node findings of a graph (see the module docstring), errors first."""
    out: list[Finding] = []
    by_exe: dict[str, list[NodeInfo]] = {}
    for n in nodes:
        by_exe.setdefault(n.executable, []).append(n)
    cameras = by_exe.get("camera_node", [])
    policy = (by_exe.get("policy_node") or [None])[0]
    executor = (by_exe.get("action_executor") or [None])[0]
    sim = (by_exe.get("sim_robot_node") or [None])[0]

    # The spec: every node that has one must name the same.
    specs = {n.name: getattr(n.config, "spec") for n in nodes if hasattr(n.config, "spec")}
    if len(set(specs.values())) > 1:
        out.append(Finding("error", "nodes name different specs: "
                                    + ", ".join(f"{k}: {v}" for k, v in specs.items())))
    spec = _spec(policy.config.spec, policy.name, out) if policy else None

    # Duplicate serials: two RealSense camera nodes with the same serial (empty = "the first one found").
    serials: dict[str, list[str]] = {}
    for c in cameras:
        if c.config.source == "realsense":
            serials.setdefault(c.config.serial, []).append(c.name)
    for serial, names in serials.items():
        if len(names) > 1:
            what = "no serial (each opens the first RealSense found)" if not serial else f"serial {serial!r}"
            out.append(Finding("error", f"camera nodes {', '.join(names)} have {what}: they would open the same "
                                        "device; set each camera node's serial (rs-enumerate-devices lists them)"))

    # Cameras vs the spec and the subscribers' QoS.
    published = {topics.image_topic(c.config.camera_name): c for c in cameras}
    if spec is not None and policy is not None:
        try:
            wanted = topics.resolve_image_topics(spec.camera_names, policy.config.image_topics)
        except ValueError as err:
            out.append(Finding("error", f"{policy.name}: {err}"))
            wanted = {c: topics.image_topic(c) for c in spec.camera_names}
        for cam in spec.cameras:
            topic = wanted[cam.name]
            source = published.get(topic)
            if source is not None:
                cfg = source.config
                found = camera_fit(cam.name, (cfg.width, cfg.height), (cam.width, cam.height),
                                   policy.config.resize_images, f"{source.name} -> {policy.name}")
                if found:
                    out.append(found)
                if qos_mismatch(cfg.qos, policy.config.image_qos):
                    out.append(Finding("error", f"{source.name} publishes {topic} best effort (qos: sensor_data) but "
                                                f"{policy.name} subscribes reliable (image_qos: reliable): no frame "
                                                "arrives; use sensor_data on the subscriber"))
            elif sim is not None:
                if qos_mismatch(sim.config.image_qos, policy.config.image_qos):
                    out.append(Finding("error", f"{sim.name} publishes images best effort but {policy.name} "
                                                "subscribes reliable: no frame arrives"))
            elif cam.name in policy.config.image_topics_map():
                out.append(Finding("warning", f"{policy.name} takes camera '{cam.name}' from {topic}, another "
                                              f"driver (not in this graph): check it streams at least "
                                              f"{cam.width}x{cam.height} (robot-rl doctor, on the running graph)"))
            else:
                out.append(Finding("error", f"nothing in this graph publishes {topic} for the spec's camera "
                                            f"'{cam.name}' ({policy.name} would wait for it forever)"))

    # The panel shows what the policy sees: the same topic per camera.
    for panel in by_exe.get("success_label_node", []):
        if spec is None or policy is None:
            break
        try:
            shown = topics.resolve_image_topics(panel.config.cameras or spec.camera_names, panel.config.image_topics)
        except ValueError as err:
            out.append(Finding("error", f"{panel.name}: {err}"))
            continue
        for cam, topic in shown.items():
            if cam in wanted and wanted[cam] != topic:
                out.append(Finding("warning", f"{panel.name} shows camera '{cam}' from {topic} but {policy.name} "
                                              f"acts on {wanted[cam]}: set the same image_topics in both"))

    # The executor against the spec, the policy's proprio joints, and a sim robot's command type.
    ex_spec = _spec(executor.config.spec, executor.name, out) if executor else None
    if executor is not None and ex_spec is not None:
        ex = executor.config
        try:
            setup = check_command_spec(ex, ex_spec)
        except Exception as err:  # noqa: BLE001 - ConfigError from the executor's own check, in words
            out.append(Finding("error", f"{executor.name}: command_type {ex.command_type}: {err}"))
            setup = None
        if setup is not None and policy is not None:
            read = _proprio_joints(policy.config.proprio_sources)
            missing = [j for j in setup.joint_names if j not in read]
            if read and missing:
                out.append(Finding("error", f"{executor.name} commands joints {missing} that {policy.name}'s "
                                            f"proprio_sources never read (it reads {read}): the names must be the "
                                            "driver's, in both"))
        if sim is not None and sim.config.command_type != ex.command_type:
            out.append(Finding("error", f"{sim.name} obeys {sim.config.command_type} commands but {executor.name} "
                                        f"sends {ex.command_type}"))
        if ex.command_type == "twist" and ex.twist_command_topic == topics.COMMAND_TWIST and sim is None:
            out.append(Finding("warning", f"{executor.name} sends twists on {topics.COMMAND_TWIST}; MoveIt Servo "
                                          "listens on /servo_node/delta_twist_cmds by default"))
    return sorted(out, key=lambda f: f.level != "error")


@dataclass
class RunningGraph:
    """What a running graph shows (filled by ``ros_nodes/doctor.py``): per topic, its publishers'
    and subscribers' node names and reliability, and samples seen."""

    publishers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)   # topic -> [(node, reliability)]
    subscribers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # topic -> [(node, reliability)]
    types: dict[str, list[str]] = field(default_factory=dict)                    # topic -> message types
    joint_names: list[str] | None = None        # names seen on the joint states topic
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # topic -> (width, height) seen


def check_running(graph: RunningGraph, spec: EmbodimentSpec, image_topics: Mapping[str, str],
                  proprio_sources: list[str], ignore_nodes: tuple[str, ...] = ()) -> list[Finding]:
    """Findings from a running graph: topics subscribed with no publisher, publishers no subscriber can
    hear (best effort vs reliable), types that differ, joints the proprio map needs but /joint_states
    lacks, image sizes against the spec (``image_topics``: camera -> topic)."""
    out: list[Finding] = []
    for topic, subs in sorted(graph.subscribers.items()):
        subs = [s for s in subs if s[0] not in ignore_nodes]
        if not subs or topic in ("/rosout", "/parameter_events"):
            continue
        pubs = [p for p in graph.publishers.get(topic, []) if p[0] not in ignore_nodes]
        if len(set(graph.types.get(topic, []))) > 1:
            out.append(Finding("error", f"{topic} carries several message types: {sorted(set(graph.types[topic]))}"))
        if not pubs:
            if topic.startswith("/robot_rl/") and topic != topics.ESTOP:
                continue  # the graph's own optional inputs (instruction, schedule, ...) may be quiet
            out.append(Finding("error" if topic in image_topics.values() or topic == topics.JOINT_STATES
                               else "warning",
                               f"{', '.join(sorted({s[0] for s in subs}))} subscribe(s) to {topic} but nothing "
                               "publishes it"))
            continue
        for sub_node, sub_rel in subs:
            if sub_rel == "reliable" and pubs and all(rel == "best_effort" for _, rel in pubs):
                out.append(Finding("error", f"{sub_node} subscribes to {topic} reliable but every publisher "
                                            f"({', '.join(sorted({p[0] for p in pubs}))}) is best effort: "
                                            "nothing arrives"))
    needed = _proprio_joints(proprio_sources)
    if needed and graph.joint_names is not None:
        missing = [j for j in needed if j not in graph.joint_names]
        if missing:
            out.append(Finding("error", f"{topics.JOINT_STATES} has no joint(s) {missing} that proprio_sources "
                                        f"need; it has {graph.joint_names}"))
    for cam in spec.cameras:
        topic = image_topics.get(cam.name, topics.image_topic(cam.name))
        if topic in graph.image_sizes:
            found = camera_fit(cam.name, graph.image_sizes[topic], (cam.width, cam.height), True, topic)
            if found:
                out.append(found)
    return sorted(out, key=lambda f: f.level != "error")
