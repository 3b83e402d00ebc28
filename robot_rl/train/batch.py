"""Turn K-groups of buffer episodes into a :class:`~robot_rl.algorithms.loop.LoopBatch`.

This is the one path from stored rollouts to an update, for simulation and hardware alike: the
trainer never uses in-memory rollouts, only what the buffer holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_advantages
from robot_rl.buffer import RolloutBuffer
from robot_rl.errors import AlgorithmError
from robot_rl.policies.sample import PolicySample


def groups_to_batch(buffer: RolloutBuffer, groups: Sequence[Sequence[int]], rewards: np.ndarray,
                    cfg: LoopConfig) -> LoopBatch:
    """Build the update batch.

    :param groups: G lists of K episode indices each (one list per context).
    :param rewards: float (G, K) rewards of those episodes, in the same order.
    """
    rewards = np.asarray(rewards, dtype=np.float32)
    if rewards.shape != (len(groups), cfg.group_size):
        raise AlgorithmError(f"rewards must be (G, K) = ({len(groups)}, {cfg.group_size}); got {rewards.shape}")
    adv = loop_advantages(torch.from_numpy(rewards), cfg).float()  # (G, K)
    episode_ids = [int(e) for g in groups for e in g]
    adv_of = dict(zip(episode_ids, adv.reshape(-1).tolist()))

    data = buffer.read_steps(episode_ids)  # rows ordered as episode_ids, each episode contiguous
    table = buffer.episodes
    step_episode = data["episode"].numpy()  # (N,)
    cams = buffer.spec.camera_names
    obs = {
        "images": {c: data[f"images/{c}"] for c in cams},  # uint8 (N, H, W, 3)
        "proprio": data["proprio"],  # (N, D)
        "instruction": [str(table["instruction"][e]) for e in step_episode],
    }
    has_tokens = bool(np.all(table["has_tokens"][episode_ids]))
    has_raw = bool(np.all(table["has_raw_action"][episode_ids]))
    sample = PolicySample(
        action=data["action"],  # (N, H, A)
        log_prob=data["log_prob"].float(),  # (N, H, A) per-dimension log pi_psi
        tokens=data["tokens"].long() if has_tokens else None,
        raw_action=data["raw_action"] if has_raw else None,
    )
    advantages = torch.tensor([adv_of[int(e)] for e in step_episode], dtype=torch.float32)  # (N,)
    # Actions of a chunk that never ran (the episode ended first) earn no credit: loop_update masks them.
    executed = torch.as_tensor(data["executed"]).long()  # (N,)
    return LoopBatch(obs=obs, sample=sample, advantages=advantages, executed=executed)
