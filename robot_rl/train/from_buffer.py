"""LOOP updates from complete K-groups recorded in a rollout buffer: the hardware fine-tuning path.

Nothing here needs a simulator: groups, rewards (operator labels), observations, sampled chunks
and sampling log-probs all come from the buffer that the robot's policy node wrote.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_rl.algorithms.advantages import has_signal
from robot_rl.algorithms.loop import LoopConfig
from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import ConfigError
from robot_rl.train.batch import EpisodeGroup
from robot_rl.train.learner import Learner

log = logging.getLogger(__name__)


def signal_groups(buffer: RolloutBuffer, k: int, policy_version: int) -> tuple[list[EpisodeGroup], int]:
    """Complete K-groups of ``policy_version`` whose rewards are not all equal (dynamic rejection).

    Returns (the groups, number of groups rejected for carrying no signal).
    """
    groups, rejected = [], 0
    for g in buffer.complete_groups(k, policy_version=policy_version):
        ids = list(g.episode_ids)[:k]
        group = EpisodeGroup.of(ids, buffer.episodes["reward"][ids])
        if not has_signal(group):
            rejected += 1
            continue
        groups.append(group)
    return groups, rejected


def update_from_buffer(buffer_path: str | Path, policy_path: str | Path, out_dir: str | Path, cfg: LoopConfig,
                       policy_version: int | None = None, seed: int = 0) -> dict[str, Any]:
    """One LOOP update of the checkpoint at ``policy_path`` on the buffer's groups of its version.

    Writes ``out_dir/policy`` (version + 1) and ``out_dir/optimizer.pt`` (reused by the next call
    with the same ``out_dir``, so Adam's moments carry across hardware cycles).
    """
    torch.manual_seed(seed)
    out_dir = Path(out_dir)
    learner = Learner.load(policy_path, cfg, optimizer_state=out_dir / "optimizer.pt")
    version = learner.policy.version if policy_version is None else policy_version
    buffer = RolloutBuffer.open(buffer_path)
    learner.policy.spec.check_compatible(buffer.spec, "buffer spec")
    groups, rejected = signal_groups(buffer, cfg.group_size, version)
    if not groups:
        raise ConfigError(f"{buffer_path}: no complete group of K={cfg.group_size} rollouts with mixed rewards for "
                          f"policy version {version} ({rejected} all-equal groups rejected); collect more rollouts")
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = learner.update(buffer, groups)
    metrics.update({"rollout/groups": float(len(groups)), "rollout/rejected_groups": float(rejected),
                    "charts/train_success_rate": float(np.stack([g.rewards for g in groups]).mean()),
                    "charts/policy_version": float(version)})
    learner.policy.version = version + 1
    learner.save(out_dir / "policy")
    learner.save_optimizer(out_dir / "optimizer.pt")
    buffer.close()
    log.info("updated policy v%d -> v%d on %d groups (%d rejected)", version, learner.policy.version, len(groups),
             rejected)
    return metrics
