"""LOOP (Leave-One-Out PPO), the RL update of RIPT-VLA (Tan et al. 2025, arXiv 2505.17016).

One LOOP step, as in the paper's Algorithm 1:

1. sample B/K contexts; run K rollouts per context with the frozen sampling policy pi_psi and
   keep the stored per-dimension log-probs log pi_psi(a);                 (robot_rl.rollout)
2. reward R_k in {0, 1}; drop groups whose K rewards are all equal;       (rollout.schedule)
3. advantage A_k = R_k - mean_{j != k} R_j, copied to every policy step of rollout k;
                                                                          (algorithms.advantages)
4. N epochs of PPO over minibatches of the collected steps with ratio pi_theta / pi_psi
   clipped to [1 - eps_low, 1 + eps_high]                                 (this file: loop_update)

``loop_update`` does step 4 only: it reads a :class:`LoopBatch` and never touches an env
(collection and optimisation stay separate, as in Stable-Baselines3). See docs/loop.md.

Policy interface used here (robot_rl.policies)::

    policy.log_prob(obs, sample, temperature=1.0, granularity="token") -> (B, H, A) | (B, H) | (B,)
    policy.param_groups() -> {"backbone": [params], "head": [params]}
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any, Protocol

import numpy as np
import torch
from pydantic import Field, model_validator

from robot_rl.algorithms.advantages import AdvantageMethod, group_advantages
from robot_rl.algorithms.kl import KL_LOSS_ESTIMATORS, KLEstimator, entropy_mc, kl_divergence
from robot_rl.algorithms.ppo import Aggregation, Granularity, aggregate, ppo_loss, reduce_log_prob
from robot_rl.config import StrictConfig
from robot_rl.errors import AlgorithmError, ConfigError


class LoopConfig(StrictConfig):
    """Hyper-parameters of the LOOP update (docs/loop.md maps each to the paper)."""

    group_size: int = Field(8, ge=2, description="K: rollouts per context (RIPT-VLA: 8)")
    advantage: AdvantageMethod = Field("rloo", description="rloo (A = R - leave-one-out mean) or grpo (std-normalised)")
    grpo_eps: float = Field(1e-6, gt=0, description="added to the group std by the grpo estimator")
    clip_low: float = Field(0.2, gt=0, lt=1, description="eps_low: ratio clipped below at 1 - clip_low")
    clip_high: float = Field(0.2, gt=0,
                             description="eps_high: ratio clipped above at 1 + clip_high (clip-higher: 0.28)")
    dual_clip: float | None = Field(None, gt=1, description="c > 1: loss of A < 0 elements capped at -c A; null = off")
    log_ratio_clamp: float | None = Field(20.0, gt=0, description="clamp log-ratio to [-x, x] before exp; null = off")
    granularity: Granularity = Field(
        "token", description="one ratio per token (action dim), action (sum over A) or chunk (sum over H, A)")
    aggregation: Aggregation = Field("token-mean", description="how element losses become one scalar (docs/loop.md)")
    balance_episodes: bool = Field(
        False, description="scale each episode's advantage by (mean executed actions per episode) / (its own), so "
                           "every episode carries the same total weight: otherwise a failure that runs to the "
                           "episode limit outweighs a quick success and the batch pushes sampled actions down on net")
    ppo_epochs: int = Field(4, ge=1, description="N: passes over the collected batch")
    minibatch_size: int = Field(64, ge=1, description="policy steps per optimiser step")
    microbatch_size: int | None = Field(
        None, ge=1, description="policy steps per forward/backward (gradient accumulation); null = minibatch_size")
    shuffle: bool = Field(True, description="reshuffle the steps every epoch")
    max_grad_norm: float | None = Field(1.0, gt=0, description="clip the global gradient norm; null = no clipping")
    lr_backbone: float = Field(1e-5, ge=0, description="learning rate of the policy's backbone parameters")
    lr_head: float = Field(1e-4, ge=0, description="learning rate of the policy's action-head parameters")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    adam_betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas")
    kl_coef: float = Field(0.0, ge=0, description="weight of the KL penalty to a frozen reference; 0 = off")
    kl_estimator: KLEstimator = Field(
        "k3", description="k2 or k3: the estimator of the reference KL used as a loss (k1's gradient ignores the "
                          "reference, so it is refused with kl_coef > 0 and logged beside the loss as "
                          "losses/kl_ref_k1)")
    entropy_coef: float = Field(
        0.0, ge=-1.0, le=1.0,
        description="loss -= entropy_coef x the policy's exact entropy (per element, aggregated like the loss): > 0 "
                    "is PPO's entropy bonus, < 0 a penalty that keeps the sampler sharp without anchoring its mode; "
                    "token heads only (a gaussian/laplace head's entropy gradient is constant in its log-scale)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature; the same value must score the ratios")
    target_kl: float | None = Field(
        None, gt=0, description="stop the epochs early once an epoch's approx_kl exceeds this")

    @model_validator(mode="after")
    def _microbatch_divides(self) -> LoopConfig:
        if self.microbatch_size is not None and self.microbatch_size > self.minibatch_size:
            raise ValueError(f"microbatch_size ({self.microbatch_size}) must be <= "
                             f"minibatch_size ({self.minibatch_size})")
        return self

    @model_validator(mode="after")
    def _kl_estimator_is_a_loss(self) -> LoopConfig:
        # d/dtheta [log pi_theta(a) - log pi_ref(a)] = d/dtheta log pi_theta(a): the reference drops out of
        # k1's gradient, which only lowers the likelihood of every sampled action (from a reference
        # 0.09 nats away, 8 epochs at advantage 0 drove the exact KL to 1.7 with k1, 0.0015 with k2/k3).
        if self.kl_coef > 0 and self.kl_estimator not in KL_LOSS_ESTIMATORS:
            raise ValueError(f"kl_estimator: got {self.kl_estimator!r} with kl_coef {self.kl_coef}; k1 cannot be "
                             "a loss (its gradient does not depend on the reference); allowed with kl_coef > 0: "
                             f"{', '.join(KL_LOSS_ESTIMATORS)} (k1 is logged as losses/kl_ref_k1)")
        return self


class LoopPolicy(Protocol):
    """What :func:`loop_update` needs from a policy."""

    def log_prob(self, obs: dict[str, Any], sample: Any, temperature: float = 1.0,
                 granularity: str = "token") -> torch.Tensor: ...

    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]: ...


class DataParallel(Protocol):
    """Hook that runs :func:`loop_update` on one global batch split across ranks.

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


