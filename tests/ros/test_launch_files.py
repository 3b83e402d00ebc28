"""Launch files name real console scripts and parameter files that validate (read with ast:
`launch` and `launch_ros` are not installable from pip)."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from robot_rl.config import validate_config
from robot_rl.ros_config import NODE_CONFIGS, load_node_params
from robot_rl.ros_config.params_file import is_standard_parameter

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
PARAM_FILES = sorted((ROOT / "launch" / "config").glob("*.yaml"))
PROFILES = sorted((ROOT / "launch" / "config" / "profiles").glob("*.yaml"))


def console_scripts() -> dict[str, str]:
    """``name -> module:function`` from setup.py's console_scripts."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = [ast.literal_eval(e) for e in value.elts]
                    return {e.split("=")[0].strip(): e.split("=")[1].strip() for e in entries}
    raise AssertionError("setup.py has no console_scripts")


@dataclass
class LaunchNode:
    executable: str
    name: str
    param_files: list[str] = field(default_factory=list)
    inline: dict = field(default_factory=dict)


def _call_name(call: ast.Call) -> str:
    return getattr(call.func, "id", getattr(call.func, "attr", ""))


def parse_launch(path: Path) -> list[LaunchNode]:
    """The Node(...) actions of a launch file with their parameter files resolved to file names."""
    tree = ast.parse(path.read_text())
    files: dict[str, str] = {}     # variable -> "x.yaml" (last constant of its os.path.join)
    dicts: dict[str, ast.Dict] = {}  # variable -> inline parameters, e.g. spec = {"spec": ...}
    defaults: dict[str, ast.AST] = {}  # launch argument -> default_value expression
    for node in ast.walk(tree):
        # profile_yaml, external = _profile(share, NAME): the default profile's file
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _call_name(node.value) == "_profile"
                and isinstance(node.targets[0], ast.Tuple)):
            files[node.targets[0].elts[0].id] = "profiles/default.yaml"
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            dicts[node.targets[0].id] = node.value
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _call_name(node.value) == "join":
            last = node.value.args[-1]
            if isinstance(last, ast.Constant) and str(last.value).endswith(".yaml"):
                files[node.targets[0].id] = last.value
        if isinstance(node, ast.Call) and _call_name(node) == "DeclareLaunchArgument":
            for kw in node.keywords:
                if kw.arg == "default_value":
                    defaults[ast.literal_eval(node.args[0])] = kw.value

    def resolve(expr: ast.AST) -> str | None:
        if isinstance(expr, ast.Name):
            return files.get(expr.id)
        if isinstance(expr, ast.Call) and _call_name(expr) == "LaunchConfiguration":
            default = defaults.get(ast.literal_eval(expr.args[0]))
            return resolve(default) if default is not None else None
        return None

    nodes = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) == "Node"):
        kw = {k.arg: k.value for k in call.keywords}
        launch_node = LaunchNode(ast.literal_eval(kw["executable"]), ast.literal_eval(kw["name"]))
        for item in getattr(kw.get("parameters"), "elts", []):
            if isinstance(item, ast.Name) and item.id in dicts:
                item = dicts[item.id]
            if isinstance(item, ast.Starred):  # *spec: the spec argument when given
                launch_node.inline["spec"] = None
                continue
            if isinstance(item, ast.Dict):
                launch_node.inline.update({ast.literal_eval(k): None for k in item.keys})
            else:
                resolved = resolve(item)
                assert resolved, f"{path.name}: cannot resolve parameter file {ast.dump(item)}"
                launch_node.param_files.append(resolved)
        nodes.append(launch_node)
    return nodes


def test_there_are_launch_and_parameter_files():
    assert [p.name for p in LAUNCH_FILES] == ["robot.launch.py"] or len(LAUNCH_FILES) > 1
    assert PARAM_FILES


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_executable_is_a_console_script_with_a_config(launch_file):
    scripts = console_scripts()
    nodes = parse_launch(launch_file)
    assert nodes, f"{launch_file.name} starts no nodes"
    for n in nodes:
        assert n.executable in scripts, f"{launch_file.name}: {n.executable} is not a console script in setup.py"
        module, func = scripts[n.executable].split(":")
        assert callable(getattr(importlib.import_module(module), func))
        assert n.executable in NODE_CONFIGS, f"{n.executable} has no config model in robot_rl.ros_config"


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_parameter_file_validates_for_the_nodes_that_use_it(launch_file):
    for n in parse_launch(launch_file):
        model = NODE_CONFIGS[n.executable]
        for name in n.param_files:
            path = ROOT / "launch" / "config" / name
            assert path.is_file(), f"{launch_file.name}: {name} is not in launch/config"
            load_node_params(path, n.name, model)  # raises ConfigError naming the field
        own = {k for k in n.inline if not is_standard_parameter(k)}  # use_sim_time is rclpy's, every node has it
        assert own <= set(model.model_fields), f"{n.name}: unknown inline parameters {n.inline}"


