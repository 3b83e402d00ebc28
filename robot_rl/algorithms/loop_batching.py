"""Minibatch bookkeeping for the LOOP update, in one process or split across data-parallel ranks.

:func:`~robot_rl.algorithms.loop.loop_update` walks minibatches of the *global* batch; this
module says, for each one, which of this rank's rows it holds, split into microbatches, and the
loss denominator of the whole minibatch, so that microbatch gradients (and ranks' gradients,
once summed) add up to the single-process minibatch gradient::

    rows = BatchRows.of(batch.mask, batch.advantages, elements, data_parallel)   # global view
    for mb in rows.minibatches(cfg, generator):            # one optimiser step each
        for idx in mb.micro:                               # local row indices, or None (lockstep pad)
            ... loss_of(idx) * (its weight / mb.weight) ... .backward()

Without ``data_parallel`` every row is local and global, and nothing here communicates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any, Protocol

import torch

from robot_rl.algorithms.ppo import Aggregation
from robot_rl.errors import AlgorithmError


class DataParallel(Protocol):
    """Hook that runs :func:`~robot_rl.algorithms.loop.loop_update` on one global batch split across ranks.

    Each rank passes its own rows as ``batch`` and ``global_index`` (n_local,) says where each
    row sits in the global batch of ``global_size`` rows (-1: a placeholder that never enters a
    minibatch). Every rank walks the same permutation of the global batch, so the minibatches,
    their loss denominators and the number of optimiser steps are those of a single process; a
    rank computes the loss of the minibatch rows it holds, scaled by the *global* denominator,
    and ``reduce_gradients`` sums gradients across ranks, so the update equals the
    single-process one up to float summation order. ``robot_rl.train.distributed.BatchShard``
    implements it.
    """

    global_index: torch.Tensor
    global_size: int
    lockstep: bool  # every rank runs the same number of forward/backward passes (FSDP)

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor: ...

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor: ...

    def all_gather_object(self, obj: Any) -> list[Any]: ...

    def reduce_gradients(self, params: list[torch.nn.Parameter]) -> None: ...


def global_rows(local: torch.Tensor, dp: DataParallel) -> torch.Tensor:
    """Scatter local per-row values (n_local,) into the global batch (N,) on every rank (float64, exact)."""
    gi = dp.global_index
    real = gi >= 0
    out = torch.zeros(dp.global_size, dtype=torch.float64)
    out[gi[real]] = local[real].double()
    return dp.all_reduce(out, "sum")


@dataclasses.dataclass
class Minibatch:
    """One optimiser step's rows, as this rank holds them.

    micro:  LongTensor (m,) of local row indices per forward/backward pass, in minibatch order;
            ``None`` entries are lockstep padding (this rank has no rows left; the others do).
    weight: the loss denominator of the whole global minibatch (valid elements for token-mean,
            valid rows otherwise), the same on every rank.
    """

    micro: list[torch.Tensor | None]
    weight: float


@dataclasses.dataclass
class BatchRows:
    """The global batch as every rank sees it: which rows count, their advantages and loss weights.

    mask:           bool (n_local,): local rows that count (padding and placeholders do not).
    mask_global:    bool (N,) of the global batch.
    adv_global:     float (N,): each global row's advantage.
    elements:       float64 (N,): each global row's elements in a token-mean denominator (0 if masked).
    local_of:       long (N,): global row -> local row, -1 where another rank holds it; None = one process.
    """

    mask: torch.Tensor
    mask_global: torch.Tensor
    adv_global: torch.Tensor
    elements: torch.Tensor
    local_of: torch.Tensor | None
    dp: DataParallel | None

    @classmethod
    def of(cls, mask: torch.Tensor | None, advantages: torch.Tensor, row_elements: torch.Tensor,
           dp: DataParallel | None) -> BatchRows:
        """
        :param mask: bool (n_local,) or None (all rows count).
        :param advantages: (n_local,).
        :param row_elements: float64 (n_local,): elements each row contributes to a token-mean
            denominator (:func:`~robot_rl.algorithms.loop_scoring.row_elements`).
        """
        n = int(advantages.shape[0])
        # Index bookkeeping stays on the CPU; ppo_loss moves what it needs to the policy's device.
        mask = mask.to("cpu", torch.bool) if mask is not None else torch.ones(n, dtype=torch.bool)
        if dp is None:
            return cls(mask, mask, advantages.float(), row_elements * mask, None, None)
        if dp.global_index.shape != (n,):
            raise AlgorithmError(f"data_parallel.global_index must be (N_local,) = ({n},); "
                                 f"got {tuple(dp.global_index.shape)}")
        mask = mask & (dp.global_index >= 0)  # placeholder rows never count
        mask_global = global_rows(mask, dp) > 0.5  # (N,)
        adv_global = global_rows(advantages.detach().float().cpu(), dp).float()  # (N,)
        # Each row's element count comes from the rank holding it (a rank without rows knows no H or A).
        elements = global_rows(row_elements * mask, dp)  # (N,)
        local_of = torch.full((dp.global_size,), -1, dtype=torch.long)
        real = dp.global_index >= 0
        local_of[dp.global_index[real]] = torch.arange(n)[real]
        return cls(mask, mask_global, adv_global, elements, local_of, dp)

    @property
    def size(self) -> int:
        """N: rows of the global batch."""
        return int(self.mask_global.shape[0])

    @property
    def lockstep(self) -> bool:
        """Every rank runs the same number of forward/backward passes (FSDP)."""
        return self.dp is not None and self.dp.lockstep

    def minibatches(self, minibatch_size: int, microbatch_size: int, aggregation: Aggregation, shuffle: bool,
                    generator: torch.Generator | None) -> Iterator[Minibatch]:
        """One epoch's minibatches with a non-zero denominator, in the order every rank walks them."""
        order = torch.randperm(self.size, generator=generator) if shuffle else torch.arange(self.size)
        if self.dp is not None:
            order = self.dp.broadcast(order)  # every rank walks rank 0's permutation
        for start in range(0, self.size, minibatch_size):
            idx = order[start:start + minibatch_size]  # rows of the global batch
            # Denominator of the whole minibatch, so microbatch gradients add up to the minibatch's.
            elements = self.elements[idx]
            weight = float(elements.sum()) if aggregation == "token-mean" else float((elements > 0).sum())
            if weight == 0:
                continue  # nothing valid: no gradient, no optimiser step
            if self.local_of is not None:
                idx = self.local_of[idx]
                idx = idx[idx >= 0]  # the minibatch rows this rank holds, in minibatch order
            micro: list[torch.Tensor | None] = [idx[s:s + microbatch_size] for s in range(0, len(idx), microbatch_size)]
            if self.lockstep:
                assert self.dp is not None
                most = int(self.dp.all_reduce(torch.tensor([len(micro)]), "max"))
                micro += [None] * (most - len(micro))
            yield Minibatch(micro, weight)

    def reduce_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Sum gradients over ranks (each scaled its part by the global denominator); no-op in one process."""
        if self.dp is not None:
            self.dp.reduce_gradients(params)

    def global_mean(self, total: float, weight: float) -> float | None:
        """``total / weight`` summed over ranks (every rank gets the same value); None when ``weight`` is 0."""
        if self.dp is not None:
            total, weight = self.dp.all_reduce(torch.tensor([total, weight], dtype=torch.float64)).tolist()
        return total / weight if weight else None


def clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float | None) -> float:
    """Clip the global gradient norm to ``max_norm`` (None: no clipping); the norm before clipping."""
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else math.inf)
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP: a DTensor
