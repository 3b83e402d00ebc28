"""GPU code paths (marker ``gpu``): CUDA where torch sees a device, the CPU everywhere else.

``scripts/gpu_check.sh`` runs this module on a CUDA machine with ``ROBOT_RL_REQUIRE_GPU=1``, so there a
missing or invisible GPU fails instead of quietly testing the CPU fallback again. On CPU machines the
same assertions hold and keep the paths from rotting.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))
from policy_fixtures import random_obs, small_policy, small_spec  # noqa: E402

from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_update, make_optimizer  # noqa: E402
from robot_rl.deploy import TorchRunner  # noqa: E402
from robot_rl.devices import resolve_device  # noqa: E402
from robot_rl.policies import make_policy  # noqa: E402

pytestmark = pytest.mark.gpu
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

HF_SMALL = {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                              "num_attention_heads": 2, "image_size": 32, "patch_size": 16},
            "language_config": {"model_type": "llama", "vocab_size": 600, "hidden_size": 32, "intermediate_size": 64,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                                "max_position_embeddings": 256},
            "max_instruction_length": 16}


def test_the_device_is_the_one_required():
    if os.environ.get("ROBOT_RL_REQUIRE_GPU") == "1":
        assert torch.cuda.is_available(), "ROBOT_RL_REQUIRE_GPU=1 but torch sees no CUDA device"
    assert resolve_device("auto").type == DEVICE.type


@pytest.mark.parametrize("kind", ["token", "gaussian", "laplace"])
def test_a_cpu_generator_samples_the_same_chunk_on_the_policy_device(kind):
    """The rollout samplers seed CPU generators; a policy on CUDA must accept them and draw the same chunk."""
    cpu = small_policy(kind).eval()
    dev = copy.deepcopy(cpu).to(DEVICE)
    obs = random_obs(small_spec(), batch=8)
    ref = cpu.sample(obs, 0.8, torch.Generator().manual_seed(0))
    got = dev.sample(obs, 0.8, torch.Generator().manual_seed(0))
    assert got.action.device.type == DEVICE.type
    if kind == "token":  # a float difference can move a draw across a bin edge, very rarely
        assert (got.tokens.cpu() == ref.tokens).float().mean() >= 0.99
    else:
        np.testing.assert_allclose(got.action.cpu().numpy(), ref.action.numpy(), atol=1e-4)
    # scored again on the device at the same temperature: the first PPO ratio is 1
    np.testing.assert_allclose(dev.log_prob(obs, got, 0.8).detach().cpu().numpy(), got.log_prob.cpu().numpy(), atol=1e-5)


def test_torch_runner_runs_on_the_device_and_agrees_with_the_cpu():
    policy = small_policy("gaussian").eval()
    runner = TorchRunner(copy.deepcopy(policy), device="auto")
    assert runner.provider == f"torch-{DEVICE.type}"
    obs = random_obs(small_spec(), batch=4)
    # runners hand back host tensors whatever computed them (the node sends them to a robot and a buffer)
    np.testing.assert_allclose(runner.act(obs).numpy(), policy.act(obs).numpy(), atol=1e-4)
    s = runner.sample(obs, 0.8, torch.Generator().manual_seed(0))
    assert {t.device.type for t in (s.action, s.log_prob, s.raw_action)} == {"cpu"}
    # rescored by a CPU learner: TF32 convolutions on the GPU put this 4.4e-3 off (H200); exact fp32 1.0e-5
    np.testing.assert_allclose(policy.log_prob(obs, s, 0.8).detach().numpy(), s.log_prob.numpy(), atol=1e-4)


@pytest.mark.parametrize("kind", ["token", "gaussian"])
def test_hf_loop_update_in_bf16_with_gradient_checkpointing(kind):
    """One LOOP update of the hf VLA as a GPU run makes it: bf16 towers, activation checkpointing, train mode."""
    torch.manual_seed(0)
    spec = small_spec()
    head = {"kind": kind, "bins": 64} if kind == "token" else {"kind": kind}
    policy = make_policy("hf", spec, {**HF_SMALL, "dtype": "bfloat16", "gradient_checkpointing": True,
                                      "head": head}).to(DEVICE).train()
    assert all(getattr(m, "is_activation_checkpointing", None) or m.is_gradient_checkpointing for m in (policy.lm, policy.vision))
    assert policy.lm.get_input_embeddings().weight.dtype == torch.bfloat16
    n = 16
    obs = random_obs(spec, batch=n, seed=1)
    sample = policy.sample(obs, 1.0, torch.Generator(device=DEVICE).manual_seed(0))
    # Recomputed in train mode (no dropout in these towers): the first epoch's ratios start at 1.
    first = policy.log_prob(obs, sample, 1.0).detach()
    np.testing.assert_allclose(first.float().cpu().numpy(), sample.log_prob.float().cpu().numpy(), atol=1e-3)
    adv = torch.tensor([1.0, -1.0] * (n // 2))
    cfg = LoopConfig(ppo_epochs=2, minibatch_size=8, lr_backbone=1e-3, lr_head=1e-3, granularity="action")
    before = policy.log_prob(obs, sample, granularity="chunk").detach().float().cpu()
    stats = loop_update(policy, make_optimizer(policy, cfg), LoopBatch(obs, sample, adv), cfg,
                        generator=torch.Generator().manual_seed(0))
    after = policy.log_prob(obs, sample, granularity="chunk").detach().float().cpu()
    assert stats["charts/optimizer_steps"] == 4 and stats["charts/skipped_steps"] == 0
    assert all(np.isfinite(v) for v in stats.values())
    assert (after - before)[adv > 0].mean() > (after - before)[adv < 0].mean()


def test_single_process_trainer_learns_on_the_device(tmp_path):
    """`robot-rl train` without torchrun puts the learner (and batched sampling) on `device: auto`."""
    from robot_rl.env import make_suite
    from robot_rl.policies import save_policy
    from robot_rl.train.config import TrainConfig
    from robot_rl.train.trainer import LoopTrainer

    torch.manual_seed(0)
    save_policy(make_policy("tiny", make_suite("point_reach").spec,
                            {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
                             "head": {"kind": "gaussian"}}), tmp_path / "ckpt")
    cfg = TrainConfig.model_validate({
        "seed": 3, "updates": 1, "checkpoint_every": 1, "policy": str(tmp_path / "ckpt"),
        "suite": {"name": "point_reach", "options": {"success_radius": 0.3}},
        "loop": {"group_size": 4, "ppo_epochs": 2, "minibatch_size": 32, "lr_backbone": 1e-4, "lr_head": 1e-3},
        "schedule": {"groups_per_batch": 1, "dynamic_rejection": True, "max_attempts": 40, "cache_enabled": False},
        "rollout": {"num_workers": 2, "step_timeout_s": 30},
        "eval": {"contexts_per_task": 2}})
    trainer = LoopTrainer(cfg, tmp_path / "run")
    assert trainer.policy.device.type == DEVICE.type
    summary = trainer.run()
    assert summary["success_after"]["episodes"] == 4
    assert (tmp_path / "run" / "checkpoints" / "latest" / "policy" / "model.safetensors").is_file()
