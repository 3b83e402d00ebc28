"""FSDP2 (``fully_shard``) for the learner's policy: sharded parameters, gradients and Adam state.

Used by the trainer when ``distributed.strategy: fsdp`` (meant for the ``hf`` VLA, whose
transformer blocks are the sharding units). Three things differ from the replicated (ddp) path:

- The policy is called through ``forward_outputs`` (not ``forward``), so that method is
  registered as an FSDP forward method: FSDP all-gathers the root's parameters around it.
- FSDP reduce-scatters gradients during backward; the divide factor is set to 1 so they are
  *summed*, which is what ``loop_update`` expects (each rank scales its loss by its share of the
  global minibatch denominator).
- A sharded forward is a collective, but ranks run different numbers of rollouts. Rollouts,
  evaluation and checkpoints therefore use a plain full copy of the policy on every rank (the
  frozen sampling policy pi_psi), refreshed from the shards after every update with
  :func:`sync_replica`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.train.distributed import Dist


def _fsdp() -> Any:
    try:
        from torch.distributed import fsdp
        from torch.distributed.checkpoint import state_dict as dcp_state
        from torch.distributed.device_mesh import init_device_mesh
    except ImportError as err:  # torch < 2.6 has no public fully_shard
        raise ConfigError(f"distributed.strategy: fsdp needs torch >= 2.6 with torch.distributed.fsdp.fully_shard "
                          f"({err}); use strategy: ddp") from None
    return fsdp, dcp_state, init_device_mesh


def shard_policy(policy: nn.Module, dist: Dist) -> nn.Module:
    """Apply ``fully_shard`` to every block of every ``nn.ModuleList`` (transformer layers), then the root.

    The policy is modified in place (its parameters become DTensor shards) and returned.
    """
    fsdp, _, init_device_mesh = _fsdp()
    if not dist.enabled:
        raise ConfigError("distributed.strategy: fsdp needs more than one rank; start the run with torchrun")
    mesh = init_device_mesh(dist.device.type, (dist.world_size,))
    blocks = [child for module in policy.modules() if isinstance(module, nn.ModuleList)
              for child in module if any(True for _ in child.parameters())]
    for block in reversed(blocks):  # reversed pre-order: inner blocks before the blocks that hold them
        fsdp.fully_shard(block, mesh=mesh)
    fsdp.fully_shard(policy, mesh=mesh)
    for module in blocks + [policy]:
        # Sum, not mean (see the module docstring), through plain SUM collectives: gloo has no PREMUL_SUM.
        module.set_gradient_divide_factor(1.0)
        module.set_force_sum_reduction_for_comms(True)
    fsdp.register_fsdp_forward_method(policy, "forward_outputs")
    return policy


def full_state_dict(policy: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded state dict on every rank (a collective: every rank must call it)."""
    _, dcp_state, _ = _fsdp()
    return dcp_state.get_model_state_dict(policy, options=dcp_state.StateDictOptions(full_state_dict=True))


@torch.no_grad()
def sync_replica(replica: nn.Module, policy: nn.Module) -> None:
    """Copy the sharded ``policy``'s weights into the plain ``replica`` (collective)."""
    state = full_state_dict(policy)
    replica.load_state_dict({k: v.to(replica.spec_low.device) for k, v in state.items()})  # type: ignore[operator]


def optimizer_state(policy: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The full optimiser state on rank 0 (empty elsewhere), for the checkpoint (collective)."""
    _, dcp_state, _ = _fsdp()
    return dcp_state.get_optimizer_state_dict(
        policy, optimizer, options=dcp_state.StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(policy: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load :func:`optimizer_state` output, which every rank read from the checkpoint (collective)."""
    _, dcp_state, _ = _fsdp()
    # strict=False: parameters that never received a gradient (e.g. SigLIP's unused pooling head)
    # have no Adam state, as in a single process.
    dcp_state.set_optimizer_state_dict(policy, optimizer, optim_state_dict=state,
                                       options=dcp_state.StateDictOptions(full_state_dict=True, strict=False))
