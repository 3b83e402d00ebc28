"""`robot-rl rehearse`: the orchestration (processes and files only; rclpy lives in the nodes).

Phases, each recorded in ``OUT/rehearsal_state.json`` when done, so a second run with the same
``--out`` resumes where the first stopped::

    checkpoint   the sim-trained policy (`robot-rl quickstart` first if it is missing)
    sim          held-out success in the training simulator, and in the shifted world, in-process
    lab_before   held-out success through the ROS graph on the lab stand-in (graphs.py: eval graph)
    u<N>         hw-train cycles with the scripted operator up to N updates (graphs.py: train graph),
                 then held-out success of policy vN through the graph; for N in config.eval_points
    baseline     the same number of LOOP updates in-process on the shifted world (`robot-rl train`)
    report       summary.json and rehearsal.png (report.py)

hw-train resumes from its own run directory (``OUT/hw``) and the buffer (``OUT/rollouts.zarr``); an
interrupted held-out measurement is redone. If any process of a graph exits, the phase stops the
graph and raises :class:`RehearsalStopped` naming it and how to resume.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from robot_rl.errors import ConfigError, RobotRLError
from robot_rl.rehearsal import graphs
from robot_rl.rehearsal.config import RehearsalConfig
from robot_rl.rehearsal.report import episodes_in, operator_figures, write_report
from robot_rl.train.hw_state import load_state

log = logging.getLogger(__name__)

STATE_FILE = "rehearsal_state.json"
REPO = Path(__file__).resolve().parents[2]


class RehearsalStopped(RobotRLError):
    """A graph process died (or stalled) mid-rehearsal; the message says which and how to resume."""


# ---- small helpers ------------------------------------------------------------------------------

def _load(out: Path) -> dict[str, Any]:
    path = out / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {"evals": [], "wall_s": 0.0}


def _save(out: Path, state: dict[str, Any]) -> None:
    tmp = out / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, out / STATE_FILE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graph_env(cfg: RehearsalConfig) -> dict[str, str]:
    """The environment of every graph process: DDS domain and transport, one thread each, this code first."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA" if cfg.graph.large_data else "DEFAULT"
    if cfg.graph.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(cfg.graph.domain_id)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _count(buffer: Path) -> int:
    table = episodes_in(buffer)
    return 0 if table is None else len(table["reward"])


# ---- contexts and in-process measurements ----------------------------------------------------

def contexts(cfg: RehearsalConfig) -> tuple[list[str], list[str], dict[str, str]]:
    """(hw-train's train-split contexts, held-out eval-split contexts, task -> instruction)."""
    from robot_rl.env import make_suite

    suite = make_suite(cfg.suite, **cfg.suite_options)
    infos = {t.task: t.instruction for t in suite.tasks()}
    tasks = cfg.tasks or list(infos)
    unknown = sorted(set(tasks) - set(infos))
    if unknown:
        raise ConfigError(f"tasks: unknown task(s) {unknown} of suite '{cfg.suite}'; allowed: {', '.join(infos)}")
    train = [c.id for t in tasks for c in suite.contexts(t, split="train")[: cfg.hw.contexts_per_task]]
    held = [c.id for t in tasks for c in suite.contexts(t, split="eval")[: cfg.eval.contexts_per_task]]
    return train, held, {t: infos[t] for t in tasks}


def lab_options(cfg: RehearsalConfig) -> dict[str, Any]:
    """Suite options of the shifted world (the stand-in's reality profile, for in-process runs)."""
    from robot_rl.env import suite_kwargs

    r = cfg.reality
    return suite_kwargs(cfg.suite, cfg.suite_options, r.profile, r.seed, r.options)


def sim_success(cfg: RehearsalConfig, checkpoint: str, options: dict[str, Any], held: list[str]) -> dict[str, Any]:
    """Held-out success of ``checkpoint`` in-process (no ROS) on the suite built with ``options``."""
    import torch

    from robot_rl.env import Context
    from robot_rl.policies import load_policy
    from robot_rl.rollout.config import RolloutConfig, make_pool
    from robot_rl.rollout.policy_sampler import PolicySampler
    from robot_rl.rollout.worker import SuiteEnvFactory
    from robot_rl.train.evaluate import evaluate

    torch.set_num_threads(1)
    policy = load_policy(checkpoint).eval()
    sampler = PolicySampler(policy, cfg.hw.loop.temperature, seed=cfg.hw.seed)
    with make_pool(SuiteEnvFactory(cfg.suite, options), RolloutConfig(num_workers=cfg.eval.sim_workers)) as pool:
        table = evaluate(pool, sampler, [Context.parse(c) for c in held])
    return {"success": table["success_rate"], "episodes": table["episodes"], "per_task": table["per_task"]}