def test_every_parameter_file_is_used_and_every_section_is_a_launched_node():
    launched = [n for f in LAUNCH_FILES for n in parse_launch(f)]
    used = {name for n in launched for name in n.param_files}
    assert {p.name for p in PARAM_FILES} <= used, "parameter files no launch file uses"
    from robot_rl.config import load_yaml
    from robot_rl.ros_config.params_file import node_names
    for path in PARAM_FILES:
        for node_name in node_names(load_yaml(path)):
            users = [n for n in launched if n.name == node_name and path.name in n.param_files]
            assert users, f"{path.name}: section '{node_name}' matches no launched node"


def test_a_broken_parameter_file_would_fail(tmp_path):
    from robot_rl.errors import ConfigError
    bad = tmp_path / "cameras.yaml"
    bad.write_text("wrist_camera:\n  ros__parameters:\n    fps: -3\n")
    with pytest.raises(ConfigError, match="wrist_camera: fps"):
        load_node_params(bad, "wrist_camera", NODE_CONFIGS["camera_node"])
    assert validate_config(NODE_CONFIGS["camera_node"], {"fps": 15}).fps == 15


GRAPHS = ROOT / "launch" / "graphs"


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_file_has_a_robot_rl_up_twin_with_the_same_nodes(launch_file):
    """`robot-rl up NAME` must start what `ros2 launch NAME.launch.py` starts, from the same files."""
    from robot_rl.ros_config.graph import apply_profile, load_graph, validate_graph
    graph_path = GRAPHS / launch_file.name.replace(".launch.py", ".yaml")
    graph = load_graph(graph_path)
    if graph.profiles:
        graph = apply_profile(graph, graph_path.parent, "default")
    in_launch = sorted((n.executable, n.name, tuple(Path(p).name for p in n.param_files))
                       for n in parse_launch(launch_file))
    in_graph = sorted((n.executable, n.name, tuple(Path(p).name for p in n.params)) for n in graph.nodes)
    assert in_graph == in_launch
    validate_graph(graph, graph_path.parent, NODE_CONFIGS)


def test_every_parameter_file_parses_in_rcl_itself():
    """rcl's own YAML parser is stricter than PyYAML (no empty lists, no unquoted ':' in flow lists)."""
    import subprocess
    import sys
    script = ("import sys, rclpy\nctx = rclpy.Context()\n"
              "rclpy.init(args=['x', '--ros-args', '--params-file', sys.argv[1]], context=ctx)\nctx.shutdown()")
    for path in PARAM_FILES + PROFILES:
        run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
        assert run.returncode == 0, f"{path.name}: rcl cannot parse it: {run.stderr[-400:]}"


def test_the_shipped_robot_profiles_validate_for_every_node_of_the_robot_graph():
    """Each profile layered after the node files (as `robot-rl up robot --profile` and robot_profile:= do)."""
    from robot_rl.ros_config.graph import apply_profile, load_graph, validate_graph
    assert {p.stem for p in PROFILES} >= {"default", "ur_realsense", "franka_realsense"}
    graph = load_graph(GRAPHS / "robot.yaml")
    for profile in PROFILES:
        with_profile = apply_profile(graph, GRAPHS, profile.stem)
        configs = validate_graph(with_profile, GRAPHS, NODE_CONFIGS)
        cameras = [n for n in with_profile.nodes if n.executable == "camera_node"]
        assert bool(cameras) == (profile.stem == "default"), f"{profile.stem}: realsense-ros replaces camera_node"
        assert configs["policy_node"].spec == configs["action_executor"].spec


def test_an_unknown_profile_names_the_shipped_ones():
    from robot_rl.errors import ConfigError
    from robot_rl.ros_config.graph import apply_profile, load_graph
    with pytest.raises(ConfigError, match="robot profile 'kuka': allowed: default, franka_realsense, ur_realsense"):
        apply_profile(load_graph(GRAPHS / "robot.yaml"), GRAPHS, "kuka")
