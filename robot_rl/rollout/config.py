"""Rollout configuration and the pool factory that picks the backend."""

from __future__ import annotations

from typing import Callable, Literal

from pydantic import Field

from robot_rl.config import StrictConfig
from robot_rl.env import Env
from robot_rl.rollout.pool import EnvPool
from robot_rl.rollout.ray_pool import RayEnvPool


class RolloutConfig(StrictConfig):
    """How rollouts run: where the env workers live and how failures are handled."""

    backend: Literal["local", "ray"] = "local"
    num_workers: int = Field(default=2, ge=1, le=1024)
    step_timeout_s: float = Field(default=120.0, gt=0.0, description="a reset or chunk not answered in this time is a hung worker")
    max_retries: int = Field(default=3, ge=0, description="re-queues of one rollout after worker failures")
    ray_address: str | None = Field(default=None, description="'auto' joins a running Ray cluster; None starts a local one")
    ray_cpus_per_worker: float = Field(default=1.0, gt=0.0)


def make_pool(env_factory: Callable[[], Env], cfg: RolloutConfig) -> EnvPool | RayEnvPool:
    """Start the env workers for ``cfg.backend``."""
    if cfg.backend == "ray":
        return RayEnvPool(env_factory, cfg.num_workers, cfg.step_timeout_s, cfg.ray_address, cfg.ray_cpus_per_worker)
    return EnvPool(env_factory, cfg.num_workers, cfg.step_timeout_s)
