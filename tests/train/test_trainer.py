"""LOOP trainer end to end on the numpy point_reach suite with real worker processes and a real buffer."""

import json

import numpy as np
import pytest
import torch

from robot_rl.buffer import RolloutBuffer, verify
from robot_rl.env import make_suite
from robot_rl.errors import ConfigError
from robot_rl.policies import load_policy, make_policy, save_policy
from robot_rl.train.config import TrainConfig
from robot_rl.train.trainer import LoopTrainer

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}


@pytest.fixture(scope="module")
def start_policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "ckpt"
    torch.manual_seed(0)
    save_policy(make_policy("tiny", make_suite("point_reach").spec, TINY), path)
    return path


def _config(policy, updates, **extra):
    data = {
        "seed": 3, "updates": updates, "checkpoint_every": 1, "policy": str(policy),
        # An untrained policy reaches the target from some contexts; about 2 in 9 contexts give a mixed
        # group of K=4, so dynamic rejection with 40 attempts finds one with near certainty.
        "suite": {"name": "point_reach", "options": {"success_radius": 0.3}},
        "loop": {"group_size": 4, "ppo_epochs": 2, "minibatch_size": 32, "lr_backbone": 1e-4, "lr_head": 1e-3},
        "schedule": {"groups_per_batch": 1, "dynamic_rejection": True, "max_attempts": 40, "cache_enabled": False},
        "rollout": {"num_workers": 2, "step_timeout_s": 30},
        "eval": {"contexts_per_task": 3},
    }
    data.update(extra)
    return TrainConfig.model_validate(data)


def test_train_resume_and_buffer(start_policy, tmp_path):
    run = tmp_path / "run"
    summary = LoopTrainer(_config(start_policy, 2), run).run()
    assert set(summary) == {"success_before", "success_after"}
    assert summary["success_after"]["episodes"] == 6 and set(summary["success_after"]["per_task"]) == {"reach_blue", "reach_red"}

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    assert [r["kind"] for r in records].count("eval") == 2
    # Each update found a group with mixed rewards (dynamic rejection) and learned from it.
    assert all(r["rollout/groups"] == 1 for r in train)
    assert all(np.isfinite(r["losses/pg_loss"]) and r["charts/grad_norm"] > 0 for r in train)
    rolled_out = 4 * sum(r["rollout/attempts"] for r in train)

    # Every training rollout (accepted or rejected) is in the buffer, in complete groups, labelled by the sim.
    assert verify(run / "rollouts.zarr") == []
    buf = RolloutBuffer.open(run / "rollouts.zarr")
    table = buf.episodes
    assert len(table) == rolled_out and set(table["label_source"]) == {"sim"}
    # The label time is when the simulator determined the outcome: after the last decision, same clock.
    assert np.all(table["t_label"] >= table["t_end"]) and np.all(table["t_label"] - table["t_end"] < 60)
    assert sorted(set(table["policy_version"])) == [0, 1]
    assert np.all(table["temperature"] == 1.0)  # loop.temperature, what the collector sampled at
    assert len(buf.complete_groups(4)) == rolled_out // 4

    # The policy moved, and its version counts updates.
    before, after = load_policy(start_policy), load_policy(run / "policy")
    assert after.version == 2
    assert any(not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters()))

    # Resume continues from update 2 to 3 with the same buffer.
    resumed = LoopTrainer(_config(start_policy, 3), run, resume=True)
    assert resumed.update_step == 2 and resumed.policy.version == 2
    resumed.run()
    assert resumed.update_step == 3
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-2])  # the third update (then eval)
    assert last["kind"] == "train" and last["step"] == 3
    assert len(RolloutBuffer.open(run / "rollouts.zarr").episodes) == rolled_out + 4 * last["rollout/attempts"]
    assert load_policy(run / "policy").version == 3


def test_refuses_to_overwrite_a_run(start_policy, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        LoopTrainer(_config(start_policy, 1), tmp_path / "run")


def test_bad_config_names_the_field(start_policy):
    with pytest.raises(Exception, match="clip_hihg"):
        TrainConfig.model_validate({"policy": "x", "loop": {"clip_hihg": 0.3}})


def test_resume_keeps_the_kl_reference_at_the_starting_policy(start_policy, tmp_path):
    """--resume loads the latest checkpoint as the policy; the KL anchor stays the configured start."""
    run = tmp_path / "run"
    loop = {"group_size": 4, "ppo_epochs": 2, "minibatch_size": 32, "lr_backbone": 1e-4, "lr_head": 1e-3,
            "kl_coef": 0.1, "kl_estimator": "k3"}
    first = LoopTrainer(_config(start_policy, 1, loop=loop), run)
    first.run()
    start = load_policy(start_policy)
    trained = load_policy(run / "checkpoints" / "latest" / "policy")
    assert any(not torch.equal(a, b) for a, b in zip(start.parameters(), trained.parameters()))

    resumed = LoopTrainer(_config(start_policy, 2, loop=loop), run, resume=True)
    assert resumed.policy.version == 1
    for ref, s, p in zip(resumed.learner.ref_policy.parameters(), start.parameters(), resumed.policy.parameters()):
        torch.testing.assert_close(ref, s, rtol=0, atol=0)  # the configured start, bit for bit
    assert any(not torch.equal(r, p) for r, p in zip(resumed.learner.ref_policy.parameters(), resumed.policy.parameters()))
    assert not any(p.requires_grad and p.grad is not None for p in resumed.learner.ref_policy.parameters())
    resumed.buffer.close()


@pytest.mark.parametrize("kind", ["token", "gaussian", "laplace"])
def test_first_epoch_ratios_are_one_for_every_head_and_temperature(kind, tmp_path):
    """The trainer's own path (collect -> buffer -> groups_to_batch -> loop_update): the first PPO epoch
    scores the stored log-probs again under the unchanged policy, so every ratio pi_theta / pi_psi is 1.

    One epoch, one minibatch holding the whole batch: all ratios are taken before the only optimiser step.
    A sampling/scoring temperature mismatch, a dropped raw_action or a misaligned row would show here.
    """
    from robot_rl.rollout.config import make_pool
    from robot_rl.rollout.worker import SuiteEnvFactory

    torch.manual_seed(0)
    head = {"kind": kind, "bins": 32} if kind == "token" else {"kind": kind}
    save_policy(make_policy("tiny", make_suite("point_reach").spec, {**TINY, "head": head}), tmp_path / "start")
    for temperature in (0.5, 1.0, 1.6):
        cfg = _config(tmp_path / "start", 1,
                      suite={"name": "point_reach", "options": {"success_radius": 0.3, "max_steps": 12}},
                      loop={"group_size": 4, "ppo_epochs": 1, "minibatch_size": 100_000, "temperature": temperature},
                      schedule={"groups_per_batch": 2, "dynamic_rejection": False, "cache_enabled": False})
        trainer = LoopTrainer(cfg, tmp_path / f"run_{temperature}")
        assert cfg.suite is not None
        with make_pool(SuiteEnvFactory(cfg.suite.name, cfg.suite.options, cfg.suite.env_options), cfg.rollout) as pool:
            m = trainer.train_step(pool)
        trainer.buffer.close()
        assert m["charts/optimizer_steps"] == 1 and m["charts/update_steps"] > 0
        assert m["charts/ratio_min"] == pytest.approx(1.0, abs=1e-5), (kind, temperature)
        assert m["charts/ratio_max"] == pytest.approx(1.0, abs=1e-5), (kind, temperature)
        assert m["losses/approx_kl"] == pytest.approx(0.0, abs=1e-7) and m["charts/clipfrac"] == 0.0