# Heads whose exact entropy is c + log_scale: its gradient w.r.t. the log-scale is a constant, so any
# entropy_coef != 0 drives the scale to log_scale_min (< 0) or log_scale_max (> 0) whatever the reward says.
SCALE_HEADS: tuple[str, ...] = ("gaussian", "laplace")


def check_policy(policy: Any, cfg: LoopConfig) -> None:
    """Refuse settings that are unsound for ``policy``'s action head (:class:`ConfigError` naming the field).

    ``entropy_coef`` needs a token head: a categorical's entropy is bounded and its gradient
    depends on the logits, while a Gaussian/Laplace head's entropy is ``c + log_scale`` (constant
    gradient, unbounded), so the term would only push the scale to one of its clamps.
    """
    kind = getattr(policy, "head_kind", None)
    if cfg.entropy_coef and kind in SCALE_HEADS:
        raise ConfigError(f"loop.entropy_coef: got {cfg.entropy_coef} with a {kind} head; allowed: 0 for "
                          f"{' and '.join(SCALE_HEADS)} heads (their entropy c + log_scale has a constant gradient "
                          "that drives the scale to a clamp whatever the reward), any value in [-1, 1] for a "
                          "token head")


def loop_advantages(rewards: torch.Tensor | np.ndarray, cfg: LoopConfig) -> torch.Tensor:
    """Advantages of (G, K) group rewards with the estimator the config selects, (G, K) -> (G, K)."""
    if torch.as_tensor(rewards).ndim == 2 and torch.as_tensor(rewards).shape[1] != cfg.group_size:
        raise AlgorithmError(f"rewards have {torch.as_tensor(rewards).shape[1]} rollouts per group; "
                             f"group_size is {cfg.group_size}")
    return group_advantages(rewards, cfg.advantage, eps=cfg.grpo_eps)


