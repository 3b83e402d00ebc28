"""The LOOP trainer: collect -> reject -> update -> evaluate -> checkpoint.

Simulation path (:meth:`LoopTrainer.run`): the schedule picks contexts, the env pool runs K
rollouts of each with the current policy (frozen during collection: it is pi_psi), every rollout
is appended to the run's rollout buffer, groups whose K rewards are all equal are rejected, and
the accepted groups are read back *from the buffer* into a LOOP update. Hardware path
(:func:`update_from_buffer`): the same update on complete K-groups an operator labelled, with
nothing that only simulation provides.

Run directory layout::

    RUN/rollouts.zarr        every rollout (rollout buffer format)
    RUN/metrics.jsonl        one JSON object per update / evaluation
    RUN/tb/                  TensorBoard event files
    RUN/checkpoints/latest/  policy/ (a policy checkpoint) + trainer_state.pt (optimiser, schedule, RNG, counters)
    RUN/policy/              the latest policy checkpoint (what `robot-rl export` and `eval` load)
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import random
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from robot_rl.algorithms.loop import loop_update, make_optimizer
from robot_rl.buffer import RolloutBuffer
from robot_rl.env import Context, Suite, make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import Policy, load_policy, save_policy
from robot_rl.rollout.collector import CollectStats, RolloutJob, collect
from robot_rl.rollout.config import make_pool
from robot_rl.rollout.policy_sampler import PolicySampler
from robot_rl.rollout.schedule import GroupSchedule
from robot_rl.rollout.worker import SuiteEnvFactory
from robot_rl.train.batch import groups_to_batch
from robot_rl.train.config import TrainConfig
from robot_rl.train.evaluate import evaluate
from robot_rl.train.metrics import MetricsLogger
from robot_rl.train.recorder import EpisodeRecorder

log = logging.getLogger(__name__)


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class LoopTrainer:
    """Owns the policy, optimiser, schedule, env pool and run directory of one LOOP run."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: bool = False) -> None:
        if cfg.suite is None:
            raise ConfigError("suite: required for simulation training; use `robot-rl train --from-buffer` for hardware data")
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.suite: Suite = make_suite(cfg.suite.name, **cfg.suite.options)
        tasks = cfg.suite.tasks or [t.task for t in self.suite.tasks()]
        for t in tasks:
            self.suite.task(t)  # names the suite's tasks if one is unknown
        self.tasks = tasks
        self.instructions = {t.task: t.instruction for t in self.suite.tasks()}
        self.update_step = 0
        self.env_steps = 0
        self.rollouts = 0

        state_path = self.run_dir / "checkpoints" / "latest" / "trainer_state.pt"
        if resume:
            if not state_path.is_file():
                raise ConfigError(f"--resume: no checkpoint at {state_path}")
            self.policy: Policy = load_policy(state_path.parent / "policy")
        else:
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise ConfigError(f"{self.run_dir}: run directory exists and is not empty; pass --resume or a new --out")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed)
            random.seed(cfg.seed)
            self.policy = load_policy(cfg.require_policy())
        self.policy.spec.check_compatible(self.suite.spec, "suite spec")
        self.ref_policy = copy.deepcopy(self.policy).eval() if cfg.loop.kl_coef > 0 else None
        self.optimizer = make_optimizer(self.policy, cfg.loop)
        contexts = [c for t in tasks for c in self.suite.contexts(t, split="train")]
        self.schedule = GroupSchedule(contexts, cfg.schedule, cfg.loop.group_size, seed=cfg.seed)
        buffer_path = self.run_dir / "rollouts.zarr"
        self.buffer = (RolloutBuffer.open(buffer_path, mode="a", spec=self.suite.spec) if resume
                       else RolloutBuffer.create(buffer_path, self.suite.spec))
        if resume:
            self._load_state(state_path)
        self.metrics = MetricsLogger(self.run_dir)
        self._group_counter = 0

    # ---- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Write a resumable checkpoint (atomically replacing the previous one) and RUN/policy."""
        ckpt = self.run_dir / "checkpoints" / "latest"
        tmp = self.run_dir / "checkpoints" / ".latest.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_policy(self.policy, tmp / "policy")
        torch.save({
            "update_step": self.update_step, "env_steps": self.env_steps, "rollouts": self.rollouts,
            "group_counter": self._group_counter, "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "rng": _rng_state(),
        }, tmp / "trainer_state.pt")
        old = self.run_dir / "checkpoints" / ".latest.old"
        shutil.rmtree(old, ignore_errors=True)
        if ckpt.exists():
            os.replace(ckpt, old)
        os.replace(tmp, ckpt)
        shutil.rmtree(old, ignore_errors=True)
        save_policy(self.policy, self.run_dir / "policy")
        return ckpt

    def _load_state(self, path: Path) -> None:
        state = torch.load(path, weights_only=False)
        self.update_step = state["update_step"]
        self.env_steps = state["env_steps"]
        self.rollouts = state["rollouts"]
        self._group_counter = state["group_counter"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        _set_rng_state(state["rng"])

    # ---- the loop --------------------------------------------------------------------------

    def _collect_groups(self, pool: Any, contexts: list[Context], stats: CollectStats) -> None:
        """K rollouts of each context with the current (frozen) policy; report groups to the schedule."""
        k = self.cfg.loop.group_size
        jobs = []
        for ctx in contexts:
            gid = f"v{self.policy.version}/{ctx.id}/{self._group_counter}"
            self._group_counter += 1
            jobs += [RolloutJob(ctx, gid) for _ in range(k)]
        recorder = EpisodeRecorder(self.buffer, self.instructions, "sim", self.policy.version)
        sampler = PolicySampler(self.policy, self.cfg.loop.temperature,
                                seed=self.cfg.seed * 1_000_003 + self._group_counter)
        self.policy.eval()
        with self._collection_threads():
            collect(pool, sampler, jobs, on_episode=recorder, max_retries=self.cfg.rollout.max_retries, stats=stats)
        by_group: dict[str, list] = defaultdict(list)
        for rec in recorder.recorded:
            by_group[rec.group_id].append(rec)
        for gid, recs in by_group.items():
            ctx = Context.parse(recs[0].context_id)
            self.schedule.add_group(ctx, [r.reward for r in recs], payload=[r.episode for r in recs])
        self.rollouts += len(recorder.recorded)

    def train_step(self, pool: Any) -> dict[str, float]:
        """One LOOP update: collect until the schedule has a batch, then update on it."""
        t0 = time.monotonic()
        stats = CollectStats()
        while not self.schedule.ready():
            contexts = self.schedule.next_contexts()
            if not contexts:
                break
            self._collect_groups(pool, contexts, stats)
        groups = self.schedule.pop_batch()
        t_collect = time.monotonic() - t0
        self.env_steps += stats.env_steps
        metrics: dict[str, float] = dict(self.schedule.last_stats)
        metrics.update({
            "charts/update": self.update_step + 1, "charts/env_steps": self.env_steps, "charts/rollouts": self.rollouts,
            "charts/policy_version": self.policy.version, "time/collect_s": t_collect,
            "time/sampler_s": stats.sampler_s, "rollout/worker_failures": stats.failures,
        })
        all_rewards = [r for g in groups for r in g.rewards]
        if groups:
            metrics["charts/train_success_rate"] = float(np.mean(all_rewards))
            t1 = time.monotonic()
            batch = groups_to_batch(self.buffer, [g.payload for g in groups], np.stack([g.rewards for g in groups]),
                                    self.cfg.loop)
            # Eval mode on purpose: no dropout, so the first epoch's ratios are exactly 1 (pi_theta = pi_psi).
            self.policy.eval()
            metrics.update(loop_update(self.policy, self.optimizer, batch, self.cfg.loop, ref_policy=self.ref_policy))
            metrics["time/update_s"] = time.monotonic() - t1
            metrics["charts/update_steps"] = len(batch)
        else:
            log.warning("update %d: no group with a learning signal; skipping the update", self.update_step + 1)
        self.update_step += 1
        self.policy.version += 1
        return metrics

    def evaluate(self, pool: Any) -> dict[str, Any]:
        """Success rate per task on the configured evaluation contexts."""
        e = self.cfg.eval
        contexts = []
        for t in self.tasks:
            ctxs = self.suite.contexts(t, split=e.split)
            contexts += ctxs[: e.contexts_per_task] if e.contexts_per_task else ctxs
        self.policy.eval()
        sampler = PolicySampler(self.policy, e.temperature, seed=self.cfg.seed + 17, deterministic=e.deterministic)
        with self._collection_threads():
            return evaluate(pool, sampler, contexts, max_retries=self.cfg.rollout.max_retries)

    @contextlib.contextmanager
    def _collection_threads(self) -> Iterator[None]:
        """One torch thread for inference while local env workers occupy the cores.

        Measured on 2 cores: batch-2 tiny-VLA inference takes ~9 ms with one thread and ~225 ms
        with two while env workers run (threads spin against the workers).
        """
        threads = torch.get_num_threads()
        if self.cfg.rollout.backend == "local":
            torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def run(self) -> dict[str, Any]:
        """Train for ``cfg.updates`` updates with evaluations before and after; returns the summary."""
        cfg = self.cfg
        assert cfg.suite is not None
        factory = SuiteEnvFactory(cfg.suite.name, cfg.suite.options, cfg.suite.env_options)
        summary: dict[str, Any] = {}
        with make_pool(factory, cfg.rollout) as pool:
            if self.update_step == 0:
                before = self.evaluate(pool)
                self.metrics.log_eval(before, self.update_step, self.env_steps, self.rollouts)
                summary["success_before"] = before
            while self.update_step < cfg.updates:
                m = self.train_step(pool)
                self.metrics.log(m, self.update_step)
                log.info("update %d/%d: train success %.2f, groups %d, env steps %d", self.update_step, cfg.updates,
                         m.get("charts/train_success_rate", float("nan")), int(m["rollout/groups"]), self.env_steps)
                if cfg.eval.every and self.update_step % cfg.eval.every == 0 and self.update_step < cfg.updates:
                    self.metrics.log_eval(self.evaluate(pool), self.update_step, self.env_steps, self.rollouts)
                if self.update_step % cfg.checkpoint_every == 0 or self.update_step == cfg.updates:
                    self.save_checkpoint()
            after = self.evaluate(pool)
            self.metrics.log_eval(after, self.update_step, self.env_steps, self.rollouts)
            summary["success_after"] = after
        self.metrics.close()
        self.buffer.close()
        return summary
