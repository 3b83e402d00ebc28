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
    RUN/rollouts.rank<R>.zarr  distributed runs: rank R's rollouts (rank 0 writes RUN/rollouts.zarr)

Distributed (``torchrun``, docs/distributed.md): every rank runs the same schedule, rolls out its
share of each round's contexts into its own buffer shard, and the group reports are exchanged so
every schedule sees the same groups in the same order; each rank then updates on the rows of the
groups it collected as its part of the global batch (:class:`~robot_rl.train.distributed.BatchShard`).
Only rank 0 writes checkpoints, metrics and plots.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from robot_rl.algorithms.loop import LoopBatch, check_policy
from robot_rl.buffer import RolloutBuffer
from robot_rl.devices import exact_float32, resolve_device
from robot_rl.env import Context, Suite, make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import Policy, load_policy, save_policy
from robot_rl.policies.sample import PolicySample
from robot_rl.rollout.collector import CollectStats, EpisodeResult, RolloutJob, collect
from robot_rl.rollout.config import make_pool
from robot_rl.rollout.policy_sampler import PolicySampler
from robot_rl.rollout.schedule import GroupSchedule
from robot_rl.rollout.worker import SuiteEnvFactory
from robot_rl.train.batch import EpisodeGroup, groups_to_batch
from robot_rl.train import fsdp
from robot_rl.train.config import TrainConfig
from robot_rl.train.distributed import BatchShard, Dist, broadcast_parameters
from robot_rl.train.evaluate import evaluate, success_table
from robot_rl.train.learner import Learner
from robot_rl.train.metrics import MetricsLogger
from robot_rl.train.recorder import EpisodeRecorder
from robot_rl.train.seeded_sampler import SeededPolicySampler, rollout_seed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectedEpisodes:
    """Where a schedule group's K episodes are: the payload the trainer attaches to every group it reports.

    episodes: episode indices in rank ``rank``'s buffer shard, in rollout order (K,).
    steps:    policy steps per episode (keyed collection: where the group's rows sit in the global batch).
    actions:  env steps per episode (keyed collection: the global mean episode length for balancing).
    """

    episodes: tuple[int, ...]
    rank: int = 0
    steps: tuple[int, ...] = ()
    actions: tuple[int, ...] = ()

    @classmethod
    def of(cls, payload: Any) -> CollectedEpisodes:
        """The payload of a group, also as checkpoints written before this type held it (a list of episode
        ids, or a dict with ``rank``, ``episodes``, ``steps`` and, once episodes were balanced, ``actions``)."""
        if isinstance(payload, cls):
            return payload
        if isinstance(payload, dict):
            return cls(tuple(payload["episodes"]), int(payload["rank"]), tuple(payload["steps"]),
                       tuple(payload.get("actions", ())))
        return cls(tuple(int(e) for e in payload))

    def group(self, rewards: np.ndarray) -> EpisodeGroup:
        """The update's view of these episodes with their rewards."""
        return EpisodeGroup.of(self.episodes, rewards)


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class LoopTrainer:
    """Owns the policy, optimiser, schedule, env pool and run directory of one LOOP run."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: bool = False, dist: Dist | None = None) -> None:
        """
        :param dist: this process's place in a torchrun process group (from
            :func:`~robot_rl.train.distributed.init_distributed`); None = a single process.
        """
        if cfg.suite is None:
            raise ConfigError("suite: required for simulation training; use `robot-rl train --from-buffer` for hardware data")
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = dist if dist is not None else Dist()
        seeding = cfg.distributed.rollout_seeding
        if self.dist.enabled and seeding == "per_call":
            raise ConfigError("distributed.rollout_seeding: per_call cannot be used with more than one rank "
                              "(samples would depend on the rank); use per_rollout or auto")
        # Per-rollout seeds make what is sampled independent of how rollouts are spread over ranks.
        self.keyed = seeding == "per_rollout" or (seeding == "auto" and self.dist.enabled)
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.suite: Suite = make_suite(cfg.suite.name, **cfg.suite.options)
        tasks = cfg.suite.tasks or [t.task for t in self.suite.tasks()]
        for t in [*tasks, *(cfg.eval.tasks or [])]:
            self.suite.task(t)  # names the suite's tasks if one is unknown
        self.tasks = tasks
        self.eval_tasks = cfg.eval.tasks or tasks
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
            self.dist.barrier()  # every rank has checked before any rank creates its files
            self.run_dir.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed)
            random.seed(cfg.seed)
            self.policy = load_policy(cfg.require_policy())
        self.policy.spec.check_compatible(self.suite.spec, "suite spec")
        check_policy(self.policy, cfg.loop)  # before any rollout or device move, not at the first update
        self.fsdp = self.dist.enabled and cfg.distributed.strategy == "fsdp"
        learner_device = self.dist.device if self.dist.enabled else resolve_device(cfg.device)
        exact_float32(learner_device)  # stored log-probs must match a rescoring elsewhere (robot_rl.devices)
        self.policy.to(learner_device)
        if self.dist.enabled:
            broadcast_parameters(self.policy, self.dist)  # identical start on every rank
        ref_policy = self._reference_policy(resume) if cfg.loop.kl_coef > 0 else None
        # What samples, evaluates and is saved: the policy itself, or under FSDP a full replica
        # refreshed from the shards after every update (a sharded forward is a collective).
        self.sampling_policy: Policy = copy.deepcopy(self.policy) if self.fsdp else self.policy
        if self.fsdp:
            fsdp.shard_policy(self.policy, self.dist)
        self.learner = Learner(self.policy, cfg.loop, ref_policy)
        self.optimizer = self.learner.optimizer
        contexts = [c for t in tasks for c in self.suite.contexts(t, split="train")]
        self.schedule = GroupSchedule(contexts, cfg.schedule, cfg.loop.group_size, seed=cfg.seed)
        self._group_counter = 0
        if resume:
            self._load_state(state_path)
        name = "rollouts.zarr" if self.dist.is_main else f"rollouts.rank{self.dist.rank}.zarr"
        buffer_path = self.run_dir / name
        self.buffer = (RolloutBuffer.open(buffer_path, mode="a", spec=self.suite.spec) if resume
                       else RolloutBuffer.create(buffer_path, self.suite.spec))
        self.metrics = MetricsLogger(self.run_dir) if self.dist.is_main else None

    def _reference_policy(self, resume: bool) -> Policy:
        """The frozen KL reference: the configured starting policy, also after ``--resume``.

        A resumed run holds the latest checkpoint in ``self.policy``; copying that would silently
        move the anchor to wherever training had got to, so the reference is loaded again from
        ``policy`` in the config (the file every rank reads, so ranks agree without a broadcast).
        """
        if not resume:
            return copy.deepcopy(self.policy).eval()
        ref = load_policy(self.cfg.require_policy())
        if self.dist.enabled:
            ref.to(self.dist.device)
        return ref.eval()

    # ---- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Write a resumable checkpoint (atomically replacing the previous one) and RUN/policy.

        Distributed: every rank must call it (FSDP gathers the optimiser state); rank 0 writes.
        """
        ckpt = self.run_dir / "checkpoints" / "latest"
        optimizer_state = fsdp.optimizer_state(self.policy, self.optimizer) if self.fsdp else None
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 has written the checkpoint when this returns
            return ckpt
        tmp = self.run_dir / "checkpoints" / ".latest.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_policy(self.sampling_policy, tmp / "policy")
        torch.save({
            "update_step": self.update_step, "env_steps": self.env_steps, "rollouts": self.rollouts,
            "group_counter": self._group_counter,
            "optimizer": optimizer_state if self.fsdp else self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(), "rng": _rng_state(),
            "world_size": self.dist.world_size, "per_rollout_seeding": self.keyed,
            "reference": (str(Path(self.cfg.require_policy()).resolve())
                          if self.learner.ref_policy is not None else None),
        }, tmp / "trainer_state.pt")
        old = self.run_dir / "checkpoints" / ".latest.old"
        shutil.rmtree(old, ignore_errors=True)
        if ckpt.exists():
            os.replace(ckpt, old)
        os.replace(tmp, ckpt)
        shutil.rmtree(old, ignore_errors=True)
        save_policy(self.sampling_policy, self.run_dir / "policy")
        self.dist.barrier()
        return ckpt

    def _load_state(self, path: Path) -> None:
        state = torch.load(path, weights_only=False)
        # Buffer shards and carried-over groups belong to ranks: resume with the same layout.
        saved = (state.get("world_size", 1), state.get("per_rollout_seeding", False))
        if saved != (self.dist.world_size, self.keyed):
            raise ConfigError(f"--resume: the checkpoint was written by {saved[0]} rank(s) with "
                              f"{'per_rollout' if saved[1] else 'per_call'} rollout seeding; this run has "
                              f"{self.dist.world_size} with {'per_rollout' if self.keyed else 'per_call'}; "
                              "resume with the same number of ranks and distributed.rollout_seeding")
        reference = state.get("reference")
        start = str(Path(self.cfg.require_policy()).resolve())
        if self.learner.ref_policy is not None and reference and reference != start:
            log.warning("--resume: the KL reference was %s; this run's policy is %s (the reference is the "
                        "configured starting policy)", reference, start)
        self.update_step = state["update_step"]
        self.env_steps = state["env_steps"]
        self.rollouts = state["rollouts"]
        self._group_counter = state["group_counter"]
        if self.fsdp:
            fsdp.load_optimizer_state(self.policy, self.optimizer, state["optimizer"])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        _set_rng_state(state["rng"])

    # ---- the loop --------------------------------------------------------------------------

    def _collect_groups(self, pool: Any, contexts: list[Context], stats: CollectStats) -> None:
        """K rollouts of each context with the current (frozen) policy; report groups to the schedule."""
        if self.keyed:
            self._collect_groups_keyed(pool, contexts, stats)
            return
        k = self.cfg.loop.group_size
        jobs = []
        for ctx in contexts:
            gid = f"v{self.policy.version}/{ctx.id}/{self._group_counter}"
            self._group_counter += 1
            jobs += [RolloutJob(ctx, gid) for _ in range(k)]
        recorder = EpisodeRecorder(self.buffer, self.instructions, "sim", self.policy.version,
                                   self.cfg.loop.temperature)
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
            self.schedule.add_group(ctx, [r.reward for r in recs],
                                    payload=CollectedEpisodes(tuple(r.episode for r in recs)))
        self.rollouts += len(recorder.recorded)

    def _collect_groups_keyed(self, pool: Any, contexts: list[Context], stats: CollectStats) -> None:
        """Per-rollout seeded collection of this rank's share of ``contexts``.

        Group i (in draw order) goes to rank ``i % world_size``; rollout k of group number n
        samples from ``rollout_seed(seed, n, k)``. Every rank then reports every group to its
        schedule in draw order with a :class:`CollectedEpisodes` payload (rank, episode ids in that
        rank's buffer shard, policy steps and executed actions per episode), so the schedules stay
        identical.
        """
        k = self.cfg.loop.group_size
        version = self.sampling_policy.version
        numbers = list(range(self._group_counter, self._group_counter + len(contexts)))
        self._group_counter += len(contexts)
        jobs = [RolloutJob(contexts[i], f"v{version}/{contexts[i].id}/{numbers[i]}",
                           seed=rollout_seed(self.cfg.seed, numbers[i], j))
                for i in self.dist.shard(len(contexts)) for j in range(k)]
        rollout_of = {job.seed: j % k for j, job in enumerate(jobs)}
        recorder = EpisodeRecorder(self.buffer, self.instructions, "sim", version, self.cfg.loop.temperature)
        done: list[tuple[int, int, int]] = []  # (rollout k, policy steps, env steps) of each recorded episode

        def on_episode(result: EpisodeResult) -> None:
            recorder(result)
            done.append((rollout_of[result.job.seed], len(result.steps), result.env_steps))

        self.sampling_policy.eval()
        with self._collection_threads():
            collect(pool, SeededPolicySampler(self.sampling_policy, self.cfg.loop.temperature), jobs,
                    on_episode=on_episode, max_retries=self.cfg.rollout.max_retries, stats=stats)
        by_group: dict[str, list[tuple[int, int, int, int, int]]] = defaultdict(list)
        for rec, (rollout, steps, env_steps) in zip(recorder.recorded, done):
            by_group[rec.group_id].append((rollout, rec.reward, rec.episode, steps, env_steps))
        mine = {}
        for i in self.dist.shard(len(contexts)):
            recs = sorted(by_group[f"v{version}/{contexts[i].id}/{numbers[i]}"])  # rollout order, not finish order
            mine[i] = ([r[1] for r in recs], CollectedEpisodes(
                episodes=tuple(r[2] for r in recs), rank=self.dist.rank, steps=tuple(r[3] for r in recs),
                actions=tuple(r[4] for r in recs)))
        reports = {i: rep for part in self.dist.all_gather_object(mine) for i, rep in part.items()}
        for i, ctx in enumerate(contexts):
            rewards, where = reports[i]
            self.schedule.add_group(ctx, rewards, payload=where)
            self.rollouts += k

    def _local_batch(self, groups: list[Any]) -> tuple[LoopBatch, BatchShard | None]:
        """This rank's rows of the update batch (keyed collection) and where they sit in the global batch."""
        local, index, offset = [], [], 0
        wheres = [CollectedEpisodes.of(g.payload) for g in groups]
        for g, where in zip(groups, wheres):  # the global batch: groups in order, episodes and steps in order
            n = int(sum(where.steps))
            if where.rank == self.dist.rank:
                local.append(where.group(g.rewards))
                index.append(torch.arange(offset, offset + n))
            offset += n
        if local:
            # Episode balancing scales by the mean episode length of the *global* batch, so ranks agree.
            actions = [a for where in wheres for a in where.actions]  # absent in pre-balancing checkpoints
            mean_actions = float(np.mean(actions)) if actions else None
            batch = groups_to_batch(self.buffer, local, self.cfg.loop, mean_actions=mean_actions)
        else:
            batch = self._empty_batch()
        global_index = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
        if not self.dist.enabled:
            return batch, None
        if self.fsdp:
            # Lockstep ranks need a row of their own for zero-weight passes: borrow one if empty.
            counts = self.dist.all_gather_object(len(batch))
            if min(counts) == 0:
                src = next(r for r, c in enumerate(counts) if c > 0)
                row = self.dist.broadcast_object(batch.select(torch.zeros(1, dtype=torch.long))
                                                 if self.dist.rank == src else None, src=src)
                if not len(batch):
                    batch, global_index = row, torch.full((1,), -1, dtype=torch.long)
        return batch, BatchShard(self.dist, global_index, offset, lockstep=self.fsdp, sum_gradients=not self.fsdp)

    def _empty_batch(self) -> LoopBatch:
        """A batch of zero rows (a rank none of whose groups made it into this batch)."""
        spec = self.suite.spec
        h, a = spec.chunk_length, spec.action_dim
        images = {c.name: torch.zeros((0, c.height, c.width, 3), dtype=torch.uint8) for c in spec.cameras}
        obs = {"images": images, "proprio": torch.zeros((0, spec.proprio_dim)), "instruction": []}
        sample = PolicySample(action=torch.zeros((0, h, a)), log_prob=torch.zeros((0, h, a)))
        return LoopBatch(obs=obs, sample=sample, advantages=torch.zeros(0))

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
        if self.dist.enabled:  # totals over ranks; the slowest rank's inference time
            env_steps, failures = self.dist.all_reduce(torch.tensor([stats.env_steps, stats.failures])).tolist()
            stats.env_steps, stats.failures = int(env_steps), int(failures)
            stats.sampler_s = float(self.dist.all_reduce(torch.tensor([stats.sampler_s]), "max"))
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
            shard = None
            if self.keyed:
                batch, shard = self._local_batch(groups)
                metrics.update(self.learner.update_batch(batch, data_parallel=shard))
            else:
                batch_groups = [CollectedEpisodes.of(g.payload).group(g.rewards) for g in groups]
                metrics.update(self.learner.update(self.buffer, batch_groups))
            if self.fsdp:
                fsdp.sync_replica(self.sampling_policy, self.policy)
            metrics["time/update_s"] = time.monotonic() - t1
            metrics["charts/update_steps"] = (shard.global_size if shard is not None
                                              else int(metrics["charts/policy_steps"]))
            if shard is not None:  # load balance: policy steps each rank updated on
                held = self.dist.all_gather_object(int((shard.global_index >= 0).sum()))
                metrics["dist/rank_steps_min"], metrics["dist/rank_steps_max"] = float(min(held)), float(max(held))
        else:
            log.warning("update %d: no group with a learning signal; skipping the update", self.update_step + 1)
        self.update_step += 1
        self.policy.version += 1
        if self.sampling_policy is not self.policy:
            self.sampling_policy.version = self.policy.version
        return metrics

    def evaluate(self, pool: Any, on_episode: Callable[[EpisodeResult], None] | None = None) -> dict[str, Any]:
        """Success rate per task on the configured evaluation contexts (split across ranks).

        Episodes run without domain randomization unless ``eval.randomize`` (on the training
        pool's workers: the flag travels with each reset). ``on_episode`` sees each finished
        episode with its steps (e.g. to save videos).
        """
        e = self.cfg.eval
        contexts = []
        for t in self.eval_tasks:
            ctxs = self.suite.contexts(t, split=e.split)
            contexts += ctxs[: e.contexts_per_task] if e.contexts_per_task else ctxs
        self.sampling_policy.eval()
        if not self.keyed:
            sampler = PolicySampler(self.policy, e.temperature, seed=self.cfg.seed + 17, deterministic=e.deterministic)
            with self._collection_threads():
                return evaluate(pool, sampler, contexts, max_retries=self.cfg.rollout.max_retries,
                                on_episode=on_episode, randomize=e.randomize)
        jobs = [RolloutJob(contexts[i], seed=rollout_seed(self.cfg.seed + 17, i), randomize=e.randomize)
                for i in self.dist.shard(len(contexts))]
        stats = CollectStats()
        with self._collection_threads():
            results = collect(pool, SeededPolicySampler(self.sampling_policy, e.temperature, e.deterministic), jobs,
                              on_episode=on_episode, max_retries=self.cfg.rollout.max_retries, stats=stats)
        parts = self.dist.all_gather_object(([(r.job, r.success) for r in results], stats.env_steps, stats.wall_s))
        table = success_table([EpisodeResult(job, ok, 0, not ok) for part in parts for job, ok in part[0]])
        table["env_steps"] = int(sum(part[1] for part in parts))
        table["wall_s"] = round(max(part[2] for part in parts), 2)
        return table

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
                self._log_eval(before)
                summary["success_before"] = before
            while self.update_step < cfg.updates:
                m = self.train_step(pool)
                if self.metrics is not None:
                    self.metrics.log(m, self.update_step)
                if self.dist.is_main:
                    log.info("update %d/%d: train success %.2f, groups %d, env steps %d", self.update_step, cfg.updates,
                             m.get("charts/train_success_rate", float("nan")), int(m["rollout/groups"]), self.env_steps)
                if cfg.eval.every and self.update_step % cfg.eval.every == 0 and self.update_step < cfg.updates:
                    self._log_eval(self.evaluate(pool))
                if self.update_step % cfg.checkpoint_every == 0 or self.update_step == cfg.updates:
                    self.save_checkpoint()
            after = self.evaluate(pool)
            self._log_eval(after)
            summary["success_after"] = after
        if self.metrics is not None:
            self.metrics.close()
        self.buffer.close()
        return summary

    def _log_eval(self, table: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.log_eval(table, self.update_step, self.env_steps, self.rollouts)
