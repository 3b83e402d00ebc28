"""Helpers for ROS tests (a uniquely named module: several test folders have a conftest.py): nodes run as real processes (their console scripts); the test talks to
them over real DDS from its own rclpy context, on a ROS_DOMAIN_ID of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def ros_env(domain_id: int, large_data: bool) -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED="1")
    # Explicit either way: `robot-rl up` graphs default to LARGE_DATA unless the environment says otherwise.
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA" if large_data else "DEFAULT"
    return env


def executable(name: str) -> str:
    """The console script ``name`` installed next to this interpreter."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"console script {name} is not installed; run pip install -e ."
    return found


class NodeProcess:
    """A node started through its console script (or ``command``); output goes to a log file shown on failure."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
                 command: list[str] | None = None) -> None:
        self.log_path = log_dir / f"{name}-{len(list(log_dir.glob(name + '*')))}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(command or [executable(name), "--ros-args", *args], env=env, cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class Probe:
    """The test side: one rclpy node on a private context and domain, spun on demand."""

    def __init__(self, domain_id: int, large_data: bool) -> None:
        # The transport setting is read when the context starts its participant.
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA" if large_data else "DEFAULT"
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(f"probe_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(0.0, end - time.monotonic())))

    def spin_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def start_nodes(specs: list[tuple[str, list[str]]], env: dict[str, str], log_dir: Path) -> Iterator[list[NodeProcess]]:
    """Start every (console script, ros args) at once so their discovery overlaps; stop them after."""
    procs = [NodeProcess(name, args, env, log_dir) for name, args in specs]
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()
