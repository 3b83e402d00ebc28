"""The built-in ``tiny`` VLA (CPU-trainable)."""

from robot_rl.policies.tiny.configuration_tiny import TinyVLAConfig
from robot_rl.policies.tiny.modeling_tiny import TinyVLA, TinyVLANet

__all__ = ["TinyVLA", "TinyVLAConfig", "TinyVLANet"]
