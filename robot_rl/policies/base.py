"""The policy interface every VLA implements (used by the trainer, rollouts and deploy runners).

A policy maps an observation batch (robot_rl.policies.batch) to head outputs; everything else
(sampling, scoring, the deterministic action, entropy, the SFT loss) is shared here and goes
through :func:`robot_rl.policies.heads.make_distribution`, the same code the ONNX runner uses.

Shapes: B batch, H chunk length, A action dimensions, K bins.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError
from robot_rl.policies.batch import ObsBatch, as_obs_batch, check_obs_batch
from robot_rl.policies.heads import ChunkDistribution, HeadConfig, make_distribution, normalize_actions, tokenize_actions
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.sample import PolicySample, reduce_log_prob
from robot_rl.spec import EmbodimentSpec


class Policy(nn.Module, abc.ABC):
    """Base class: an embodiment spec, a typed config, normalisation stats (as buffers) and a version.

    Subclasses implement :meth:`forward_outputs` (checked batch -> head outputs) and
    :meth:`param_groups`, and set ``policy_type`` (the name used by checkpoints and the CLI).
    """

    policy_type: ClassVar[str]

    def __init__(self, spec: EmbodimentSpec, config: StrictConfig, stats: NormStats | None = None, version: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.config = config
        self.version = int(version)
        self.register_buffer("spec_low", torch.from_numpy(spec.action_low.copy()))
        self.register_buffer("spec_high", torch.from_numpy(spec.action_high.copy()))
        d, a = spec.proprio_dim, spec.action_dim
        for name, n in (("proprio_mean", d), ("proprio_std", d), ("action_low", a), ("action_high", a)):
            self.register_buffer(name, torch.zeros(n))
        # Non-virtual on purpose: subclasses build their modules after this and then call set_stats.
        Policy.set_stats(self, stats if stats is not None else NormStats.identity(spec))

    # ---- configuration -------------------------------------------------------------------

    @property
    def head_config(self) -> HeadConfig:
        return self.config.head  # type: ignore[attr-defined]

    @property
    def head_kind(self) -> str:
        return self.head_config.kind

    @property
    def device(self) -> torch.device:
        return self.spec_low.device

    @property
    def stats(self) -> NormStats:
        """Normalisation statistics currently held by the policy (copied to numpy)."""
        return NormStats(*(getattr(self, n).detach().cpu().numpy().copy()
                           for n in ("proprio_mean", "proprio_std", "action_low", "action_high")))

    def set_stats(self, stats: NormStats) -> None:
        """Install normalisation stats (computed by SFT from the training data)."""
        stats.check(self.spec)
        for name in ("proprio_mean", "proprio_std", "action_low", "action_high"):
            getattr(self, name).copy_(torch.from_numpy(np.asarray(getattr(stats, name), np.float32)))

    def tokenizer_info(self) -> dict[str, Any]:
        """How instructions are tokenized (saved in the checkpoint)."""
        return {}

    def load_tokenizer(self, info: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore the tokenizer saved by :meth:`tokenizer_info` (policies whose tokenizer is data, e.g. a BPE)."""

    @abc.abstractmethod
    def forward_outputs(self, obs: ObsBatch) -> dict[str, torch.Tensor]:
        """Head outputs for a batch already checked against the spec: logits (B, H, A, K) or mean/log_scale (B, H, A)."""

    @abc.abstractmethod
    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"backbone": [...], "head": [...]}: disjoint, together all trainable parameters."""

    def export_graph(self) -> tuple[nn.Module, list[str]]:
        """The network to export and its input names; it takes the tensors :meth:`encode_inputs` returns
        and returns the head outputs in ``HEAD_OUTPUTS[head_kind]`` order."""
        raise NotImplementedError(f"{type(self).__name__} cannot be exported")

    def encode_inputs(self, obs: ObsBatch) -> tuple[torch.Tensor, ...]:
        """Network inputs for a checked batch (see :meth:`export_graph`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be exported")

    def scale_parameters(self) -> list[nn.Parameter]:
        """Parameters of the learned-scale layer (continuous heads), fitted alone by scale calibration."""
        head = getattr(self, "head", None)
        if self.head_kind == "token" or head is None:
            raise ConfigError(f"scale calibration needs a gaussian or laplace head; this policy's head is '{self.head_kind}'")
        return list(head.scale.parameters())

    # ---- the interface -------------------------------------------------------------------

    def head_outputs(self, obs: ObsBatch | Any) -> dict[str, torch.Tensor]:
        """Check ``obs`` against the spec (naming any mismatching camera or field) and run the network."""
        batch = as_obs_batch(obs)
        check_obs_batch(batch, self.spec)
        return self.forward_outputs(batch)

    def distribution_from_outputs(self, outputs: dict[str, torch.Tensor], temperature: float = 1.0) -> ChunkDistribution:
        return make_distribution(self.head_kind, outputs, self.action_low, self.action_high,
                                 self.spec_low, self.spec_high, temperature)

    def distribution(self, obs: ObsBatch | Any, temperature: float = 1.0) -> ChunkDistribution:
        return self.distribution_from_outputs(self.head_outputs(obs), temperature)

    @torch.no_grad()
    def sample(self, obs: ObsBatch | Any, temperature: float = 1.0, generator: torch.Generator | None = None) -> PolicySample:
        """Sample one chunk per batch element: action (B, H, A) in spec units, clipped; per-dimension log-prob."""
        return self.distribution(obs, temperature).sample(generator)

    def log_prob(self, obs: ObsBatch | Any, sample: PolicySample, temperature: float = 1.0,
                 granularity: str = "token") -> torch.Tensor:
        """Differentiable fp32 log-prob of ``sample`` under the current weights at ``temperature``.

        token: (B, H, A); action: (B, H) (sum over A); chunk: (B,) (sum over H and A).
        """
        return reduce_log_prob(self.distribution(obs, temperature).log_prob(sample), granularity)

    @torch.no_grad()
    def act(self, obs: ObsBatch | Any) -> torch.Tensor:
        """Deterministic chunk (B, H, A): argmax bin centre or the mean, clipped to the spec limits."""
        return self.distribution(obs, 1.0).mode()

    @torch.no_grad()
    def entropy(self, obs: ObsBatch | Any, temperature: float = 1.0) -> torch.Tensor:
        """Per-dimension entropy (B, H, A) at ``temperature`` (for logging)."""
        return self.distribution(obs, temperature).entropy()

    # ---- supervised losses ---------------------------------------------------------------

    def sft_loss(self, obs: ObsBatch | Any, actions: torch.Tensor,
                 valid: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Behaviour-cloning loss for target chunks ``actions`` (B, H, A) in spec units.

        token: cross-entropy on the nearest bins; gaussian: MSE of the normalised mean;
        laplace: L1 of the normalised mean. The scale layer is not trained here (see calibration).
        ``valid`` (B, H) bool marks chunk steps that were really executed (an episode's last chunk
        is cut short); the others do not count.
        """
        outputs = self.head_outputs(obs)
        target = actions.to(self.device, torch.float32)
        if self.head_kind == "token":
            logits = outputs["logits"].float()  # (B, H, A, K)
            tokens = tokenize_actions(target, self.action_low, self.action_high, logits.shape[-1])
            per_dim = F.cross_entropy(logits.permute(0, 3, 1, 2), tokens, reduction="none")  # (B, H, A)
            hit = (logits.argmax(-1) == tokens).float()
        else:
            pred = outputs["mean"].float()
            goal = normalize_actions(target, self.action_low, self.action_high)
            per_dim = (pred - goal) ** 2 if self.head_kind == "gaussian" else (pred - goal).abs()  # (B, H, A)
        weight = torch.ones(per_dim.shape[:2], device=per_dim.device) if valid is None else valid.to(per_dim.device).float()
        weight = weight.unsqueeze(-1).expand_as(per_dim)  # (B, H, A)
        denom = weight.sum().clamp_min(1.0)
        loss = (per_dim * weight).sum() / denom
        metrics = {"loss": loss.item()}
        if self.head_kind == "token":
            metrics["token_acc"] = ((hit * weight).sum() / denom).item()
        return loss, metrics

    def nll(self, obs: ObsBatch | Any, actions: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Mean negative log-likelihood per dimension of target chunks (B, H, A) at temperature 1.

        ``valid`` (B, H) bool: only these chunk steps count (see :meth:`sft_loss`).
        """
        lp = self.distribution(obs, 1.0).log_prob(PolicySample(action=actions.to(self.device).float(),
                                                               log_prob=torch.empty(0)))  # (B, H, A)
        if valid is None:
            return -lp.mean()
        weight = valid.to(lp.device).float().unsqueeze(-1).expand_as(lp)
        return -(lp * weight).sum() / weight.sum().clamp_min(1.0)