# ---- graph phases -----------------------------------------------------------------------------

def _watch(graph: graphs.RunningGraph, cfg: RehearsalConfig, out: Path, config_path: str,
           done: Callable[[], bool], progress: Callable[[], int], what: str) -> None:
    """Wait until ``done()``; raise :class:`RehearsalStopped` if a process exits or ``progress()`` stalls."""
    last, last_change = progress(), time.monotonic()
    resume = f"run `robot-rl rehearse {config_path} --out {out}` again to resume (the run directory keeps everything)"
    while not done():
        dead = graph.dead()
        if dead is not None:
            name, rc = dead
            graph.stop()
            raise RehearsalStopped(f"{graphs.ROLE.get(name, name)} exited with code {rc} during {what}; "
                                   f"last lines of {graph.logs[name]}:\n{graph.tail(name)}\n{resume}")
        now = progress()
        if now != last:
            last, last_change = now, time.monotonic()
        limit = cfg.graph.stall_timeout_s + (cfg.graph.startup_timeout_s if last == 0 else 0.0)
        if time.monotonic() - last_change > limit:
            graph.stop()
            raise RehearsalStopped(f"no progress for {limit:.0f} s during {what} (logs in {graph.log_dir}); {resume}")
        time.sleep(0.5)


def _first_per_context(buffer: Path, held: list[str]) -> dict[str, float]:
    """context id -> reward of its first recorded episode, for the held-out contexts recorded so far."""
    table = episodes_in(buffer)
    first: dict[str, float] = {}
    if table is not None:
        for context, reward in zip(table["context_id"], table["reward"]):
            first.setdefault(str(context), float(reward))
    return {c: first[c] for c in held if c in first}


def graph_success(cfg: RehearsalConfig, out: Path, config_path: str, name: str, checkpoint: str,
                  held: list[str]) -> dict[str, Any]:
    """Held-out success of ``checkpoint`` through the ROS graph on the lab stand-in (one episode per context).

    The stand-in cycles through the held-out contexts by itself until every one has a recorded episode:
    an episode whose start the policy node missed (DDS still matching) is simply run again later.
    """
    buffer = out / "eval" / f"{name}.zarr"
    if buffer.exists():
        shutil.rmtree(buffer)  # an interrupted measurement is redone from scratch
    buffer.parent.mkdir(parents=True, exist_ok=True)
    g = graphs.RunningGraph(f"eval-{name}", out / "logs", graph_env(cfg))
    t0 = time.monotonic()
    try:
        g.start_node(graphs.stand_in(cfg, eval_mode=True, contexts=held))
        g.start_node(graphs.policy_node(cfg, checkpoint, buffer))
        g.start_node(graphs.executor(cfg))
        _watch(g, cfg, out, config_path, lambda: len(_first_per_context(buffer, held)) == len(held),
               lambda: _count(buffer), f"the held-out measurement '{name}'")
    finally:
        g.stop()
    rewards = _first_per_context(buffer, held)
    return {"success": float(np.mean(list(rewards.values()))), "episodes": len(rewards),
            "recorded": _count(buffer), "wall_s": round(time.monotonic() - t0, 1), "checkpoint": str(checkpoint)}


def write_hw_config(cfg: RehearsalConfig, out: Path, checkpoint: str, train: list[str],
                    instructions: dict[str, str]) -> Path:
    """OUT/hw_train.yaml: the hw-train run the operator feeds (run dir OUT/hw, buffer OUT/rollouts.zarr)."""
    hw = cfg.hw
    data = {"run_dir": str(out / "hw"), "buffer": str(out / "rollouts.zarr"), "policy": str(checkpoint),
            "spec": cfg.spec, "contexts": train, "instructions": instructions, "seed": hw.seed,
            "group_size": hw.group_size, "groups_needed": hw.groups_needed, "max_attempts": hw.max_attempts,
            "loop": hw.loop.model_dump(mode="json"), "deploy": {"poll_s": 0.5, "event_delay_s": 0.3}}
    path = out / "hw_train.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def updates_done(run_dir: Path) -> int:
    """LOOP updates hw-train has made in ``run_dir`` (a cycle whose groups all lacked signal made none)."""
    state = load_state(run_dir)
    return 0 if state is None else sum(1 for h in state.history if h.get("update"))


