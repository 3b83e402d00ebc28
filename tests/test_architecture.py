"""The core never imports ROS, camera drivers, simulators or its sibling packages (README.md, Layout)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"rclpy", "pyrealsense2", "mujoco", "robosuite", "libero", "sim", "calibration", "ros_nodes",
             "sensor_msgs", "std_msgs", "geometry_msgs", "trajectory_msgs", "diagnostic_msgs", "std_srvs", "rosgraph_msgs"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in {
            "import_module", "__import__"
        }:
            # importlib.import_module("sim...") would dodge the rule: look at literal arguments too.
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    roots.add(arg.value.split(".")[0])
    return roots


def test_core_imports_no_ros_camera_simulator_or_siblings():
    offenders = {}
    files = sorted((ROOT / "robot_rl").rglob("*.py"))
    assert files, "robot_rl/ has no Python files"
    for path in files:
        bad = _imported_roots(path) & FORBIDDEN
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"robot_rl/ must stay the pure core; forbidden imports: {offenders}"


def test_checker_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom rclpy.node import Node\nimport importlib\nimportlib.import_module('sim.tabletop')\n")
    assert _imported_roots(bad) & FORBIDDEN == {"rclpy", "sim"}


def test_importing_every_core_module_loads_no_forbidden_package():
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in sorted((ROOT / "robot_rl").rglob("*.py"))
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _package_imports(package: str) -> dict[str, set[str]]:
    """Subpackage (or top-level module) of ``package`` -> the sibling subpackages it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT / package).parts
        src = rel[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                parts = node.module.split(".")
                if parts[0] == package:
                    names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names
                         if a.name.startswith(package + ".")]
            graph.setdefault(src, set()).update(n for n in names if n != src)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else path + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_no_import_cycles_between_subpackages():
    # robot/ and ros_config/ once imported each other through the episode events; the wire protocol
    # (robot_rl/wire) now sits below both.
    for package in ("robot_rl", "ros_nodes"):
        assert _cycle(_package_imports(package)) is None, f"{package}: {_cycle(_package_imports(package))}"


def _module_imports(package: str) -> dict[str, set[str]]:
    """Module of ``package`` -> the modules of ``package`` it imports anywhere (in functions and under
    TYPE_CHECKING too: a lazy or type-only import that runs back up a layer is still a cycle to the reader)."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.split(".")[0] == package:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == package]
            deps.update(t for t in targets if t in files and t != mod)
        graph[mod] = deps
    return graph


def test_no_import_cycles_between_modules():
    # loop <-> loop_scoring, modeling_hf <-> export_hf (type-only) and camera sources <-> drivers (lazy factory)
    # once closed cycles that the subpackage-level check cannot see.
    for package in ("robot_rl", "ros_nodes", "sim", "calibration"):
        graph = _module_imports(package)
        assert graph, package
        assert _cycle(graph) is None, f"{package}: {_cycle(graph)}"


def test_wire_protocol_imports_only_the_base_modules():
    allowed = {"wire", "config", "env", "errors"}
    assert _package_imports("robot_rl")["wire"] <= allowed


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_node_cores_sit_on_top_of_the_core():
    # robot_rl/nodes holds the executor's and the policy node's decisions (pure cores): it uses the
    # robot-side packages below it, and nothing in robot_rl imports it (only ros_nodes does).
    graph = _package_imports("robot_rl")
    assert sorted(src for src, deps in graph.items() if "nodes" in deps) == []
    allowed = {"robot", "safety", "wire", "ros_config", "spec", "config", "errors", "env", "buffer", "deploy",
               "rotations"}
    assert graph["nodes"] <= allowed, graph["nodes"] - allowed
