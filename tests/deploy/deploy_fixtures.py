"""A small policy for the deploy tests (ONNX export of a full-size model takes longer than these tests need)."""

import torch

from robot_rl.policies import make_policy
from robot_rl.spec import EmbodimentSpec, load_spec

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
         "max_instruction_length": 16}


def deploy_spec() -> EmbodimentSpec:
    d = load_spec("tabletop").to_dict()
    d["cameras"] = [{"name": "agentview", "height": 32, "width": 32}, {"name": "wrist", "height": 32, "width": 32}]
    d["chunk_length"] = 4
    return EmbodimentSpec.from_dict(d)


def deploy_policy(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    return make_policy("tiny", deploy_spec(), {**SMALL, "head": {"kind": kind, "bins": 64}}).eval()
