"""The LOOP update's hyper-parameters and what it needs from a policy (docs/loop.md maps each to the paper)."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from pydantic import Field, model_validator

from robot_rl.algorithms.advantages import AdvantageMethod
from robot_rl.algorithms.kl import KL_LOSS_ESTIMATORS, KLEstimator
from robot_rl.algorithms.ppo import Aggregation, Granularity
from robot_rl.config import StrictConfig
from robot_rl.errors import ConfigError


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
