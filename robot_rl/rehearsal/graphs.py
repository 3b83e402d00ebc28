"""Which nodes a rehearsal runs, with which parameters, as real processes (never rclpy here).

Two graphs, both the hardware graph with the stand-in as the robot::

    eval    stand-in (runs the held-out contexts itself, reports the sim's success) -> camera topics
            -> policy_node (records into an eval buffer) -> action_executor -> stand-in
    train   the same chain with the stand-in silent about success (an operator labels), plus
            success_label_node (the panel, with a token), rehearsal_operator (the scripted person at
            the panel) and `robot-rl hw-train` (the schedule, the updates, the hot swaps)

Every node runs with ``use_sim_time`` on the stand-in's ``/clock``. Parameters start from the
package's launch/config files (the sim executor's limits, the policy node's inputs) with the
rehearsal's values on top. Nodes are started as ``python -m <module>`` with this interpreter, so a
rehearsal runs the code it was started from.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from robot_rl.config import load_yaml
from robot_rl.errors import ConfigError
from robot_rl.rehearsal.config import RehearsalConfig

log = logging.getLogger(__name__)

# Node parameter files: the source checkout's, else a pip install's package share (setup.py data_files).
LAUNCH_CONFIG_DIRS = (Path(__file__).resolve().parents[2] / "launch" / "config",
                      Path(sys.prefix) / "share" / "robot_rl" / "launch" / "config")

MODULES = {
    "sim_robot_node": "ros_nodes.sim_robot.node",
    "policy_node": "ros_nodes.policy.node",
    "action_executor": "ros_nodes.executor.node",
    "success_label_node": "ros_nodes.label.node",
    "rehearsal_operator": "ros_nodes.rehearsal.operator_node",
}
"""Node executable -> the module whose ``__main__`` runs it."""

ROLE = {"sim_robot_node": "the lab stand-in (sim_robot_node)", "policy_node": "the policy node",
        "action_executor": "the action executor", "success_label_node": "the operator panel (success_label_node)",
        "rehearsal_operator": "the scripted operator", "hw_train": "robot-rl hw-train"}


@dataclass(frozen=True)
class NodeLaunch:
    """One process: executable name, ROS node name (its parameter section) and its parameters."""

    executable: str
    node_name: str
    params: dict[str, Any]


def _base(file: str, section: str) -> dict[str, Any]:
    found = [d / file for d in LAUNCH_CONFIG_DIRS if (d / file).is_file()]
    if not found:
        raise ConfigError(f"parameter file {file} not found in {', '.join(map(str, LAUNCH_CONFIG_DIRS))}; "
                          "install the package (pip install -e .) or run from the source checkout")
    data = load_yaml(found[0]) or {}
    return dict((data.get(section) or {}).get("ros__parameters") or {})


def stand_in(cfg: RehearsalConfig, *, eval_mode: bool, contexts: list[str]) -> NodeLaunch:
    """The lab stand-in: the training simulator with the reality profile, publishing ``/clock``.

    ``eval_mode``: it runs ``contexts`` in turn by itself (until stopped) and reports the sim's success
    as the label (held-out measurement); otherwise it waits for the panel's starts and only publishes
    its verdicts (the scripted operator reads them, a real robot has none).
    """
    p = _base("sim_robot.yaml", "sim_robot")
    p.update(suite=cfg.suite, suite_options=json.dumps(cfg.suite_options), reality=cfg.reality.profile,
             reality_seed=cfg.reality.seed, reality_options=json.dumps(cfg.reality.options),
             camera_width=cfg.graph.camera_width, camera_height=cfg.graph.camera_height,
             camera_rate_hz=cfg.graph.camera_rate_hz, publish_clock=True, clock_speed=cfg.graph.clock_speed,
             contexts=list(contexts), group_size=1, auto_start=eval_mode, report_success=eval_mode,
             num_episodes=0)
    return NodeLaunch("sim_robot_node", "sim_robot", p)


def policy_node(cfg: RehearsalConfig, checkpoint: str, buffer: Path) -> NodeLaunch:
    """The policy node recording into ``buffer`` at the LOOP sampling temperature (hw-train sets it on swaps too)."""
    p = _base("policy.yaml", "policy_node")
    p.update(spec=cfg.spec, checkpoint=str(checkpoint), device="cpu", buffer_path=str(buffer),
             temperature=cfg.hw.loop.temperature, use_sim_time=True)
    return NodeLaunch("policy_node", "policy_node", p)


def executor(cfg: RehearsalConfig) -> NodeLaunch:
    """The safety layer with the sim robot's limits (launch/config/executor_sim.yaml)."""
    p = _base("executor_sim.yaml", "action_executor")
    p.update(spec=cfg.spec, use_sim_time=True)
    return NodeLaunch("action_executor", "action_executor", p)


def panel(cfg: RehearsalConfig, port: int, token: str) -> NodeLaunch:
    """The operator panel on loopback with a token (the operator must present it, as a browser would)."""
    p = dict(port=port, token=token, spec=cfg.spec, operator=cfg.operator.operator_id,
             undo_window_s=cfg.graph.undo_window_s, time_limit_s=0.0, jpeg_rate_hz=1.0, use_sim_time=True)
    return NodeLaunch("success_label_node", "success_label_node", p)


def operator(cfg: RehearsalConfig, port: int, token: str, log_path: Path) -> NodeLaunch:
    """The scripted operator at that panel; one JSONL line per episode into ``log_path``."""
    o = cfg.operator
    p = dict(panel_url=f"http://127.0.0.1:{port}", token=token, operator_id=o.operator_id,
             reaction_delay_s=o.reaction_delay_s, reaction_jitter_s=o.reaction_jitter_s,
             mislabel_rate=o.mislabel_rate, reset_s=o.reset_s, seed=o.seed, follow_schedule=True,
             log_path=str(log_path), use_sim_time=True)
    return NodeLaunch("rehearsal_operator", "rehearsal_operator", p)


@dataclass
class RunningGraph:
    """Processes of one phase; logs in ``log_dir``; pids in ``log_dir/pids.json`` (to kill one on purpose)."""

    phase: str
    log_dir: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    _files: list[IO] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def start_node(self, launch: NodeLaunch) -> None:
        path = self.log_dir / f"{self.phase}-{launch.executable}.params.yaml"
        path.write_text(yaml.safe_dump({launch.node_name: {"ros__parameters": launch.params}}, sort_keys=False))
        self.start(launch.executable, [sys.executable, "-m", MODULES[launch.executable], "--ros-args",
                                       "--params-file", str(path)])

    def start(self, name: str, cmd: list[str]) -> None:
        log_path = self.log_dir / f"{self.phase}-{name}.log"
        f = log_path.open("a")
        self._files.append(f)
        log.debug("starting %s: %s", name, " ".join(cmd))
        self.procs[name] = subprocess.Popen(cmd, env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.logs[name] = log_path
        (self.log_dir / "pids.json").write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))

    def dead(self) -> tuple[str, int] | None:
        """The first process that exited, with its exit code (None while all run)."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                return name, p.returncode
        return None

    def tail(self, name: str, lines: int = 8) -> str:
        try:
            return "\n".join(self.logs[name].read_text().splitlines()[-lines:])
        except (OSError, KeyError):
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGINT everything still running (hw-train first: it must not deploy into a dying graph), then SIGKILL."""
        order = sorted(self.procs, key=lambda n: n != "hw_train")
        for name in order:
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for name, p in self.procs.items():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", name, timeout)
                p.kill()
                p.wait()
        for f in self._files:
            f.close()
        self._files.clear()
        (self.log_dir / "pids.json").unlink(missing_ok=True)