def _index(x: Any, idx: torch.Tensor, n: int) -> Any:
    """Rows ``idx`` of a tensor / array / list whose first dimension is N; anything else unchanged."""
    if isinstance(x, torch.Tensor) and x.ndim >= 1 and x.shape[0] == n:
        return x[idx.to(x.device)]
    if isinstance(x, np.ndarray) and x.ndim >= 1 and x.shape[0] == n:
        return x[idx.cpu().numpy()]
    if isinstance(x, list) and len(x) == n:
        return [x[i] for i in idx.tolist()]
    if isinstance(x, dict):
        return {k: _index(v, idx, n) for k, v in x.items()}
    return x


def index_sample(sample: Any, idx: torch.Tensor, n: int) -> Any:
    """Rows ``idx`` of a batched PolicySample (a dataclass, NamedTuple or dict of (N, ...) fields)."""
    if dataclasses.is_dataclass(sample) and not isinstance(sample, type):
        fields = {f.name: _index(getattr(sample, f.name), idx, n) for f in dataclasses.fields(sample)}
        return dataclasses.replace(sample, **fields)
    if isinstance(sample, tuple) and hasattr(sample, "_replace"):
        return sample._replace(**{k: _index(v, idx, n) for k, v in sample._asdict().items()})
    if isinstance(sample, dict):
        return _index(sample, idx, n)
    raise AlgorithmError("sample must be a dataclass, NamedTuple or dict of batched fields; "
                         f"got {type(sample).__name__}")


