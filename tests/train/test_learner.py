"""The learner every driver uses (robot_rl.train.learner): its update is loop_update on groups_to_batch, its
optimiser state carries over through save/load, and it refuses an unsound config at construction."""

import copy

import pytest
import torch
from test_from_buffer import recorded  # noqa: F401  (fixture: a buffer of operator-labelled K=4 groups)
from test_trainer import TINY

from robot_rl.algorithms.loop import LoopConfig, loop_update, make_optimizer
from robot_rl.buffer import RolloutBuffer
from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import load_policy, make_policy
from robot_rl.train.batch import groups_to_batch
from robot_rl.train.from_buffer import signal_groups
from robot_rl.train.learner import Learner

CFG = LoopConfig(group_size=4, ppo_epochs=2, minibatch_size=4, lr_head=1e-2, lr_backbone=1e-3)


def _params(policy):
    return [p.detach().clone() for p in policy.parameters()]


def test_update_is_loop_update_on_the_groups_and_optimizer_state_carries_over(recorded, tmp_path):  # noqa: F811
    buf = RolloutBuffer.open(recorded / "hw.zarr")
    groups, _ = signal_groups(buf, 4, 0)
    learner = Learner.load(recorded / "v0", CFG, optimizer_state=tmp_path / "none.pt")  # absent: fresh AdamW
    by_hand = load_policy(recorded / "v0")
    opt = make_optimizer(by_hand, CFG)
    torch.manual_seed(1)
    got = learner.update(buf, groups)
    torch.manual_seed(1)
    by_hand.eval()
    want = loop_update(by_hand, opt, groups_to_batch(buf, groups, CFG), CFG)
    assert got == want
    assert all(torch.equal(a, b) for a, b in zip(_params(learner.policy), _params(by_hand)))
    assert not learner.policy.training  # scored in eval mode: first-epoch ratios exactly 1

    # Saved and loaded, the second update starts from the same Adam moments as one that kept them.
    learner.save(tmp_path / "v1")
    learner.save_optimizer(tmp_path / "optim" / "v1.pt")
    resumed = Learner.load(tmp_path / "v1", CFG, optimizer_state=tmp_path / "optim" / "v1.pt")
    kept = copy.deepcopy(learner)
    torch.manual_seed(2)
    resumed.update(buf, groups)
    torch.manual_seed(2)
    kept.update(buf, groups)
    assert all(torch.equal(a, b) for a, b in zip(_params(resumed.policy), _params(kept.policy)))
    fresh = Learner.load(tmp_path / "v1", CFG)
    torch.manual_seed(2)
    fresh.update(buf, groups)
    assert not all(torch.equal(a, b) for a, b in zip(_params(fresh.policy), _params(kept.policy)))


def test_unsound_config_refused_when_the_learner_is_built():
    policy = make_policy("tiny", make_suite("point_reach").spec, {**TINY, "head": {"kind": "gaussian"}})
    with pytest.raises(ConfigError, match="loop.entropy_coef: got -0.05 with a gaussian head"):
        Learner(policy, LoopConfig(group_size=4, entropy_coef=-0.05))
