"""Policy checkpoints: one directory that rebuilds the policy exactly.

Layout::

    CKPT/
      config.json         {"format": "robot_rl.policy", "format_version": 1, "policy_type", "head",
                           "version", "config": {...architecture and head...}}
      model.safetensors   every parameter and buffer (normalisation stats included)
      spec.yaml           the embodiment spec the policy was trained on
      normalization.json  proprio mean/std and action bounds (readable copy; the ONNX runner uses it)
      tokenizer.json      how instructions are tokenized

A checkpoint is written to a temporary sibling directory and renamed into place, so a crash never
leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.registry import make_policy
from robot_rl.spec import EmbodimentSpec

FORMAT = "robot_rl.policy"
FORMAT_VERSION = 1


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """config.json of a checkpoint, checked to be ours and of a known format version."""
    path = Path(path)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{path}: not a policy checkpoint (no config.json); make one with `robot-rl sft`")
    data = json.loads(cfg_path.read_text())
    if data.get("format") != FORMAT:
        raise ConfigError(f"{cfg_path}: format {data.get('format')!r} is not '{FORMAT}'")
    if data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{cfg_path}: format_version {data.get('format_version')!r}; this robot_rl reads {FORMAT_VERSION}")
    return data


def save_policy(policy: Policy, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``policy`` to the checkpoint directory ``path`` (replacing an older checkpoint there)."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not (path / "config.json").is_file():
        raise ConfigError(f"{path}: exists and is not a policy checkpoint; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        config = {"format": FORMAT, "format_version": FORMAT_VERSION, "policy_type": policy.policy_type,
                  "head": policy.head_kind, "version": policy.version,
                  "config": policy.config.model_dump(mode="json"), "extra": extra or {}}
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        policy.spec.to_yaml(tmp / "spec.yaml")
        policy.stats.save(tmp / "normalization.json")
        (tmp / "tokenizer.json").write_text(json.dumps(policy.tokenizer_info(), indent=1))
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def load_policy(path: str | Path, device: str | torch.device = "cpu") -> Policy:
    """Rebuild the policy saved at ``path`` with identical weights, stats, spec and version."""
    path = Path(path)
    data = read_checkpoint_config(path)
    spec = EmbodimentSpec.from_yaml(path / "spec.yaml")
    stats = NormStats.load(path / "normalization.json")
    policy = make_policy(data["policy_type"], spec, data["config"], stats=stats, version=int(data.get("version", 0)))
    tok = path / "tokenizer.json"
    if tok.is_file():
        policy.load_tokenizer(json.loads(tok.read_text()))
    state = load_file(str(path / "model.safetensors"))
    try:
        missing, unexpected = policy.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ConfigError(f"{path}/model.safetensors does not fit the {data['policy_type']} policy in config.json: "
                          f"{str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ConfigError(f"{path}/model.safetensors does not fit the {data['policy_type']} policy in config.json: "
                          f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    return policy.to(device).eval()
