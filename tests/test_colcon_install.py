"""`colcon build` for real: the package built into a temporary ROS 2 workspace with Debian's colcon
(scripts/setup.sh installs it), its ament index entry and package share, every node executable the
launch files and graphs name installed under lib/robot_rl and starting, and `robot-rl up` run from
the install finding graphs and executables through the ament index (AMENT_PREFIX_PATH).

The recipe is README "Install in a ROS 2 workspace": colcon's own Python (/usr/bin/python3) runs
setup.py, and ROBOT_RL_PYTHON gives the node scripts this interpreter (which has torch) instead.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COLCON = shutil.which("colcon")
SHARED = ["launch/*.launch.py", "launch/config/*.yaml", "launch/config/profiles/*.yaml", "launch/graphs/*.yaml",
          "configs/*.yaml"]


def _source_files() -> list[str]:
    """The repository's files as a checkout has them (tracked, plus new ones git does not ignore)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip():
        return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]
    skip = {".git", ".venv", "runs", "build", "install", "log", "__pycache__", ".pytest_cache"}
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


def _in_workspace(install: Path, command: str, **kwargs) -> subprocess.Popen:
    """``command`` in bash after sourcing the workspace, as a user's terminal would run it."""
    return subprocess.Popen(["bash", "-c", f". {install}/setup.sh && exec {command}"], **kwargs)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if COLCON is None:
        pytest.skip("colcon is not installed (make setup installs Debian's colcon)")
    ws = tmp_path_factory.mktemp("ros_ws")
    src = ws / "src" / "robot_rl"
    for rel in _source_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    env = dict(os.environ, ROBOT_RL_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)  # colcon's Python must not see this interpreter's packages
    build = subprocess.run([COLCON, "build"], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return ws


def _launch_and_graph_executables() -> set[str]:
    names = set()
    for path in (ROOT / "launch").glob("*.launch.py"):
        names |= set(re.findall(r'executable="([A-Za-z0-9_]+)"', path.read_text()))
    for path in (ROOT / "launch" / "graphs").glob("*.yaml"):
        names |= {n["executable"] for n in yaml.safe_load(path.read_text())["nodes"]}
    return names


def test_the_ament_index_and_the_package_share(workspace):
    prefix = workspace / "install" / "robot_rl"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "robot_rl").is_file()
    share = prefix / "share" / "robot_rl"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    for pattern in SHARED:
        shipped = sorted(p.relative_to(ROOT) for p in ROOT.glob(pattern))
        assert shipped, pattern
        for rel in shipped:
            assert (share / rel).read_bytes() == (ROOT / rel).read_bytes(), f"share/robot_rl/{rel} differs or is missing"


def test_every_executable_of_the_launch_files_and_graphs_is_installed_with_this_python(workspace):
    lib = workspace / "install" / "robot_rl" / "lib" / "robot_rl"
    names = _launch_and_graph_executables()
    assert {"camera_node", "policy_node", "action_executor", "success_label_node", "sim_robot_node"} <= names
    for name in names | {"robot-rl"}:
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{name} is not installed under lib/robot_rl"
        # colcon's own /usr/bin/python3 would lack torch: ROBOT_RL_PYTHON set the shebang.
        assert exe.read_text().splitlines()[0] == f"#!{sys.executable}", exe.read_text().splitlines()[0]
    where = _in_workspace(workspace / "install", f"{sys.executable} -c 'import robot_rl, ros_nodes; "
                          "print(robot_rl.__file__, ros_nodes.__file__)'", stdout=subprocess.PIPE, text=True,
                          cwd=workspace)  # not the source tree: python -c puts the working directory first
    out, _ = where.communicate(timeout=120)
    assert out.count(str(workspace / "install")) == 2, f"the workspace's copy is not the one imported: {out}"


def test_robot_rl_up_from_the_install_finds_graphs_and_executables_through_the_ament_index(workspace, tmp_path):
    install = workspace / "install"
    lib = install / "robot_rl" / "lib" / "robot_rl"
    # The robot graph's two RealSense camera nodes need serials (the cross-node check refuses two empty ones).
    serials = "--set agentview_camera.serial=\"'111'\" --set wrist_camera.serial=\"'222'\""
    for graph, sets in (("robot", serials), ("sim_robot", "")):
        check = _in_workspace(install, f"{lib / 'robot-rl'} up {graph} {sets} --check", cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = check.communicate(timeout=120)
        assert check.returncode == 0, out
        assert str(install / "robot_rl" / "share" / "robot_rl" / "launch" / "graphs" / f"{graph}.yaml") in out, out
        for exe in re.findall(r"^  (\w+): (\S+)$", out, flags=re.M):
            assert exe[1] == str(lib / exe[0]), f"{exe[0]} not from the workspace: {out}"


def _wait_for_logs(logs: dict[str, Path], proc: subprocess.Popen, timeout: float) -> None:
    """Until every node wrote a log line under its own name (its main ran and built the node)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        missing = [n for n, p in logs.items() if not (p.is_file() and f"[{n}]" in p.read_text(errors="replace"))]
        if not missing:
            return
        assert proc.poll() is None, f"robot-rl up stopped ({proc.returncode}): " + "".join(
            f"\n--- {n}\n{p.read_text(errors='replace')[-1500:]}" for n, p in logs.items() if p.is_file())
        time.sleep(0.5)
    raise AssertionError(f"no log line from {missing} within {timeout} s: " + "".join(
        f"\n--- {n}\n{logs[n].read_text(errors='replace')[-1500:]}" for n in missing if logs[n].is_file()))


@pytest.mark.parametrize("graph, sets", [
    ("robot", ["agentview_camera.source=software", "wrist_camera.source=software", "success_label_node.port=0"]),
    ("sim_robot", ["sim_robot.auto_start=false"]),
])
def test_every_installed_node_starts_from_the_install(workspace, tmp_path, graph, sets):
    """`robot-rl up GRAPH` from the sourced workspace, outside the source tree: every node of the
    launch files and graphs starts from lib/robot_rl (cameras on the software source: no hardware)."""
    install = workspace / "install"
    nodes = [n["name"] for n in yaml.safe_load((ROOT / "launch" / "graphs" / f"{graph}.yaml").read_text())["nodes"]]
    logs = {n: tmp_path / "logs" / f"{n}.log" for n in nodes}
    args = " ".join(f"--set {s}" for s in sets)
    proc = _in_workspace(install, f"{install / 'robot_rl' / 'lib' / 'robot_rl' / 'robot-rl'} up {graph} {args} "
                         f"--log-dir {tmp_path / 'logs'} --domain-id {random.randint(1, 200)} --shutdown-timeout 10",
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, FASTDDS_BUILTIN_TRANSPORTS="DEFAULT"))
    try:
        _wait_for_logs(logs, proc, timeout=240)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    for name, path in logs.items():
        assert "Traceback" not in path.read_text(errors="replace"), f"{name}:\n{path.read_text()[-2000:]}"