@dataclasses.dataclass
class LoopBatch:
    """N policy steps collected by the sampling policy pi_psi, with one advantage per step.

    obs:          {"images": {cam: uint8 (N, H_img, W_img, 3)}, "proprio": float32 (N, D),
                   "instruction": list[str] of length N}; tensors or numpy arrays.
    sample:       the policy's PolicySample batched over N: action (N, H, A), tokens (N, H, A) or
                  None, raw_action (N, H, A) or None, log_prob (N, H, A) = per-dimension
                  log pi_psi of the sampled chunk at ``LoopConfig.temperature``.
    advantages:   float (N,): the advantage of the episode each step belongs to.
    mask:         bool (N,) or None: False for steps that must not count (padding). None = all.
    ref_log_prob: float (N, H, A) or None: per-dimension log-probs under a frozen reference
                  policy; only read when ``kl_coef > 0`` (computed from ``ref_policy`` if None).
    executed:     int (N,) or None: how many of the H actions of each chunk were executed (the
                  buffer's ``executed``; an episode's last chunk is cut short by success or the
                  episode limit). The unexecuted tail never reached the env, so it earned none of
                  the episode's reward: it gets no ratio, no gradient and no weight in any
                  denominator. None = all H.
    """

    obs: dict[str, Any]
    sample: Any
    advantages: torch.Tensor
    mask: torch.Tensor | None = None
    ref_log_prob: torch.Tensor | None = None
    executed: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.advantages.shape[0])

    @property
    def old_log_prob(self) -> torch.Tensor:
        """Per-dimension sampling log-probs, (N, H, A)."""
        lp = self.sample["log_prob"] if isinstance(self.sample, dict) else getattr(self.sample, "log_prob", None)
        if not isinstance(lp, torch.Tensor):
            raise AlgorithmError("batch.sample.log_prob must be a tensor of per-dimension sampling log-probs (N, H, A)")
        return lp

    def validate(self) -> None:
        """Raise :class:`AlgorithmError` naming the first field whose shape does not fit."""
        n = len(self)
        if self.advantages.ndim != 1:
            raise AlgorithmError(f"advantages must be (N,); got {tuple(self.advantages.shape)}")
        if not torch.isfinite(self.advantages).all():
            raise AlgorithmError("advantages contain NaN or inf")
        lp = self.old_log_prob
        if lp.ndim != 3 or lp.shape[0] != n:
            raise AlgorithmError(f"sample.log_prob must be (N, H, A) with N={n}; got {tuple(lp.shape)}")
        if self.mask is not None and tuple(self.mask.shape) != (n,):
            raise AlgorithmError(f"mask must be (N,) = ({n},); got {tuple(self.mask.shape)}")
        if self.executed is not None:
            if tuple(self.executed.shape) != (n,):
                raise AlgorithmError(f"executed must be (N,) = ({n},); got {tuple(self.executed.shape)}")
            if n and (int(self.executed.min()) < 0 or int(self.executed.max()) > lp.shape[1]):
                raise AlgorithmError(f"executed must count 0..H={lp.shape[1]} actions per chunk; got values "
                                     f"{int(self.executed.min())}..{int(self.executed.max())}")
        if self.ref_log_prob is not None and self.ref_log_prob.shape != lp.shape:
            raise AlgorithmError(f"ref_log_prob must match sample.log_prob {tuple(lp.shape)}; "
                                 f"got {tuple(self.ref_log_prob.shape)}")
        for key in ("proprio", "instruction"):
            value = self.obs.get(key)
            if value is not None and len(value) != n:
                raise AlgorithmError(f"obs['{key}'] has {len(value)} rows; the batch has N={n}")
        for cam, img in self.obs.get("images", {}).items():
            if len(img) != n:
                raise AlgorithmError(f"obs['images']['{cam}'] has {len(img)} rows; the batch has N={n}")

    def select(self, idx: torch.Tensor) -> LoopBatch:
        """The rows ``idx`` (LongTensor) of every field."""
        n = len(self)
        return LoopBatch(
            obs=_index(self.obs, idx, n),
            sample=index_sample(self.sample, idx, n),
            advantages=self.advantages[idx.to(self.advantages.device)],
            mask=None if self.mask is None else self.mask[idx.to(self.mask.device)],
            ref_log_prob=None if self.ref_log_prob is None else self.ref_log_prob[idx.to(self.ref_log_prob.device)],
            executed=None if self.executed is None else self.executed[idx.to(self.executed.device)],
        )

    def action_valid(self) -> torch.Tensor | None:
        """bool (N, H) on the CPU: which chunk actions were executed; None when ``executed`` is None."""
        if self.executed is None:
            return None
        h = self.old_log_prob.shape[1]
        return torch.arange(h)[None, :] < self.executed.detach().cpu().long()[:, None]  # (N, H)


def make_optimizer(policy: LoopPolicy, cfg: LoopConfig) -> torch.optim.AdamW:
    """AdamW with the backbone at ``lr_backbone`` and the action head at ``lr_head``."""
    groups = policy.param_groups()
    unknown = set(groups) - {"backbone", "head"}
    if unknown:
        raise AlgorithmError(f"policy.param_groups() keys must be 'backbone' and 'head'; got extra {sorted(unknown)}")
    param_groups = []
    for name, lr in (("backbone", cfg.lr_backbone), ("head", cfg.lr_head)):
        params = [p for p in groups.get(name, []) if p.requires_grad]
        if params:
            param_groups.append({"params": params, "lr": lr, "name": name})
    if not param_groups:
        raise AlgorithmError("policy.param_groups() holds no trainable parameters")
    return torch.optim.AdamW(param_groups, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)


def _reduce_executed(per_dim: torch.Tensor, granularity: Granularity, valid: torch.Tensor | None) -> torch.Tensor:
    """Per-dimension log-probs (N, H, A) to the ratio granularity; a chunk's log-prob sums executed actions only."""
    if valid is None or granularity != "chunk":
        return reduce_log_prob(per_dim, granularity)
    return (per_dim.sum(dim=-1) * valid.to(per_dim.device, per_dim.dtype)).sum(dim=-1)  # (N,)


