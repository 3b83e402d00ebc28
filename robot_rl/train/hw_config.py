"""The config of `robot-rl hw-train` (configs/hw_train.yaml): LOOP fine-tuning from operator-labelled robot episodes.

Nothing here needs a simulator: the contexts are listed in the config (``task/init_id``, with one
instruction per task), rewards come from the rollout buffer the policy node writes, and the
update is the same :func:`~robot_rl.algorithms.loop.loop_update` the simulation trainer runs.
docs/hw_train.md describes the loop; every field below is documented there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.env import Context


class DeployConfig(StrictConfig):
    """How a new policy reaches the policy node (ROS side of hw-train)."""

    policy_node: str = Field("policy_node", min_length=1, pattern=r"^/?[A-Za-z0-9_/]+$",
                             description="name of the policy node whose `checkpoint` parameter is set")
    set_temperature: bool = Field(True, description="also set the node's `temperature` to loop.temperature, so "
                                                    "the sampling and the PPO ratios use the same one")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="give up waiting for a service / the new version "
                                                              "after this long, then retry")
    poll_s: float = Field(1.0, gt=0, le=60, description="re-read the buffer at least this often [s]")
    event_delay_s: float = Field(0.3, ge=0, le=10, description="re-read the buffer this long after an episode "
                                                               "event (the policy node commits on the same event)")


class HwTrainConfig(StrictConfig):
    """One hardware LOOP run: where things live, what to collect, how to update, how to deploy."""

    run_dir: str = Field(min_length=1, description="run directory: state file, policies/vN, optimizer "
                                                   "states, metrics.jsonl; resumed when it holds a state file")
    buffer: str = Field(min_length=1, description="rollout buffer the policy node records into "
                                                  "(policy_node buffer_path); read-only here")
    policy: str = Field(min_length=1, description="initial policy checkpoint directory (its version is the "
                                                  "first cycle's policy version); ignored when resuming")
    spec: str | None = Field(None, description="embodiment spec (built-in name or YAML); checked against the "
                                               "policy and the buffer; null = the policy's")
    contexts: list[str] = Field(min_length=1, description="contexts 'task/init_id' to draw from (e.g. the "
                                                          "initial scenes the operator can set up)")
    instructions: dict[str, str] = Field(description="task -> language instruction sent with every start event")
    sampling: Literal["shuffle", "sequential"] = Field(
        "shuffle", description="shuffle: a seeded permutation of the contexts per pass; sequential: in order")
    seed: int = Field(0, description="seeds the context draws and the updates")
    group_size: int = Field(8, ge=2, le=1024, description="K: rollouts per context (loop.group_size follows it)")
    groups_needed: int = Field(4, ge=1, description="B/K: complete groups with mixed rewards for one update")
    max_attempts: int | None = Field(None, ge=1, description="groups drawn per cycle at most (dynamic rejection "
                                                             "cap); null = 4 x groups_needed")
    cycles: int = Field(0, ge=0, description="stop after this many updates; 0 = until stopped")
    export: Literal["torch", "onnx"] = Field("torch", description="what the policy node loads: the checkpoint "
                                                                  "directory (torch) or an exported .onnx")
    group_prefix: str = Field("hw", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$",
                              description="group ids are PREFIX-c<cycle>-v<version>-d<draw>")
    loop: LoopConfig = Field(default_factory=LoopConfig, description="the LOOP update (robot_rl.algorithms.loop)")
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads for the update; null = default")

    @model_validator(mode="before")
    @classmethod
    def _k_in_loop(cls, data: Any) -> Any:
        # K is said once (group_size); loop.group_size follows it, and a contradicting value is an error.
        if isinstance(data, dict):
            k = data.get("group_size", cls.model_fields["group_size"].default)
            loop = data.get("loop")
            loop = dict(loop) if isinstance(loop, dict) else ({} if loop is None else loop)
            if isinstance(loop, dict):
                if "group_size" in loop and loop["group_size"] != k:
                    raise ValueError(f"loop.group_size ({loop['group_size']}) differs from group_size ({k}); "
                                     "set K once, as group_size")
                loop["group_size"] = k
                data = {**data, "loop": loop}
        return data

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, v: list[str]) -> list[str]:
        for c in v:
            Context.parse(c)  # ValueError names the expected 'task/init_id' form
        dup = sorted({c for c in v if v.count(c) > 1})
        if dup:
            raise ValueError(f"contexts must be unique; repeated: {', '.join(dup)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> HwTrainConfig:
        missing = sorted({Context.parse(c).task for c in self.contexts} - set(self.instructions))
        if missing:
            raise ValueError(f"instructions: no instruction for task(s) {', '.join(missing)}; "
                             "give one per task of `contexts`")
        if self.max_attempts is not None and self.max_attempts < self.groups_needed:
            raise ValueError(f"max_attempts ({self.max_attempts}) is below groups_needed ({self.groups_needed})")
        return self

    @property
    def attempt_cap(self) -> int:
        """Groups drawn per cycle at most."""
        return self.max_attempts if self.max_attempts is not None else 4 * self.groups_needed

    @property
    def context_list(self) -> list[Context]:
        return [Context.parse(c) for c in self.contexts]

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir)

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> HwTrainConfig:
        """Load a YAML config; ``overrides`` (dotted keys, e.g. ``{"loop.ppo_epochs": 1}``) apply before validation."""
        data = load_yaml(path) or {}
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return validate_config(cls, data, str(path))
