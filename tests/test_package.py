"""The ament_python package manifest: format 3, ament_python, and an exec_depend for every
ROS package the nodes and launch files import, so `colcon build` / rosdep on a robot workstation
installs what the nodes need."""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ros_imports(files: list[Path]) -> set[str]:
    """Top-level ROS packages imported by ``files``: rclpy, launch, launch_ros and *_msgs/_srvs/_interfaces."""
    roots: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return {r for r in roots if r in {"rclpy", "launch", "launch_ros"} or r.endswith(("_msgs", "_srvs", "_interfaces"))}


def test_manifest_is_format_3_ament_python_with_every_imported_ros_package():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "robot_rl"
    assert root.findtext("export/build_type") == "ament_python"
    exec_depends = {e.text for e in root.findall("exec_depend")}
    imported = _ros_imports(sorted((ROOT / "ros_nodes").rglob("*.py")) + sorted((ROOT / "launch").glob("*.launch.py")))
    assert {"rclpy", "launch", "launch_ros", "sensor_msgs"} <= imported  # the scan itself works
    assert imported - exec_depends == set(), f"imported by ros_nodes/ or launch/ but not in package.xml: " \
                                             f"{sorted(imported - exec_depends)}"


def test_resource_marker_and_share_files_exist():
    # setup.py's data_files install these into share/robot_rl (colcon build)
    assert (ROOT / "resource" / "robot_rl").is_file()
    assert list((ROOT / "launch").glob("*.launch.py")) and list((ROOT / "launch" / "config").glob("*.yaml"))
    setup_py = (ROOT / "setup.py").read_text()
    for share in ('"share/" + package_name, ["package.xml"]', '"/launch", glob("launch/*.launch.py")',
                  '"/launch/config", glob("launch/config/*.yaml")', '"resource/" + package_name'):
        assert share in setup_py, share
