"""The learner: pi_theta, its optimiser and the KL reference, and the one LOOP update every driver runs.

The simulation trainer, ``robot-rl train --from-buffer`` and hw-train all do::

    learner = Learner(load_policy(path), cfg.loop)        # + the optimiser state a previous update left
    stats = learner.update(buffer, groups)                 # groups_to_batch -> loop_update
    learner.save(out / "policy")                           # + learner.save_optimizer(...)

and differ only in where the groups come from (the sim schedule, the buffer's complete groups,
the operator's cycle plan) and what they do with the new policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, check_policy, loop_update, make_optimizer
from robot_rl.algorithms.loop_batching import DataParallel
from robot_rl.buffer import RolloutBuffer
from robot_rl.policies import Policy, load_policy, save_policy
from robot_rl.train.batch import EpisodeGroup, groups_to_batch


class Learner:
    """Owns the policy being optimised (pi_theta), its AdamW optimiser and the frozen KL reference."""

    def __init__(self, policy: Policy, cfg: LoopConfig, ref_policy: Policy | None = None) -> None:
        """
        :param policy: pi_theta, already on its device (and sharded, under FSDP): the optimiser is
            built on its parameters.
        :param cfg: the LOOP update's settings; refused here when unsound for the policy's head.
        :param ref_policy: the frozen reference of the KL penalty (``kl_coef > 0``), or None.
        """
        check_policy(policy, cfg)
        self.policy = policy
        self.cfg = cfg
        self.ref_policy = ref_policy
        self.optimizer = make_optimizer(policy, cfg)

    @classmethod
    def load(cls, path: str | Path, cfg: LoopConfig, optimizer_state: str | Path | None = None) -> Learner:
        """The learner of the checkpoint at ``path``, with Adam's moments from ``optimizer_state`` when it exists."""
        learner = cls(load_policy(path), cfg)
        if optimizer_state is not None and Path(optimizer_state).is_file():
            learner.load_optimizer(optimizer_state)
        return learner

    def update(self, buffer: RolloutBuffer, groups: Sequence[EpisodeGroup], mean_actions: float | None = None,
               data_parallel: DataParallel | None = None) -> dict[str, float]:
        """One LOOP update on ``groups`` read back from ``buffer``; the update's metrics.

        :param mean_actions: see :func:`~robot_rl.train.batch.groups_to_batch` (data-parallel ranks).
        :param data_parallel: these groups are this rank's part of a global batch.
        """
        return self.update_batch(groups_to_batch(buffer, groups, self.cfg, mean_actions), data_parallel)

    def update_batch(self, batch: LoopBatch, data_parallel: DataParallel | None = None) -> dict[str, float]:
        """One LOOP update on a batch already built (a data-parallel rank's rows)."""
        self.policy.eval()  # no dropout: the first epoch's ratios are exactly 1 (pi_theta = pi_psi)
        return loop_update(self.policy, self.optimizer, batch, self.cfg, ref_policy=self.ref_policy,
                           data_parallel=data_parallel)

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the policy checkpoint to ``path``."""
        return save_policy(self.policy, path, extra=extra)

    def save_optimizer(self, path: str | Path) -> None:
        """Write the optimiser state (Adam's moments carry over to the next update that loads it)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.optimizer.state_dict(), path)

    def load_optimizer(self, path: str | Path) -> None:
        """Restore the optimiser state written by :meth:`save_optimizer`."""
        self.optimizer.load_state_dict(torch.load(path, weights_only=False))