def _policy_log_prob_entropy(policy: Any, part: LoopBatch, cfg: LoopConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(a) and the exact entropy of pi at the configured granularity, from one forward pass.

    The entropy of an action (chunk) is the sum of its dimensions' (actions') entropies; with
    ``part.executed`` set, a chunk's entropy sums its executed actions only, like its log-prob.
    """
    if not hasattr(policy, "distribution"):
        raise AlgorithmError("entropy_coef != 0 needs a policy with distribution(obs, temperature)")
    dist = policy.distribution(part.obs, cfg.temperature)
    valid = part.action_valid()  # (n, H) executed actions, or None
    return (_reduce_executed(dist.log_prob(part.sample).float(), cfg.granularity, valid),  # log-prob (n, H, A) ->
            _reduce_executed(dist.entropy().float(), cfg.granularity, valid))  # entropy, same granularity


def _policy_log_prob(policy: LoopPolicy, part: LoopBatch, cfg: LoopConfig) -> torch.Tensor:
    """log pi(a) of ``part``'s samples at the configured granularity (differentiable).

    With ``part.executed`` set and chunk granularity, the chunk's log-prob is the sum over its
    executed actions only (asked from the policy per action, then summed here).
    """
    valid = part.action_valid()
    if valid is None or cfg.granularity != "chunk":
        return policy.log_prob(part.obs, part.sample, temperature=cfg.temperature, granularity=cfg.granularity)
    per_action = policy.log_prob(part.obs, part.sample, temperature=cfg.temperature, granularity="action")  # (n, H)
    return (per_action * valid.to(per_action.device, per_action.dtype)).sum(dim=-1)  # (n,)


def _element_mask(rows: torch.Tensor, valid: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """The loss mask of ``like`` ((n,), (n, H) or (n, H, A)): row mask (n,) and executed actions (n, H)."""
    if valid is None:
        return rows
    if like.ndim == 1:  # chunk: a step counts when any of its actions ran
        return rows & valid.any(dim=-1)
    m = rows[:, None] & valid  # (n, H)
    return m if like.ndim == 2 else m[..., None].expand(like.shape)  # (n, H) | (n, H, A)


@torch.no_grad()
def _reference_log_prob(ref_policy: LoopPolicy, batch: LoopBatch, cfg: LoopConfig) -> torch.Tensor:
    """log pi_ref of every sampled element at the configured granularity, in chunks of one microbatch."""
    chunk = cfg.microbatch_size or cfg.minibatch_size
    n = len(batch)
    out = []
    for start in range(0, n, chunk):
        part = batch.select(torch.arange(start, min(start + chunk, n)))
        out.append(_policy_log_prob(ref_policy, part, cfg).float().cpu())
    return torch.cat(out)


class _Mean:
    """Running weighted means of named statistics, plus min/max for the ratio extremes."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.weight: dict[str, float] = defaultdict(float)
        self.low = math.inf
        self.high = -math.inf

    def add(self, name: str, value: float, weight: float = 1.0) -> None:
        self.total[name] += value * weight
        self.weight[name] += weight

    def get(self, name: str, default: float = 0.0) -> float:
        return self.total[name] / self.weight[name] if self.weight.get(name) else default

    def merge(self, parts: list[tuple[dict[str, float], dict[str, float], float, float]]) -> None:
        """Replace the sums by those of several ranks' ``(total, weight, low, high)``."""
        self.total, self.weight = defaultdict(float), defaultdict(float)
        for total, weight, low, high in parts:
            for k, v in total.items():
                self.total[k] += v
                self.weight[k] += weight[k]
            self.low, self.high = min(self.low, low), max(self.high, high)


def _global_rows(batch_rows: torch.Tensor, dp: DataParallel) -> torch.Tensor:
    """Scatter local per-row values (n_local,) into the global batch (N,) on every rank (float64, exact)."""
    gi = dp.global_index
    real = gi >= 0
    out = torch.zeros(dp.global_size, dtype=torch.float64)
    out[gi[real]] = batch_rows[real].double()
    return dp.all_reduce(out, "sum")