def empty_cycles(run_dir: Path) -> int:
    """hw-train cycles in a row, up to now, that ended without an update (no group with a learning signal)."""
    state = load_state(run_dir)
    n = 0
    for h in reversed(state.history if state is not None else []):
        if h.get("update"):
            break
        n += 1
    return n


def train_until(cfg: RehearsalConfig, out: Path, config_path: str, hw_yaml: Path, checkpoint: str,
                train: list[str], updates: int) -> dict[str, Any]:
    """hw-train cycles with the scripted operator until ``updates`` updates are done; returns the hw state."""
    run_dir = out / "hw"
    state = load_state(run_dir)
    if state is not None and updates_done(run_dir) >= updates:
        return state.model_dump()
    port, token = _free_port(), secrets.token_urlsafe(12)
    buffer = out / "rollouts.zarr"
    g = graphs.RunningGraph(f"train-u{updates}", out / "logs", graph_env(cfg))
    try:
        g.start_node(graphs.stand_in(cfg, eval_mode=False, contexts=train))
        g.start_node(graphs.policy_node(cfg, state.deploy_path if state is not None else checkpoint, buffer))
        g.start_node(graphs.executor(cfg))
        g.start_node(graphs.panel(cfg, port, token))
        g.start_node(graphs.operator(cfg, port, token, out / "operator.jsonl"))
        g.start("hw_train", [sys.executable, "-m", "robot_rl.cli", "hw-train", str(hw_yaml), "--set",
                             f"cycles={updates}", "--use-sim-time"])
        def done() -> bool:
            if empty_cycles(run_dir) >= cfg.hw.max_empty_cycles:
                g.stop()
                raise RehearsalStopped(
                    f"hw-train ended {empty_cycles(run_dir)} cycles in a row without an update: every group of "
                    f"{cfg.hw.group_size} rollouts was all successes or all failures, so LOOP has nothing to learn "
                    "from (see the held-out success on the stand-in in rehearsal_state.json). Raise "
                    "hw.max_empty_cycles to keep trying, or change the policy or the reality profile")
            return updates_done(run_dir) >= updates

        _watch(g, cfg, out, config_path, done, lambda: _count(buffer) + 1000 * updates_done(run_dir),
               f"hardware LOOP towards update {updates}")
    finally:
        g.stop()
    return load_state(run_dir).model_dump()


# ---- the baseline -----------------------------------------------------------------------------

def baseline_command(cfg: RehearsalConfig, out: Path, checkpoint: str) -> list[str]:
    """`robot-rl train` on the shifted world with hardware LOOP's K, groups per update, LOOP settings and updates."""
    sets = {"policy": str(checkpoint), "updates": cfg.hw.updates, "seed": cfg.hw.seed,
            "checkpoint_every": max(1, cfg.hw.updates), "suite.options": lab_options(cfg),
            "loop": cfg.hw.loop.model_dump(mode="json"), "schedule.groups_per_batch": cfg.hw.groups_needed,
            "eval.split": "eval", "eval.contexts_per_task": cfg.eval.contexts_per_task, "eval.every": 0,
            "eval.deterministic": False, "eval.temperature": cfg.hw.loop.temperature, **cfg.baseline.overrides}
    if cfg.tasks:
        sets["suite.tasks"] = cfg.tasks
    cmd = [sys.executable, "-m", "robot_rl.cli", "train", cfg.baseline.train_config, "--out", str(out / "baseline")]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={json.dumps(value)}"]  # JSON is YAML: --set parses it back exactly
    return cmd


