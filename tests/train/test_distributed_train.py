"""Data-parallel LOOP under torchrun: 2 CPU ranks (gloo) against one process with the same total batch.

Real processes all the way: torchrun starts two ranks, each with its own env worker process and
rollout buffer shard; the single-process reference runs the same config in this process.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robot_rl.buffer import RolloutBuffer
from robot_rl.env import make_suite
from robot_rl.policies import load_policy, make_policy, save_policy
from robot_rl.train.config import TrainConfig
from robot_rl.train.trainer import LoopTrainer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# A token head: the entropy penalty below is refused for gaussian/laplace heads (robot_rl.algorithms.loop.check_policy).
TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "cnn_channels": [4, 8, 16], "image_grid": 2,
        "head": {"kind": "token", "bins": 32}}

# Each rank runs the trainer as `robot-rl train` does, then dumps its own parameters so the test
# can compare the ranks (only rank 0 writes the run's checkpoint).
DRIVER = textwrap.dedent("""
    import sys, torch
    from robot_rl.train.config import TrainConfig
    from robot_rl.train.distributed import init_distributed, shutdown_distributed
    from robot_rl.train.trainer import LoopTrainer

    if __name__ == "__main__":  # env workers are spawned processes that import this file
        cfg = TrainConfig.load(sys.argv[1])
        dist = init_distributed(cfg.distributed.backend)
        trainer = LoopTrainer(cfg, sys.argv[2], dist=dist)
        trainer.run()
        torch.save({k: v.detach().clone() for k, v in trainer.sampling_policy.state_dict().items()},
                   f"{sys.argv[3]}/rank{dist.rank}.pt")
        shutdown_distributed(dist)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(policy: Path, **extra) -> dict:
    data = {
        "seed": 5, "updates": 2, "checkpoint_every": 1, "policy": str(policy), "torch_threads": 1,
        "suite": {"name": "point_reach", "options": {"success_radius": 0.3, "max_steps": 12}},
        # Minibatches of 24 steps over ~2 x 4 x 3 steps per batch: most minibatches hold rows of both ranks.
        "loop": {"group_size": 4, "ppo_epochs": 2, "minibatch_size": 24, "microbatch_size": 8,
                 "lr_backbone": 1e-3, "lr_head": 1e-2,
                 # episodes end early or at max_steps: balancing uses the global mean length on every rank
                 "balance_episodes": True, "entropy_coef": -0.01},
        "schedule": {"groups_per_batch": 3, "max_attempts": 40, "cache_enabled": False},
        "rollout": {"num_workers": 1, "step_timeout_s": 60},
        "eval": {"contexts_per_task": 3},
        "distributed": {"rollout_seeding": "per_rollout"},
    }
    data.update(extra)
    return data


def _train_records(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]


