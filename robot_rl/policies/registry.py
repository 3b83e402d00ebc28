"""Policy types by name (``tiny``, ``hf``), imported lazily so the heavy ones cost nothing unless used."""

from __future__ import annotations

import importlib
from typing import Any

from robot_rl.config import validate_config
from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.normalization import NormStats
from robot_rl.spec import EmbodimentSpec

POLICY_TYPES: dict[str, tuple[str, str, str]] = {
    "tiny": ("robot_rl.policies.tiny", "TinyVLA", "TinyVLAConfig"),
    "hf": ("robot_rl.policies.hf", "HFVLA", "HFVLAConfig"),
}


def policy_classes(policy_type: str) -> tuple[type[Policy], type]:
    """(policy class, config class) for ``policy_type``."""
    if policy_type not in POLICY_TYPES:
        raise ConfigError(f"policy type: got {policy_type!r}; allowed: {', '.join(POLICY_TYPES)}")
    module_name, cls_name, cfg_name = POLICY_TYPES[policy_type]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise ConfigError(f"policy type '{policy_type}' is not implemented yet in this version of robot_rl; "
                              f"use: tiny") from None
        raise ConfigError(f"policy type '{policy_type}' needs a package that is not installed: {err}") from None
    return getattr(module, cls_name), getattr(module, cfg_name)


def make_policy(policy_type: str, spec: EmbodimentSpec, config: dict[str, Any] | None = None,
                stats: NormStats | None = None, version: int = 0) -> Policy:
    """Build a freshly initialised policy of ``policy_type``; ``config`` is validated into its config class."""
    cls, cfg_cls = policy_classes(policy_type)
    cfg = validate_config(cfg_cls, config or {}, f"{policy_type} policy config")
    return cls(spec, cfg, stats=stats, version=version)
