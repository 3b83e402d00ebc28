"""Small specs, policies and synthetic data shared by the policy tests (sized to run in seconds on 2 cores)."""

import numpy as np

from robot_rl.algorithms.sft import DemoDataset
from robot_rl.policies import make_policy
from robot_rl.spec import EmbodimentSpec, load_spec

SMALL_CONFIG = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
                "max_instruction_length": 16}


def small_spec() -> EmbodimentSpec:
    """tabletop with 32 px cameras and 4-step chunks."""
    d = load_spec("tabletop").to_dict()
    d["cameras"] = [{"name": "agentview", "height": 32, "width": 32}, {"name": "wrist", "height": 32, "width": 32}]
    d["chunk_length"] = 4
    return EmbodimentSpec.from_dict(d)


def small_policy(kind: str = "token", seed: int = 0, head: dict | None = None, **overrides):
    import torch

    torch.manual_seed(seed)
    return make_policy("tiny", small_spec(), {**SMALL_CONFIG, **overrides, "head": {"kind": kind, "bins": 32, **(head or {})}})


def random_obs(spec: EmbodimentSpec, batch: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"images": {c.name: rng.integers(0, 256, (batch, c.height, c.width, 3), dtype=np.uint8) for c in spec.cameras},
            "proprio": rng.normal(size=(batch, spec.proprio_dim)).astype(np.float32),
            "instruction": [f"pick up cube {i}" for i in range(batch)]}


def synthetic_demos(spec: EmbodimentSpec, n: int = 256, seed: int = 0) -> DemoDataset:
    """Actions that depend on the instruction (dx sign), proprio (dy, gripper) and nothing else."""
    rng = np.random.default_rng(seed)
    proprio = rng.normal(size=(n, spec.proprio_dim)).astype(np.float32)
    right = rng.integers(0, 2, size=n)
    a = np.zeros((n, spec.action_dim), np.float32)
    a[:, 0] = np.where(right == 1, 0.04, -0.04)
    a[:, 1] = np.clip(0.02 * proprio[:, 0], -0.05, 0.05)
    a[:, 6] = np.where(proprio[:, 6] > 0, 1.0, -1.0)
    actions = np.repeat(a[:, None], spec.chunk_length, 1) + rng.normal(scale=0.002, size=(n, spec.chunk_length, spec.action_dim))
    images = {c.name: rng.integers(0, 256, (n, c.height, c.width, 3), dtype=np.uint8) for c in spec.cameras}
    return DemoDataset(images, proprio, np.clip(actions, spec.action_low, spec.action_high).astype(np.float32),
                       ["move right" if r else "move left" for r in right])
