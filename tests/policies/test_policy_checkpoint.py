"""Checkpoints rebuild the policy exactly."""

import json

import pytest
import torch
from policy_fixtures import random_obs, small_policy, small_spec, synthetic_demos

from robot_rl.algorithms.sft import fit_stats
from robot_rl.errors import ConfigError
from robot_rl.policies import load_policy, save_policy


@pytest.mark.parametrize("kind", ["token", "gaussian", "laplace"])
def test_save_load_round_trip_gives_identical_outputs(kind, tmp_path):
    spec = small_spec()
    policy = small_policy(kind, seed=3).eval()
    policy.set_stats(fit_stats(synthetic_demos(spec, n=32), spec))
    policy.version = 5
    save_policy(policy, tmp_path / "ckpt")
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {"config.json", "model.safetensors", "spec.yaml",
                                                               "normalization.json", "tokenizer.json"}
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.version == 5 and loaded.head_kind == kind and loaded.config == policy.config
    assert not loaded.spec.diff(policy.spec)
    for name in ("proprio_mean", "proprio_std", "action_low", "action_high"):
        assert (getattr(loaded.stats, name) == getattr(policy.stats, name)).all()
    obs = random_obs(spec)
    a, b = policy.head_outputs(obs), loaded.head_outputs(obs)
    for key in a:
        assert torch.equal(a[key], b[key])
    s = policy.sample(obs, 0.9, torch.Generator().manual_seed(0))
    s2 = loaded.sample(obs, 0.9, torch.Generator().manual_seed(0))
    assert torch.equal(s.action, s2.action) and torch.equal(s.log_prob, s2.log_prob)
    assert torch.equal(loaded.log_prob(obs, s, 0.9), s.log_prob)


def test_overwriting_a_checkpoint_replaces_it_and_other_dirs_are_refused(tmp_path):
    policy = small_policy("token")
    save_policy(policy, tmp_path / "ckpt")
    policy.version = 2
    save_policy(policy, tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["version"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a policy checkpoint"):
        save_policy(policy, tmp_path / "data")
    assert (tmp_path / "data" / "precious.txt").read_text() == "x"


def test_loading_something_else_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        load_policy(tmp_path)
    policy = small_policy("token")
    save_policy(policy, tmp_path / "ckpt")
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    cfg["config"]["d_model"] = 64
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="does not fit"):
        load_policy(tmp_path / "ckpt")
