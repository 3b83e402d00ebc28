"""Process-group plumbing for data-parallel LOOP training under ``torchrun``.

``torchrun --nproc_per_node N -m robot_rl.cli train CONFIG --out RUN`` starts N processes with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`init_distributed` joins them into one process group (gloo on CPU, NCCL when the learner
runs on CUDA). Without those variables (or with ``WORLD_SIZE=1``) it returns a single-process
:class:`Dist` and nothing below talks to a process group, so a plain run is unchanged.

:class:`BatchShard` is the hook :func:`robot_rl.algorithms.loop.loop_update` calls to run one
global batch split across ranks (see ``robot_rl.algorithms.loop_batching.DataParallel``): gradients
are summed across ranks after each rank scaled its loss by its share of the global minibatch
denominator, which is exact even when ranks hold different numbers of steps (torch DDP would average, and needs the same
number of backward passes on every rank).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
import torch.distributed as tdist

from robot_rl.errors import ConfigError

log = logging.getLogger(__name__)

Backend = Literal["auto", "gloo", "nccl"]
_BUCKET_BYTES = 64 << 20  # gradients are all-reduced in flat buckets of at most this size


@dataclass(frozen=True)
class Dist:
    """Where this process sits: rank, world size, local rank (GPU index) and the learner device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "none"
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        """True when a process group with more than one rank is running."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, metrics and plots."""
        return self.rank == 0

    def shard(self, n: int) -> list[int]:
        """This rank's share of ``range(n)``: every ``world_size``-th item starting at ``rank``."""
        return list(range(self.rank, n, self.world_size))

    # ---- collectives (no-ops in a single process) ------------------------------------------

    def all_gather_object(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable Python objects)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """Rank ``src``'s ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=src)
        return box[0]

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """Reduced copy of ``tensor`` (``sum``, ``max`` or ``min``) on every rank; the input is unchanged."""
        if not self.enabled:
            return tensor.clone()
        ops = {"sum": tdist.ReduceOp.SUM, "max": tdist.ReduceOp.MAX, "min": tdist.ReduceOp.MIN}
        out = tensor.detach().to(self.device).clone()
        tdist.all_reduce(out, op=ops[op])
        return out.to(tensor.device)

    def broadcast(self, tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
        """Rank ``src``'s ``tensor`` on every rank."""
        if not self.enabled:
            return tensor
        out = tensor.detach().to(self.device).clone()
        tdist.broadcast(out, src=src)
        return out.to(tensor.device)

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()


def init_distributed(backend: Backend = "auto") -> Dist:
    """Join the process group ``torchrun`` describes in the environment, or run as one process.

    :param backend: ``auto`` picks NCCL when CUDA is available and gloo otherwise. With NCCL each
        rank's learner runs on ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    missing = [v for v in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={world} but {', '.join(missing)} not set; start distributed runs with "
                          "`torchrun --nproc_per_node N -m robot_rl.cli train ...`")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ConfigError("distributed.backend: nccl needs CUDA; use gloo (or auto) on CPU")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
    log.info("rank %d/%d joined the %s process group (learner on %s)", rank, world, backend, device)
    return Dist(rank=rank, world_size=world, local_rank=local_rank, backend=backend, device=device)


def shutdown_distributed(dist: Dist) -> None:
    """Leave the process group (after a final barrier, so no rank exits while others still talk)."""
    if dist.enabled and tdist.is_initialized():
        tdist.barrier()
        tdist.destroy_process_group()


def broadcast_parameters(module: torch.nn.Module, dist: Dist) -> None:
    """Copy rank 0's parameters and buffers to every rank (all ranks start identical)."""
    if not dist.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            t.copy_(dist.broadcast(t.data))


def all_reduce_gradients(params: Sequence[torch.nn.Parameter], dist: Dist) -> None:
    """Sum every parameter's gradient across ranks, in flat buckets.

    A gradient that is None on every rank stays None (AdamW then skips the parameter, as in a
    single process); one that is None on some ranks only counts as zeros there.
    """
    if not dist.enabled or not params:
        return
    has = dist.all_reduce(torch.tensor([p.grad is not None for p in params], dtype=torch.float32), "max")
    live = [p for p, h in zip(params, has.tolist()) if h > 0]
    for p in live:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    buckets: list[list[torch.nn.Parameter]] = []
    sizes: list[int] = []
    for p in live:
        nbytes = p.grad.numel() * p.grad.element_size()
        if buckets and buckets[-1][0].grad.dtype == p.grad.dtype and sizes[-1] + nbytes <= _BUCKET_BYTES:
            buckets[-1].append(p)
            sizes[-1] += nbytes
        else:
            buckets.append([p])
            sizes.append(nbytes)
    for bucket in buckets:
        flat = torch.cat([q.grad.reshape(-1) for q in bucket])  # (sum of numels,)
        tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
        offset = 0
        for q in bucket:
            n = q.grad.numel()
            q.grad.copy_(flat[offset:offset + n].view_as(q.grad))
            offset += n


class BatchShard:
    """This rank's part of a global LOOP batch: the ``DataParallel`` hook of ``loop_update``.

    :param dist: the process group.
    :param global_index: long (n_local,), the position of each local row in the global batch
        (-1 for a placeholder row that never enters a minibatch).
    :param global_size: N, rows in the global batch.
    :param lockstep: every rank must run the same number of forward/backward passes (FSDP, whose
        forward and backward are collectives); ranks with fewer rows run zero-weight passes.
    :param sum_gradients: sum gradients after each minibatch (False when FSDP already reduces them
        during backward).
    """

    def __init__(self, dist: Dist, global_index: torch.Tensor, global_size: int, lockstep: bool = False,
                 sum_gradients: bool = True) -> None:
        self.dist = dist
        self.global_index = global_index.long()
        self.global_size = int(global_size)
        self.lockstep = lockstep
        self.sum_gradients = sum_gradients

    def all_reduce(self, tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
        return self.dist.all_reduce(tensor, op)

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.dist.broadcast(tensor)

    def all_gather_object(self, obj: Any) -> list[Any]:
        return self.dist.all_gather_object(obj)

    def reduce_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        if self.sum_gradients:
            all_reduce_gradients(params, self.dist)