def loop_update(
    policy: LoopPolicy,
    optimizer: torch.optim.Optimizer,
    batch: LoopBatch,
    cfg: LoopConfig,
    ref_policy: LoopPolicy | None = None,
    generator: torch.Generator | None = None,
    data_parallel: DataParallel | None = None,
) -> dict[str, float]:
    """Run ``cfg.ppo_epochs`` PPO epochs over ``batch``; return metrics with namespaced keys.

    :param policy: pi_theta, updated in place through ``optimizer``. Its train/eval mode is left
        as the caller set it: eval mode (no dropout) makes the first-epoch ratios exactly 1.
    :param optimizer: e.g. from :func:`make_optimizer`; its parameters are the ones clipped.
    :param batch: see :class:`LoopBatch`.
    :param ref_policy: frozen reference for the KL penalty (only used when ``kl_coef > 0`` and
        ``batch.ref_log_prob`` is None).
    :param generator: RNG for the minibatch permutation (None: torch's global RNG).
    :param data_parallel: run ``batch`` as this rank's part of a global batch (see
        :class:`DataParallel`); the returned metrics are those of the global batch on every rank.
    :return: ``losses/pg_loss``, ``losses/kl_ref`` (+ ``_k1``), ``losses/total``, ``losses/approx_kl``,
        ``losses/approx_kl_k1``, ``charts/clipfrac`` (+ ``_low``, ``_high``, ``dual_``),
        ``charts/ratio_mean/min/max``, ``charts/advantage_mean/std``, ``charts/entropy``,
        ``charts/grad_norm`` (before clipping, mean over optimiser steps), ``charts/grad_norm_max``,
        ``charts/optimizer_steps``, ``charts/skipped_steps`` (non-finite gradients),
        ``charts/ppo_epochs_run``, ``charts/policy_steps``, ``charts/lr_<group>``.
    """
    check_policy(policy, cfg)
    batch.validate()
    n = len(batch)
    mb_size = cfg.minibatch_size
    micro_size = cfg.microbatch_size or mb_size
    # The sampling policy's log-probs at the ratio granularity: log pi_psi(a), fixed for all epochs.
    valid = batch.action_valid()  # (N, H) executed actions, or None = all
    old_logp = _reduce_executed(batch.old_log_prob.detach().float().cpu(), cfg.granularity,
                                valid)  # (N,) | (N, H) | (N, H, A)
    # Index bookkeeping stays on the CPU; ppo_loss moves what it needs to the policy's device.
    mask = batch.mask.to("cpu", torch.bool) if batch.mask is not None else torch.ones(n, dtype=torch.bool)
    elements_per_step = int(np.prod(old_logp.shape[1:], dtype=np.int64))
    # Elements each step contributes to a token-mean denominator (unexecuted actions count for nothing).
    if valid is None:
        row_elements = torch.full((n,), float(elements_per_step), dtype=torch.float64)
    elif old_logp.ndim == 1:
        row_elements = valid.any(dim=-1).double()
    else:
        row_elements = valid.sum(dim=-1).double() * (old_logp.shape[2] if old_logp.ndim == 3 else 1)
    dp = data_parallel
    if dp is None:
        n_global, mask_global, adv_global = n, mask, batch.advantages.float()
        elements_global = row_elements * mask
        local_of = None
    else:
        if dp.global_index.shape != (n,):
            raise AlgorithmError(f"data_parallel.global_index must be (N_local,) = ({n},); "
                                 f"got {tuple(dp.global_index.shape)}")
        n_global = dp.global_size
        mask = mask & (dp.global_index >= 0)  # placeholder rows never count
        mask_global = _global_rows(mask, dp) > 0.5  # (N,)
        adv_global = _global_rows(batch.advantages.detach().float().cpu(), dp).float()  # (N,)
        # Each row's element count comes from the rank holding it (a rank without rows knows no H or A).
        elements_global = _global_rows(row_elements * mask, dp)  # (N,)
        local_of = torch.full((n_global,), -1, dtype=torch.long)  # global row -> local row, -1 elsewhere
        real = dp.global_index >= 0
        local_of[dp.global_index[real]] = torch.arange(n)[real]
    lockstep = dp is not None and dp.lockstep

    ref_logp = None
    if cfg.kl_coef > 0:
        if batch.ref_log_prob is not None:
            ref_logp = _reduce_executed(batch.ref_log_prob.detach().float().cpu(), cfg.granularity, valid)
        elif ref_policy is not None:
            ref_logp = _reference_log_prob(ref_policy, batch, cfg)
        else:
            raise AlgorithmError("kl_coef > 0 needs batch.ref_log_prob or a ref_policy")

    params = [p for group in optimizer.param_groups for p in group["params"]]
    stats = _Mean()
    optimizer_steps = skipped_steps = epochs_run = 0
    grad_norm_max = 0.0
    for epoch in range(cfg.ppo_epochs):
        order = torch.randperm(n_global, generator=generator) if cfg.shuffle else torch.arange(n_global)
        if dp is not None:
            order = dp.broadcast(order)  # every rank walks rank 0's permutation
        epoch_kl = _Mean()
        for mb_start in range(0, n_global, mb_size):
            mb_idx = order[mb_start:mb_start + mb_size]  # rows of the global batch
            # Denominator of the whole minibatch, so microbatch gradients add up to the minibatch's.
            mb_elements = elements_global[mb_idx]
            if cfg.aggregation == "token-mean":
                mb_weight = float(mb_elements.sum())
            else:
                mb_weight = float((mb_elements > 0).sum())
            if mb_weight == 0:
                continue  # nothing valid: no gradient, no optimiser step
            if local_of is not None:
                mb_idx = local_of[mb_idx]
                mb_idx = mb_idx[mb_idx >= 0]  # the minibatch rows this rank holds, in minibatch order
            micro_starts: list[int | None] = list(range(0, len(mb_idx), micro_size))
            if lockstep:
                assert dp is not None
                most = int(dp.all_reduce(torch.tensor([len(micro_starts)]), "max"))
                micro_starts += [None] * (most - len(micro_starts))
            optimizer.zero_grad(set_to_none=True)
            for micro_start in micro_starts:
                if micro_start is None:
                    # FSDP: forward and backward are collectives, so a rank out of rows runs a
                    # zero-weight pass on any row of its own to keep in step with the others.
                    micro = batch.select(torch.zeros(1, dtype=torch.long))
                    new_logp = _policy_log_prob(policy, micro, cfg)
                    (new_logp.float().sum() * 0.0).backward()
                    continue
                idx = mb_idx[micro_start:micro_start + micro_size]
                micro = batch.select(idx)
                if cfg.entropy_coef:
                    new_logp, new_entropy = _policy_log_prob_entropy(policy, micro, cfg)
                else:
                    new_logp = _policy_log_prob(policy, micro, cfg)  # log pi_theta(a)
                if new_logp.shape != old_logp[idx].shape:
                    raise AlgorithmError(f"policy.log_prob(granularity={cfg.granularity!r}) returned "
                                         f"{tuple(new_logp.shape)}; expected {tuple(old_logp[idx].shape)}")
                elem_mask = _element_mask(mask[idx], None if valid is None else valid[idx], new_logp)
                pg_loss, pg = ppo_loss(new_logp, old_logp[idx], micro.advantages, elem_mask,
                                       clip_low=cfg.clip_low, clip_high=cfg.clip_high, dual_clip=cfg.dual_clip,
                                       log_ratio_clamp=cfg.log_ratio_clamp, aggregation=cfg.aggregation)
                loss = pg_loss
                if ref_logp is not None:
                    kl_ref, _ = aggregate(kl_divergence(new_logp, ref_logp[idx], cfg.kl_estimator), elem_mask,
                                          cfg.aggregation)
                    loss = loss + cfg.kl_coef * kl_ref
                    stats.add("losses/kl_ref", float(kl_ref.detach()), float(pg["weight"]))
                    with torch.no_grad():  # k1 as a diagnostic only (see LoopConfig._kl_estimator_is_a_loss)
                        kl_k1, _ = aggregate(kl_divergence(new_logp, ref_logp[idx], "k1"), elem_mask, cfg.aggregation)
                    stats.add("losses/kl_ref_k1", float(kl_k1), float(pg["weight"]))
                if cfg.entropy_coef:
                    entropy, _ = aggregate(new_entropy, elem_mask, cfg.aggregation)
                    loss = loss - cfg.entropy_coef * entropy
                    stats.add("losses/entropy", float(entropy.detach()), float(pg["weight"]))
                weight = float(pg["weight"])
                if weight > 0 or lockstep:
                    (loss * (weight / mb_weight)).backward()

                # Diagnostics, weighted by valid elements (ratios) or by the loss denominator (losses).
                n_valid = float(pg["num_valid"])
                stats.add("losses/pg_loss", float(pg["pg_loss"]), weight)
                stats.add("losses/total", float(loss.detach()), weight)
                for key in ("approx_kl", "approx_kl_k1"):
                    stats.add(f"losses/{key}", float(pg[key]), n_valid)
                for key in ("clipfrac", "clipfrac_low", "clipfrac_high", "dual_clipfrac", "ratio_mean"):
                    stats.add(f"charts/{key}", float(pg[key]), n_valid)
                stats.add("charts/entropy", float(entropy_mc(new_logp, elem_mask)), n_valid)  # per element, MC
                epoch_kl.add("approx_kl", float(pg["approx_kl"]), n_valid)
                if n_valid > 0:
                    stats.low = min(stats.low, float(pg["ratio_min"]))
                    stats.high = max(stats.high, float(pg["ratio_max"]))

            if dp is not None:
                dp.reduce_gradients(params)  # sum over ranks: each scaled its part by the global denominator
            max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else math.inf
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP: a DTensor
            if not math.isfinite(grad_norm):
                skipped_steps += 1  # a NaN/inf gradient would poison Adam's moments: skip the step
                optimizer.zero_grad(set_to_none=True)
                continue
            optimizer.step()
            optimizer_steps += 1
            stats.add("charts/grad_norm", grad_norm)
            grad_norm_max = max(grad_norm_max, grad_norm)
        epochs_run = epoch + 1
        if cfg.target_kl is not None:
            kl_total, kl_weight = epoch_kl.total["approx_kl"], epoch_kl.weight["approx_kl"]
            if dp is not None:  # every rank must stop after the same epoch
                kl_total, kl_weight = dp.all_reduce(torch.tensor([kl_total, kl_weight], dtype=torch.float64)).tolist()
            if kl_weight and kl_total / kl_weight > cfg.target_kl:
                break  # the policy has moved far enough from pi_psi for this batch

    if dp is not None:
        # grad_norm is already global (computed after the reduction); counted once, on rank 0's terms.
        local_stats = ({k: v for k, v in stats.total.items() if not k.startswith("charts/grad_norm")},
                       {k: v for k, v in stats.weight.items() if not k.startswith("charts/grad_norm")},
                       stats.low, stats.high)
        norms = (stats.total["charts/grad_norm"], stats.weight["charts/grad_norm"])
        stats.merge(dp.all_gather_object(local_stats))
        if norms[1]:
            stats.total["charts/grad_norm"], stats.weight["charts/grad_norm"] = norms
    adv_valid = adv_global[mask_global.to(adv_global.device)]
    metrics = {key: stats.get(key) for key in stats.total}
    metrics.update({
        "charts/ratio_min": stats.low if math.isfinite(stats.low) else 1.0,
        "charts/ratio_max": stats.high if math.isfinite(stats.high) else 1.0,
        "charts/advantage_mean": float(adv_valid.mean()) if adv_valid.numel() else 0.0,
        "charts/advantage_std": float(adv_valid.std(unbiased=False)) if adv_valid.numel() else 0.0,
        "charts/grad_norm_max": grad_norm_max,
        "charts/optimizer_steps": float(optimizer_steps),
        "charts/skipped_steps": float(skipped_steps),
        "charts/ppo_epochs_run": float(epochs_run),
        "charts/policy_steps": float(mask_global.sum()),
    })
    for group in optimizer.param_groups:
        metrics[f"charts/lr_{group.get('name', 'group')}"] = float(group["lr"])
    return metrics

