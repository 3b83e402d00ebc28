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

from robot_rl.algorithms.loop import LoopConfig, loop_update, make_optimizer
from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import ConfigError
from robot_rl.policies import Policy, load_policy, save_policy
from robot_rl.train.batch import groups_to_batch

log = logging.getLogger(__name__)


def signal_groups(buffer: RolloutBuffer, k: int, policy_version: int) -> tuple[list[list[int]], np.ndarray, int]:
    """Complete K-groups of ``policy_version`` whose rewards are not all equal (dynamic rejection).

    Returns (episode id lists, rewards (G, K), number of groups rejected for carrying no signal).
    """
    groups, rewards, rejected = [], [], 0
    for g in buffer.complete_groups(k, policy_version=policy_version):
        ids = list(g.episode_ids)[:k]
        r = np.asarray(buffer.episodes["reward"][ids], dtype=np.float32)
        if r.min() == r.max():
            rejected += 1
            continue
        groups.append(ids)
        rewards.append(r)
    return groups, np.stack(rewards) if rewards else np.zeros((0, k), np.float32), rejected


def update_from_buffer(buffer_path: str | Path, policy_path: str | Path, out_dir: str | Path, cfg: LoopConfig,
                       policy_version: int | None = None, seed: int = 0) -> dict[str, Any]:
    """One LOOP update of the checkpoint at ``policy_path`` on the buffer's groups of its version.

    Writes ``out_dir/policy`` (version + 1) and ``out_dir/optimizer.pt`` (reused by the next call
    with the same ``out_dir``, so Adam's moments carry across hardware cycles).
    """
    torch.manual_seed(seed)
    policy: Policy = load_policy(policy_path)
    version = policy.version if policy_version is None else policy_version
    buffer = RolloutBuffer.open(buffer_path)
    policy.spec.check_compatible(buffer.spec, "buffer spec")
    groups, rewards, rejected = signal_groups(buffer, cfg.group_size, version)
    if not groups:
        raise ConfigError(f"{buffer_path}: no complete group of K={cfg.group_size} rollouts with mixed rewards for "
                          f"policy version {version} ({rejected} all-equal groups rejected); collect more rollouts")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    optimizer = make_optimizer(policy, cfg)
    opt_path = out_dir / "optimizer.pt"
    if opt_path.is_file():
        optimizer.load_state_dict(torch.load(opt_path, weights_only=False))
    batch = groups_to_batch(buffer, groups, rewards, cfg)
    policy.eval()  # no dropout: first-epoch ratios are exactly 1
    metrics = loop_update(policy, optimizer, batch, cfg)
    metrics.update({"rollout/groups": float(len(groups)), "rollout/rejected_groups": float(rejected),
                    "charts/train_success_rate": float(rewards.mean()), "charts/policy_version": float(version)})
    policy.version = version + 1
    save_policy(policy, out_dir / "policy")
    torch.save(optimizer.state_dict(), opt_path)
    buffer.close()
    log.info("updated policy v%d -> v%d on %d groups (%d rejected)", version, policy.version, len(groups), rejected)
    return metrics