def baseline(cfg: RehearsalConfig, out: Path, checkpoint: str) -> dict[str, Any]:
    """The same number of LOOP updates in-process (`robot-rl train`) on the shifted world."""
    run = out / "baseline"
    if not Path(cfg.baseline.train_config).is_file():
        raise ConfigError(f"baseline.train_config: no file {cfg.baseline.train_config}; run the quickstart (it "
                          "writes one) or set baseline.enabled: false")
    if run.exists():
        shutil.rmtree(run)  # an interrupted baseline is redone
    (out / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with (out / "logs" / "baseline.log").open("w") as f:
        rc = subprocess.run(baseline_command(cfg, out, checkpoint), env=graph_env(cfg), stdout=f,
                            stderr=subprocess.STDOUT).returncode
    if rc != 0:
        raise RehearsalStopped(f"the in-process baseline (`robot-rl train`) failed with code {rc}; see "
                               f"{out / 'logs' / 'baseline.log'}")
    summary = json.loads((run / "summary.json").read_text())
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [m for m in lines if m.get("kind") == "train"]
    return {"success_before": summary["success_before"]["success_rate"],
            "success_after": summary["success_after"]["success_rate"],
            "episodes": int(train[-1].get("charts/rollouts", 0)) if train else 0, "updates": len(train),
            "groups": int(sum(m.get("rollout/groups", 0) for m in train)),
            "wall_s": round(time.monotonic() - t0, 1)}


# ---- the whole rehearsal ------------------------------------------------------------------------

def ensure_checkpoint(cfg: RehearsalConfig) -> str:
    """The sim-trained checkpoint; `robot-rl quickstart` makes it first when it is missing (and configured)."""
    ckpt = Path(cfg.checkpoint)
    if (ckpt / "config.json").is_file() or ckpt.suffix == ".onnx" and ckpt.is_file():
        return str(ckpt)
    if not cfg.quickstart_config:
        raise ConfigError(f"checkpoint: {ckpt} does not exist; train one (`robot-rl quickstart`) or set checkpoint")
    log.info("no checkpoint at %s: running the quickstart first (%s -> %s)", ckpt, cfg.quickstart_config,
             cfg.quickstart_out)
    rc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "quickstart", "--config", cfg.quickstart_config,
                         "--out", cfg.quickstart_out]).returncode
    if rc != 0 or not (ckpt / "config.json").is_file():
        raise ConfigError(f"checkpoint: the quickstart (exit code {rc}) did not produce {ckpt}")
    return str(ckpt)


def rehearse(cfg: RehearsalConfig, out: Path, config_path: str) -> dict[str, Any]:
    """Run (or resume) the whole rehearsal into ``out``; returns the summary (also OUT/summary.json)."""
    import importlib.util

    if importlib.util.find_spec("rclpy") is None:
        raise ConfigError("rehearse runs the ROS 2 graph and needs rclpy: source a ROS 2 install or pip install "
                          "the ros-* wheels (scripts/setup.sh)")
    out.mkdir(parents=True, exist_ok=True)
    state = _load(out)
    t0, wall_before = time.monotonic(), float(state.get("wall_s", 0.0))

    def checkpoint_phase(key: str, value: Any) -> None:
        state[key] = value
        state["wall_s"] = round(wall_before + time.monotonic() - t0, 1)
        _save(out, state)

    try:
        checkpoint = ensure_checkpoint(cfg)
        train, held, instructions = contexts(cfg)
        if "sim" not in state:
            log.info("held-out success in the training simulator and the shifted world (in-process)")
            checkpoint_phase("sim", {"train_world": sim_success(cfg, checkpoint, cfg.suite_options, held),
                                     "lab_world": sim_success(cfg, checkpoint, lab_options(cfg), held)})
        if "lab_before" not in state:
            log.info("held-out success through the ROS graph on the lab stand-in (policy v0)")
            checkpoint_phase("lab_before", graph_success(cfg, out, config_path, "before", checkpoint, held))
        hw_yaml = write_hw_config(cfg, out, checkpoint, train, instructions)
        for target in cfg.eval_points:
            if any(e["updates"] == target for e in state["evals"]):
                continue
            log.info("hardware LOOP with the scripted operator up to update %d", target)
            hw = train_until(cfg, out, config_path, hw_yaml, checkpoint, train, target)
            point = graph_success(cfg, out, config_path, f"u{target}", hw["checkpoint"], held)
            point.update(updates=target, **operator_figures(out, cfg.operator.reset_s, target))
            checkpoint_phase("evals", [*state["evals"], point])
        if cfg.baseline.enabled and "baseline" not in state:
            log.info("the in-process baseline: %d LOOP updates on the shifted world", cfg.hw.updates)
            checkpoint_phase("baseline", baseline(cfg, out, checkpoint))
    finally:
        state["wall_s"] = round(wall_before + time.monotonic() - t0, 1)
        _save(out, state)
    return write_report(cfg, out, state)