def _eval_records(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "eval"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    torch.manual_seed(0)
    save_policy(make_policy("tiny", make_suite("point_reach").spec, TINY), tmp / "start")
    cfg_path = tmp / "train.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(tmp / "start")))
    (tmp / "driver.py").write_text(DRIVER)

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(tmp / "driver.py"), str(cfg_path), str(tmp / "ddp"), str(tmp)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    threads = torch.get_num_threads()
    try:
        LoopTrainer(TrainConfig.load(cfg_path), tmp / "single").run()
        # The same run with another microbatch size: the same update up to float summation order.
        LoopTrainer(TrainConfig.load(cfg_path, {"loop.microbatch_size": 4}), tmp / "single_mb4").run()
    finally:
        torch.set_num_threads(threads)
    return tmp


def test_ranks_hold_identical_parameters(runs):
    rank0, rank1 = torch.load(runs / "rank0.pt"), torch.load(runs / "rank1.pt")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name  # bit-identical, not just close
    start = load_policy(runs / "start").state_dict()
    assert any(not torch.equal(start[k], rank0[k]) for k in start)  # and they did move


def test_two_ranks_equal_one_process_with_the_same_batch(runs):
    single = load_policy(runs / "single" / "policy").state_dict()
    regrouped = load_policy(runs / "single_mb4" / "policy").state_dict()
    ddp = load_policy(runs / "ddp" / "policy").state_dict()
    rank0 = torch.load(runs / "rank0.pt")
    steps = sum(r["charts/optimizer_steps"] for r in _train_records(runs / "single"))
    # Float summation order differs between microbatchings and ranks, and Adam (steps of ~lr, whatever
    # the gradient's size) amplifies it: ~1e-6..1e-5 on most tensors after 2 updates. A reduction error
    # (a wrong denominator, a gradient not averaged) would move every tensor by ~lr per step (1e-3).
    # Tensors whose exact gradient is zero (biases in front of a normalisation or a softmax) get
    # float-noise gradients, which Adam turns into steps of about lr: they differ between two
    # single-process runs that only sum in another order, too.
    drift = {k: float((single[k] - regrouped[k]).abs().max()) for k in single}
    noise_only = {k for k, d in drift.items() if d > 1e-4}
    assert len(noise_only) <= 6, sorted(noise_only)
    for name, ref in single.items():
        assert torch.equal(ddp[name], rank0[name]), name  # RUN/policy is rank 0's policy
        bound = 1e-3 * steps if name in noise_only else 1e-4  # lr_backbone per Adam step | a tenth of one
        assert float((ddp[name] - ref).abs().max()) <= bound, (name, float((ddp[name] - ref).abs().max()))
    assert load_policy(runs / "ddp" / "policy").version == 2


def test_metrics_reduce_to_the_single_process_figures(runs):
    single, ddp = _train_records(runs / "single"), _train_records(runs / "ddp")
    assert [r["step"] for r in ddp] == [1, 2]
    for s, d in zip(single, ddp, strict=True):
        # Counts are exact: the same groups were drawn, rolled out and accepted.
        for key in ("charts/train_success_rate", "charts/env_steps", "charts/rollouts", "rollout/groups",
                    "rollout/attempts", "charts/update_steps", "charts/policy_steps", "charts/optimizer_steps"):
            assert d[key] == s[key], key
        # Reduced statistics agree up to float summation order (the second update's figures inherit the
        # first update's float noise: approx_kl differs by ~1e-4 relative).
        for key in ("losses/pg_loss", "losses/approx_kl", "charts/clipfrac", "charts/ratio_mean", "charts/entropy",
                    "charts/grad_norm", "charts/ratio_max", "charts/advantage_std"):
            assert np.isclose(d[key], s[key], rtol=1e-3, atol=1e-6), (key, d[key], s[key])
    assert any(r["charts/clipfrac"] > 0 for r in ddp)  # the clip statistics are not trivially zero
    # Both ranks updated on rows of their own in some update (the split was really exercised).
    assert all(r["dist/rank_steps_min"] + r["dist/rank_steps_max"] >= r["charts/update_steps"] for r in ddp)
    assert any(r["dist/rank_steps_min"] > 0 for r in ddp)
    for s, d in zip(_eval_records(runs / "single"), _eval_records(runs / "ddp"), strict=True):
        assert d["success_rate"] == s["success_rate"] and d["episodes"] == s["episodes"] == 6
        assert d["env_steps"] == s["env_steps"]


def test_each_rank_writes_its_own_buffer_shard(runs):
    total = len(RolloutBuffer.open(runs / "single" / "rollouts.zarr").episodes)
    shards = [RolloutBuffer.open(runs / "ddp" / name) for name in ("rollouts.zarr", "rollouts.rank1.zarr")]
    assert all(len(b.episodes) > 0 for b in shards)
    assert sum(len(b.episodes) for b in shards) == total
    for b in shards:  # groups never straddle ranks: every shard holds complete K-groups
        assert len(b.complete_groups(4)) * 4 == len(b.episodes)
        assert np.all(b.episodes["temperature"] == 1.0)  # the keyed collector records loop.temperature
    # Only rank 0 writes metrics and checkpoints.
    assert not list((runs / "ddp").glob("metrics*.jsonl"))[1:]
    assert (runs / "ddp" / "checkpoints" / "latest" / "trainer_state.pt").is_file()


def test_resume_needs_the_same_number_of_ranks(runs):
    from robot_rl.errors import ConfigError

    with pytest.raises(ConfigError, match="written by 2 rank"):
        LoopTrainer(TrainConfig.load(runs / "train.yaml"), runs / "ddp", resume=True)
