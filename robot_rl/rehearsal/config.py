"""The config of `robot-rl rehearse` (configs/rehearsal.yaml); docs/rehearsal.md explains every part.

One file says which simulation-trained policy is rehearsed, which lab it meets (the stand-in's
reality profile), the hardware LOOP run (K, groups per update, updates, how often held-out success
is measured through the graph), the scripted operator, the graph's timing (sim-time speed, the
driver-like camera) and the in-process baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from robot_rl.algorithms.loop import LoopConfig
from robot_rl.config import StrictConfig, load_yaml, validate_config
from robot_rl.errors import ConfigError


class RealityConfig(StrictConfig):
    """How the lab differs from the training simulator (the stand-in's reality parameters)."""

    profile: str = Field("lab", min_length=1, description="reality profile of the suite (tabletop: none | lab | hard)")
    seed: int = Field(0, ge=0, description="which lab: the direction of every shift")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="only / without (shift names), overrides ({shift: {field: value}})")


class HwConfig(StrictConfig):
    """The hardware LOOP run (hw-train's config is written from this)."""

    contexts_per_task: int = Field(8, ge=1, description="train-split contexts per task hw-train draws from")
    group_size: int = Field(8, ge=2, le=1024, description="K: rollouts per context")
    groups_needed: int = Field(4, ge=1, description="B/K: groups with mixed rewards per update")
    max_attempts: int | None = Field(None, ge=1, description="groups drawn per cycle at most; null = 4 x groups_needed")
    updates: int = Field(10, ge=1, description="LOOP updates on the robot (and in the baseline)")
    eval_every: int = Field(5, ge=1, description="measure held-out success through the graph every N updates "
                                                 "(and after the last)")
    max_empty_cycles: int = Field(5, ge=1, description="end the rehearsal when this many hw-train cycles in a row "
                                                       "end without an update (every group all successes or all "
                                                       "failures: LOOP has nothing to learn from)")
    seed: int = Field(0, description="seeds hw-train's context draws and updates, and the baseline")
    loop: LoopConfig = Field(default_factory=LoopConfig, description="the LOOP update (loop.group_size follows "
                                                                      "group_size)")

    @model_validator(mode="before")
    @classmethod
    def _k_in_loop(cls, data: Any) -> Any:
        if isinstance(data, dict):
            k = data.get("group_size", cls.model_fields["group_size"].default)
            loop = dict(data.get("loop") or {})
            if "group_size" in loop and loop["group_size"] != k:
                raise ValueError(f"loop.group_size ({loop['group_size']}) differs from group_size ({k}); set K once")
            data = {**data, "loop": {**loop, "group_size": k}}
        return data


class EvalConfig(StrictConfig):
    """Held-out success measurements."""

    contexts_per_task: int = Field(10, ge=1, description="eval-split (held-out) contexts per task, one episode each")
    sim_workers: int = Field(2, ge=1, le=64, description="env workers of the in-process (simulator) evaluations")


class GraphConfig(StrictConfig):
    """How the ROS graph runs: sim time, the driver-like camera, the waits."""

    clock_speed: float = Field(1.0, ge=0.0, le=1000.0,
                               description="sim seconds per wall second the stand-in aims for; 0 = as fast as it steps")
    camera_width: int = Field(640, ge=0, le=4096, description="stand-in frame width like a real driver; 0 = spec size")
    camera_height: int = Field(480, ge=0, le=4096, description="frame height; 0 = spec size")
    camera_rate_hz: float = Field(30.0, gt=0.0, le=240.0, description="stand-in image rate [Hz, sim time]")
    domain_id: int | None = Field(None, ge=0, le=232,
                                  description="ROS_DOMAIN_ID of the graph; null = the environment's")
    startup_timeout_s: float = Field(120.0, gt=0, description="wall seconds for a graph to come up and act")
    stall_timeout_s: float = Field(300.0, gt=0, description="wall seconds without a new episode before giving up")
    undo_window_s: float = Field(0.0, ge=0.0, le=60.0, description="the panel's undo window [s]; 0 = a label "
                                 "ends the episode at once (the operator's next Start would publish it anyway)")
    large_data: bool = Field(True, description="Fast DDS LARGE_DATA transport (big frames between processes)")


class BaselineConfig(StrictConfig):
    """The same number of LOOP updates in-process (`robot-rl train`, no ROS) on the same shifted world."""

    enabled: bool = Field(True, description="run it (the comparison the rehearsal exists for)")
    train_config: str = Field("runs/quickstart/train_config.yaml",
                              description="`robot-rl train` config of the simulator (the quickstart writes it)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted TrainConfig keys set on top, e.g. "
                                                                        "rollout.num_workers: 1")


class OperatorSettings(StrictConfig):
    """The scripted operator (robot_rl.ros_config.rehearsal_operator.OperatorConfig, without the address)."""

    operator_id: str = Field("rehearsal", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")
    reaction_delay_s: float = Field(1.0, ge=0.0, le=60.0)
    reaction_jitter_s: float = Field(0.3, ge=0.0, le=30.0)
    mislabel_rate: float = Field(0.0, ge=0.0, le=1.0)
    reset_s: float = Field(10.0, ge=0.0, le=600.0, description="scene reset between episodes [s], operator time")
    seed: int = Field(0, ge=0)


class RehearsalConfig(StrictConfig):
    """One rehearsal; paths are relative to the directory `robot-rl rehearse` runs in."""

    checkpoint: str = Field("runs/quickstart/loop/policy", min_length=1,
                            description="the simulation-trained policy; made by the quickstart first when missing")
    quickstart_config: str = Field("configs/quickstart.yaml", description="what trains a missing checkpoint "
                                   "(`robot-rl quickstart --out` the checkpoint's run); empty = refuse instead")
    quickstart_out: str = Field("runs/quickstart", description="the quickstart's output directory")
    suite: str = Field("tabletop", min_length=1, description="the training simulator's suite")
    suite_options: dict[str, Any] = Field(default_factory=dict, description="its options (the training world)")
    spec: str = Field("tabletop", min_length=1, description="embodiment spec of the nodes (the policy's and the "
                                                            "suite's, e.g. tabletop_64)")
    tasks: list[str] | None = Field(None, description="tasks to rehearse; null = every task of the suite")
    reality: RealityConfig = Field(default_factory=RealityConfig)
    hw: HwConfig = Field(default_factory=HwConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)

    @model_validator(mode="after")
    def _reality_known(self) -> RehearsalConfig:
        from robot_rl.env import suite_kwargs

        # An unknown profile or shift fails here, naming the allowed ones, not minutes later in the stand-in.
        r = self.reality
        try:
            suite_kwargs(self.suite, self.suite_options, r.profile, r.seed, r.options)
        except ConfigError as err:
            raise ValueError(f"reality: {err}") from None
        return self

    @property
    def eval_points(self) -> list[int]:
        """Update counts after which held-out success is measured through the graph."""
        n, every = self.hw.updates, self.hw.eval_every
        return sorted({*range(every, n + 1, every), n})

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> RehearsalConfig:
        """Load YAML ``path``; ``overrides`` (dotted keys, e.g. ``{"hw.updates": 2}``) apply before validation."""
        data = load_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise ConfigError(f"--set {dotted}: {key} is not a mapping in {path}")
            node[leaf] = value
        return validate_config(cls, data, str(path))
