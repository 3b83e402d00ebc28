"""VLA policies: the common interface, action heads, the built-in ``tiny`` VLA and checkpoints.

>>> policy = make_policy("tiny", load_spec("tabletop"), {"head": {"kind": "gaussian"}})
>>> s = policy.sample(obs_batch, temperature=1.0)          # s.action (B, H, A) in spec units
>>> lp = policy.log_prob(obs_batch, s, granularity="chunk")  # (B,), differentiable
>>> save_policy(policy, "ckpt"); policy = load_policy("ckpt")
"""

from robot_rl.policies.base import Policy
from robot_rl.policies.batch import ObsBatch, as_obs_batch, check_obs_batch, collate_observations
from robot_rl.policies.checkpoint import load_policy, read_checkpoint_config, save_policy
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.registry import POLICY_TYPES, make_policy
from robot_rl.policies.sample import GRANULARITIES, PolicySample, reduce_log_prob

__all__ = ["GRANULARITIES", "POLICY_TYPES", "NormStats", "ObsBatch", "Policy", "PolicySample", "as_obs_batch",
           "check_obs_batch", "collate_observations", "load_policy", "make_policy", "read_checkpoint_config",
           "reduce_log_prob", "save_policy"]
