"""`robot-rl quickstart`: the main job. Demos -> SFT -> evaluate -> LOOP -> evaluate, on the tabletop suite.

Everything runs from one config (``configs/quickstart.yaml``) into one directory::

    OUT/demos.zarr      scripted-expert demonstrations (label source "expert"; reused when present)
    OUT/sft/            the SFT'd tiny VLA checkpoint (reused when present)
    OUT/loop/           the LOOP run (rollouts.zarr, metrics.jsonl, plots, checkpoints, policy/); redone on a re-run
    OUT/summary.json    success_before / success_after, overall and per task, and timings

With ``new_task`` set (a new task from one demonstration), SFT sees every task's demonstrations but only
``new_task_demos`` of the new task, LOOP trains on the new task alone, and both evaluations cover every
task, so the summary shows the new task learned (``new_task_before`` / ``new_task_after``) and whether
the pretraining tasks held (``pretrained_before`` / ``pretrained_after``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import Field

from robot_rl.algorithms.sft import SftConfig
from robot_rl.config import StrictConfig, load_config, validate_config
from robot_rl.demos_cli import record_demos
from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from robot_rl.train.config import TrainConfig
from robot_rl.train.plots import plot_run
from robot_rl.train.sft import run_sft
from robot_rl.train.trainer import LoopTrainer

log = logging.getLogger(__name__)


class QuickstartConfig(StrictConfig):
    """The quickstart pipeline; ``train`` is a :class:`TrainConfig` whose ``policy`` is the SFT checkpoint."""

    suite: str = Field("tabletop", description="suite with scripted experts")
    suite_options: dict[str, Any] = Field(default_factory=dict, description="suite options, e.g. spec: tabletop_64")
    tasks: list[str] | None = Field(None, description="tasks to use; null = every task of the suite")
    demos_per_task: int = Field(3, ge=1, le=100, description="expert demonstrations per task (the 'few demos' regime)")
    new_task: str | None = Field(None, description="learn this task from new_task_demos demonstrations: LOOP trains "
                                                   "on it alone; the evaluations cover every task")
    new_task_demos: int = Field(1, ge=1, le=100, description="demonstrations of new_task in the SFT data")
    demo_noise: float = Field(0.1, ge=0, description="expert action noise, so demonstrations vary")
    policy_type: str = Field("tiny", description="policy type for SFT")
    policy: dict[str, Any] = Field(default_factory=dict, description="policy architecture and head (e.g. head.kind)")
    sft: SftConfig = Field(default_factory=SftConfig)
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields (policy is filled in)")


def build_train_config(qs: QuickstartConfig, out: Path, overrides: dict[str, Any] | None = None,
                       source: str = "quickstart") -> TrainConfig:
    """The LOOP stage's :class:`TrainConfig`: ``qs.train`` plus the suite, tasks and the SFT checkpoint under ``out``.

    ``overrides`` (dotted keys relative to ``train``, e.g. ``{"updates": 2}``) are applied before validation.
    """
    train_data = dict(qs.train)
    train_data["suite"] = {"name": qs.suite, "options": qs.suite_options, **({"tasks": qs.tasks} if qs.tasks else {}),
                           **train_data.get("suite", {})}
    if qs.new_task is not None:
        tasks = qs.tasks or [t.task for t in make_suite(qs.suite, **qs.suite_options).tasks()]
        if qs.new_task not in tasks:
            raise ConfigError(f"{source}: new_task: {qs.new_task!r} is not one of the tasks ({', '.join(tasks)})")
        train_data["suite"]["tasks"] = [qs.new_task]  # LOOP trains the new task alone ...
        train_data["eval"] = {"tasks": tasks, **train_data.get("eval", {})}  # ... and every task is evaluated
    train_data["policy"] = str(out / "sft")
    for dotted, value in (overrides or {}).items():
        node = train_data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return validate_config(TrainConfig, train_data, f"{source}: train")


def run_quickstart(config_path: str | Path, out: str | Path, overrides: dict[str, Any] | None = None,
                   seed: int | None = None) -> dict[str, Any]:
    """Run the whole pipeline; return (and write) the summary.

    ``seed`` (when given) replaces both the training seed (demonstrations, rollouts, evaluation) and the
    SFT seed (initial weights, batches), so one number gives an independent repeat of the whole run.
    """
    qs = load_config(QuickstartConfig, config_path)
    if seed is not None:
        qs = qs.model_copy(update={"sft": qs.sft.model_copy(update={"seed": seed})})
        overrides = {**(overrides or {}), "seed": seed}
    out = Path(out)
    # Validated up front (a ConfigError naming the field): fail before minutes of work.
    train_cfg = build_train_config(qs, out, overrides, source=str(config_path))
    out.mkdir(parents=True, exist_ok=True)
    # The LOOP stage's own config, so it can be rerun or scaled out: robot-rl train OUT/train_config.yaml ...
    (out / "train_config.yaml").write_text(yaml.safe_dump(train_cfg.model_dump(mode="json"), sort_keys=False))
    timings: dict[str, float] = {}

    suite = make_suite(qs.suite, **qs.suite_options)
    tasks = qs.tasks or [t.task for t in suite.tasks()]
    t0 = time.monotonic()
    if not (out / "demos.zarr").exists():
        _record_all_demos(qs, suite, tasks, out / "demos.zarr", train_cfg.seed)
    timings["demos_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    if not (out / "sft" / "config.json").exists():
        torch.set_num_threads(train_cfg.torch_threads or torch.get_num_threads())
        run_sft(out / "demos.zarr", qs.policy_type, qs.policy, qs.sft, out / "sft")
    timings["sft_s"] = time.monotonic() - t0

    t0 = time.monotonic()
    if (out / "loop").exists():
        log.warning("%s exists: redoing the LOOP stage from the SFT checkpoint", out / "loop")
        shutil.rmtree(out / "loop")
    summary = LoopTrainer(train_cfg, out / "loop").run()
    timings["loop_s"] = time.monotonic() - t0
    plot_run(out / "loop")
    # loop_s includes both evaluations; their own wall times are listed too.
    timings["eval_before_s"] = summary["success_before"].get("wall_s", 0.0)
    timings["eval_after_s"] = summary["success_after"].get("wall_s", 0.0)
    summary["timings"] = {k: round(v, 1) for k, v in timings.items()}
    summary["config"] = str(config_path)
    summary["seed"] = train_cfg.seed
    if qs.new_task is not None:
        summary.update(new_task_summary(summary, qs.new_task))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _record_all_demos(qs: QuickstartConfig, suite: Any, tasks: list[str], path: Path, seed: int) -> None:
    """The SFT data: ``demos_per_task`` per task (``new_task_demos`` of ``new_task``), written whole or not at all.

    Recorded under a temporary name and renamed at the end, so a run stopped while recording does not
    leave a short demonstration set that a re-run would reuse.
    """
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    old = [t for t in tasks if t != qs.new_task]
    if old:
        record_demos(suite, old, qs.demos_per_task * len(old), partial, noise=qs.demo_noise, seed=seed)
    if qs.new_task is not None:
        # Its own noise seed stream: the new task's demo does not replay the first old task's noise.
        record_demos(suite, [qs.new_task], qs.new_task_demos, partial, noise=qs.demo_noise, seed=seed + 7919)
    partial.rename(path)


def new_task_summary(summary: dict[str, Any], new_task: str) -> dict[str, Any]:
    """``new_task`` and its held-out success before / after LOOP, and the mean of the other (pretraining) tasks."""
    out: dict[str, Any] = {"new_task": new_task}
    for when in ("before", "after"):
        per_task = summary[f"success_{when}"]["per_task"]
        out[f"new_task_{when}"] = per_task[new_task]["success_rate"]
        others = [v["success_rate"] for t, v in per_task.items() if t != new_task]
        out[f"pretrained_{when}"] = float(sum(others) / len(others)) if others else None
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """A before/after table per task."""
    before, after = summary["success_before"], summary["success_after"]
    lines = [f"{'task':<24} {'after SFT':>10} {'after LOOP':>11}"]
    for task in before["per_task"]:
        lines.append(f"{task:<24} {before['per_task'][task]['success_rate']:>10.2f} "
                     f"{after['per_task'][task]['success_rate']:>11.2f}")
    lines.append(f"{'overall':<24} {before['success_rate']:>10.2f} {after['success_rate']:>11.2f}")
    if "stderr" in after:
        lines.append(f"{'  +- (standard error)':<24} {before.get('stderr', 0.0):>10.2f} {after['stderr']:>11.2f}")
    if summary.get("new_task"):
        lines.append(f"new task {summary['new_task']}: {summary['new_task_before']:.2f} -> {summary['new_task_after']:.2f}; "
                     f"the other tasks {summary['pretrained_before']:.2f} -> {summary['pretrained_after']:.2f}")
    lines.append(f"({after['episodes']} held-out episodes per evaluation; timings {summary['timings']})")
    return "\n".join(lines)
