"""The transformers-backed ``hf`` VLA (SigLIP-style vision + Llama/Qwen-style LM, action tokens in the vocabulary)."""

from robot_rl.policies.hf.configuration_hf import HFVLAConfig
from robot_rl.policies.hf.modeling_hf import HFVLA

__all__ = ["HFVLA", "HFVLAConfig"]
