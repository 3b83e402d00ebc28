"""The training config: one YAML file (``configs/*.yaml``) validated into :class:`TrainConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import ConfigError
from robot_rl.rollout.config import RolloutConfig
from robot_rl.rollout.schedule import ScheduleConfig


class SuiteRef(StrictConfig):
    """Which suite to train on (a name registered under ``robot_rl.suites``) and its options."""

    name: str = Field(description="suite name, e.g. tabletop, libero_spatial, point_reach")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the suite factory")
    env_options: dict[str, Any] = Field(default_factory=dict, description="keyword options of suite.make_env")
    tasks: list[str] | None = Field(None, description="train on these tasks only; null = every task")


class EvalConfig(StrictConfig):
    """Evaluation on held-out initial states."""

    every: int = Field(0, ge=0, description="evaluate every N updates (0 = only before and after training)")
    split: Literal["train", "eval", "all"] = Field("eval", description="which contexts to evaluate on")
    contexts_per_task: int | None = Field(50, ge=1, description="first N contexts of each task; null = all")
    tasks: list[str] | None = Field(
        None, description="evaluate on these tasks; null = the training tasks (suite.tasks). Wider than the training "
                          "tasks when LOOP trains one task and the others must not collapse (a new task from one demo)")
    deterministic: bool = Field(False, description="act() instead of sampling (the trained policy is the sampler)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature for evaluation")
    randomize: bool = Field(
        False, description="false: evaluate on the nominal scene even when the suite options turn domain "
                           "randomization on for training; true: evaluate under the training randomization")


class DistributedConfig(StrictConfig):
    """Data-parallel training under ``torchrun`` (docs/distributed.md); ignored by a single process
    except for ``rollout_seeding``."""

    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp", description="ddp: every rank holds the whole policy and gradients are summed across ranks; "
                           "fsdp: parameters, gradients and optimiser state sharded with FSDP2 (for the hf policy)")
    backend: Literal["auto", "gloo", "nccl"] = Field(
        "auto", description="process-group backend; auto = nccl when CUDA is available, else gloo")
    rollout_seeding: Literal["auto", "per_call", "per_rollout"] = Field(
        "auto", description="per_rollout: each rollout samples from its own seed and groups are reported in "
                            "draw order, so results do not depend on how rollouts are spread over ranks and "
                            "workers; per_call: one generator per collection round (the single-process "
                            "behaviour); auto = per_rollout when distributed, else per_call")


class TrainConfig(StrictConfig):
    """Everything a LOOP run needs; every field is documented in docs/training.md."""

    seed: int = Field(0, description="seeds sampling, the schedule and torch")
    updates: int = Field(20, ge=0, description="LOOP update steps")
    checkpoint_every: int = Field(5, ge=1, description="write a resumable checkpoint every N updates")
    policy: str | None = Field(None, description="policy checkpoint to start from (made by `robot-rl sft`); or --policy")
    suite: SuiteRef | None = Field(None, description="simulated suite to collect on; null with --from-buffer")
    loop: LoopConfig = Field(default_factory=LoopConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads in the learner; null = torch default")
    device: str = Field(
        "auto", description="learner device of a single process: auto (cuda when torch sees one, else cpu), cpu, "
                            "cuda or cuda:N; torchrun ranks always use cuda:LOCAL_RANK with nccl, the cpu with gloo")
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Load a YAML config; ``overrides`` (dotted keys) are applied before validation."""
        data = load_yaml(path) or {}
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return validate_config(cls, data, str(path))

    def require_policy(self) -> str:
        """The start checkpoint, or a :class:`ConfigError` saying how to give one."""
        if not self.policy:
            raise ConfigError("policy: no checkpoint given; set `policy:` in the config or pass --policy CKPT")
        return self.policy
