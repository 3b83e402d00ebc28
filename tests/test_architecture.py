"""The core never imports ROS, camera drivers, simulators or its sibling packages (README.md, Layout)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"rclpy", "pyrealsense2", "mujoco", "robosuite", "libero", "sim", "calibration", "ros_nodes",
             "sensor_msgs", "std_msgs", "geometry_msgs", "trajectory_msgs", "diagnostic_msgs", "std_srvs"}


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
