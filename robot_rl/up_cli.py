"""`robot-rl up GRAPH`: start a ROS 2 node graph as separate processes, stop it cleanly.

The same nodes and parameter files as the launch files (``launch/graphs/*.yaml`` mirror
``launch/*.launch.py``), for machines without ``ros2 launch`` (pip installs, CI). This module
never imports rclpy: it validates the graph, then runs each node's console script. On Ctrl-C or
SIGTERM it sends SIGINT to every node, waits ``--shutdown-timeout`` seconds, then SIGKILLs what
is left. If a node exits by itself the whole graph is stopped (exit code 1), since a graph
missing its safety layer or its policy must not keep running half-way.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any


from robot_rl.config import parse_yaml
from robot_rl.errors import ConfigError
from robot_rl.ros_config import NODE_CONFIGS
from robot_rl.ros_config.graph_check import NodeInfo, check_graph
from robot_rl.ros_config.graph import (GraphConfig, apply_overrides, apply_profile, load_graph, node_command,
                                      resolve_params, validate_graph)

log = logging.getLogger(__name__)

PACKAGE = "robot_rl"


def ament_prefixes(package: str = PACKAGE) -> list[Path]:
    """Install prefixes on ``AMENT_PREFIX_PATH`` whose ament index registers ``package``, in order.

    The ament resource index is a marker file ``PREFIX/share/ament_index/resource_index/packages/
    PACKAGE`` (what ament_index_python's get_package_prefix reads); a sourced colcon workspace or
    ROS install puts its prefixes on ``AMENT_PREFIX_PATH``.
    """
    out = []
    for entry in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if entry and (Path(entry) / "share" / "ament_index" / "resource_index" / "packages" / package).is_file():
            out.append(Path(entry))
    return out


def graph_dirs() -> list[Path]:
    """Where graph names are looked up: the ament index (a sourced workspace) first, then the
    source checkout, then the package share of a pip install (``sys.prefix/share``)."""
    return [*(p / "share" / PACKAGE / "launch" / "graphs" for p in ament_prefixes()),
            Path(__file__).resolve().parents[1] / "launch" / "graphs",
            Path(sys.prefix) / "share" / PACKAGE / "launch" / "graphs"]


def find_graph(name_or_path: str) -> Path:
    """A graph file by path, or by name from ``launch/graphs/NAME.yaml`` (see :func:`graph_dirs`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    dirs = graph_dirs()
    for d in dirs:
        if (d / f"{name_or_path}.yaml").is_file():
            return d / f"{name_or_path}.yaml"
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"no graph file {name_or_path!r}; give a path or one of: {', '.join(known) or 'none found'}")


def find_executable(name: str) -> str:
    """The node executable ``name``: ``PREFIX/lib/robot_rl/NAME`` of the ament index (a sourced colcon
    workspace, where ``ros2 run`` finds it too), else the console script next to this interpreter,
    else on PATH."""
    for prefix in ament_prefixes():
        candidate = prefix / "lib" / PACKAGE / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise ConfigError(f"executable '{name}' not found; install the package (pip install -e .) or source the "
                          "colcon workspace that built it (AMENT_PREFIX_PATH)")
    return found


class Graph:
    """Running node processes; :meth:`stop` is idempotent."""

    def __init__(self, graph: GraphConfig, base: Path, env: dict[str, str], log_dir: Path | None) -> None:
        self.graph = graph
        params = resolve_params(graph, base)
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: list[IO] = []
        for n in graph.nodes:
            cmd = node_command(n, find_executable(n.executable), params[n.name])
            out = None
            if log_dir is not None:
                out = (log_dir / f"{n.name}.log").open("w")
                self._logs.append(out)
            log.info("starting %s: %s", n.name, " ".join(cmd))
            # A new session: a terminal's Ctrl-C reaches only us, and we stop the nodes in order.
            self.procs[n.name] = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                                  start_new_session=True)

    def exited(self) -> dict[str, int]:
        return {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}

    def stop(self, timeout: float) -> dict[str, int]:
        """SIGINT every running node, wait up to ``timeout`` s, then SIGKILL; returns the exit codes."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for name, p in self.procs.items():
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.1f s: killing it", name, timeout)
                p.kill()
                p.wait()
        for f in self._logs:
            f.close()
        return {name: p.returncode for name, p in self.procs.items()}


def _parse_sets(items: list[str]) -> dict[str, object]:
    sets = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected NODE.PARAM=VALUE")
        sets[key.strip()] = parse_yaml(value, f"--set {key.strip()}") if value else ""
    return sets


def resolve_graph(name: str, profile: str | None, sets: list[str]) -> tuple[Path, GraphConfig, dict[str, Any]]:
    """(graph file, graph with the robot profile and ``--set`` overrides applied, validated node configs)."""
    path = find_graph(name)
    graph = load_graph(path)
    if profile or graph.profiles:
        graph = apply_profile(graph, path.parent, profile or "default")
    graph = apply_overrides(graph, _parse_sets(sets))
    return path, graph, validate_graph(graph, path.parent, NODE_CONFIGS)


def _up(args: argparse.Namespace) -> int:
    path, graph, configs = resolve_graph(args.graph, args.profile, args.set)
    findings = check_graph([NodeInfo(n.name, n.executable, configs[n.name]) for n in graph.nodes])
    errors = [f for f in findings if f.level == "error"]
    if args.check:
        print(f"{path}: {len(graph.nodes)} nodes, parameters valid: {', '.join(n.name for n in graph.nodes)}")
        for exe in sorted({n.executable for n in graph.nodes}):
            print(f"  {exe}: {find_executable(exe)}")
        print(f"cross-node check: {len(errors)} error(s), {len(findings) - len(errors)} warning(s)")
        for f in findings:
            print(f"  {f}")
        return 1 if errors else 0
    for f in findings:
        (log.error if f.level == "error" else log.warning)("%s", f.message)
    if errors:
        print(f"robot-rl up: {len(errors)} cross-node error(s), nothing started:\n"
              + "\n".join(f"  {f}" for f in errors), file=sys.stderr, flush=True)
        return 1
    # The graph's env holds defaults; a variable already set in the caller's environment wins.
    env = dict(graph.env, **os.environ)
    if args.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(args.domain_id)
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)

    stopping = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    running = Graph(graph, path.parent, env, log_dir)
    code = 0
    try:
        print(f"robot-rl up: {len(running.procs)} nodes running ({', '.join(running.procs)}); Ctrl-C stops them",
              flush=True)
        while not stopping["signal"]:
            died = running.exited()
            if died and not args.keep_going:
                print(f"robot-rl up: node(s) exited: {died}; stopping the graph", file=sys.stderr, flush=True)
                code = 1
                break
            time.sleep(0.1)
    finally:
        codes = running.stop(args.shutdown_timeout)
        for s, handler in old.items():
            signal.signal(s, handler)
    print(f"robot-rl up: stopped; exit codes {codes}", flush=True)
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up", help="start a ROS 2 node graph (robot or sim robot) as separate processes",
        description="Start the nodes of a graph file (launch/graphs/NAME.yaml, the pip-installable twin of "
                    "launch/NAME.launch.py) from the same parameter files, as separate processes; Ctrl-C or "
                    "SIGTERM stops them (SIGINT, then SIGKILL after --shutdown-timeout).")
    parser.add_argument("graph", help="graph name (sim_robot, robot) or path to a graph YAML")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="override one parameter (YAML value), e.g. policy_node.checkpoint=runs/x/policy")
    parser.add_argument("--profile", default="", metavar="NAME",
                        help="robot profile (launch/config/profiles/NAME.yaml: default, ur_realsense, "
                             "franka_realsense), layered after every node's parameter files; default: default")
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID for every node")
    parser.add_argument("--log-dir", default=None, help="write each node's output to DIR/NODE.log instead of the terminal")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0,
                        help="seconds between SIGINT and SIGKILL when stopping (default 10)")
    parser.add_argument("--keep-going", action="store_true", help="keep the graph running when a node exits")
    parser.add_argument("--check", action="store_true", help="validate the graph and its parameters, start nothing")
    parser.set_defaults(func=_up)
