"""One LOOP update split over 2 torchrun ranks (gloo) equals the single-process update on the whole batch.

Known-answer check of the data-parallel hook of ``loop_update``: uneven shares, a rank holding
nothing, both loss aggregations, and FSDP2 (``fully_shard``) on the ``hf`` VLA on CPU. SGD keeps
the comparison tight: Adam would turn the float noise of exactly-zero gradients into steps of
about lr (tests/train/test_distributed_train.py covers Adam end to end).
"""

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from robot_rl.env import make_suite
from robot_rl.policies import load_policy, make_policy, save_policy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "cnn_channels": [4, 8, 16], "image_grid": 2,
        "head": {"kind": "gaussian"}}
HF = {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "image_size": 32, "patch_size": 16},
      "language_config": {"model_type": "llama", "vocab_size": 300, "hidden_size": 32, "intermediate_size": 64,
                          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                          "max_position_embeddings": 128},
      "max_instruction_length": 16, "head": {"kind": "token", "bins": 16}}
N = 14  # policy steps in the global batch

# name: (policy, strategy, aggregation, rows of rank 0, rows of rank 1)
CASES = {
    "ddp_uneven": ("tiny", "ddp", "token-mean", list(range(0, 10)), list(range(10, 14))),
    "ddp_interleaved_seq": ("tiny", "ddp", "seq-mean-token-sum", list(range(0, 14, 2)), list(range(1, 14, 2))),
    "ddp_rank1_empty": ("tiny", "ddp", "token-mean", list(range(14)), []),
    "fsdp_uneven": ("hf", "fsdp", "token-mean", list(range(3, 14)), list(range(0, 3))),
    "fsdp_rank1_empty": ("hf", "fsdp", "seq-mean-token-sum", list(range(14)), []),
}

# Shared by the ranks and the single-process reference: the batch and one update.
COMMON = textwrap.dedent("""
    import numpy as np
    import torch
    from robot_rl.algorithms.loop import LoopBatch, LoopConfig, loop_update

    def make_batch(policy, n):
        rng = np.random.default_rng(0)
        obs = {"images": {"top": torch.from_numpy(rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8))},
               "proprio": torch.from_numpy(rng.uniform(0, 1, (n, 2)).astype(np.float32)),
               "instruction": [["go to the red target", "go to the blue target"][i % 2] for i in range(n)]}
        with torch.no_grad():
            sample = policy.sample(obs, 1.0, generator=torch.Generator().manual_seed(1))
        advantages = torch.from_numpy(rng.choice([-0.75, -0.25, 0.25, 0.75], n).astype(np.float32))
        # Some chunks cut short (an episode's last one): the token-mean denominators differ per row.
        executed = torch.from_numpy(rng.integers(1, sample.log_prob.shape[1] + 1, n))
        return LoopBatch(obs=obs, sample=sample, advantages=advantages, executed=executed)

    def update(policy, batch, aggregation, data_parallel=None):
        cfg = LoopConfig(group_size=4, ppo_epochs=2, minibatch_size=6, microbatch_size=2, aggregation=aggregation,
                         max_grad_norm=0.5, target_kl=10.0)
        groups = policy.param_groups()
        optimizer = torch.optim.SGD([{"params": groups["backbone"], "lr": 0.05, "name": "backbone"},
                                     {"params": groups["head"], "lr": 0.5, "name": "head"}])
        policy.eval()
        torch.manual_seed(7)  # the minibatch permutation
        return loop_update(policy, optimizer, batch, cfg, data_parallel=data_parallel)
""")

DRIVER = COMMON + textwrap.dedent("""
    import copy, json, sys
    from robot_rl.policies import load_policy
    from robot_rl.train import fsdp
    from robot_rl.train.distributed import BatchShard, broadcast_parameters, init_distributed

    if __name__ == "__main__":
        out, cases = sys.argv[1], json.loads(sys.argv[2])
        dist = init_distributed("gloo")
        for name, (kind, strategy, aggregation, rows0, rows1) in cases.items():
            policy = load_policy(f"{out}/{kind}")
            batch = make_batch(policy, %d)
            rows = [rows0, rows1][dist.rank]
            index = torch.tensor(rows, dtype=torch.long)
            if strategy == "fsdp" and not rows:  # lockstep needs a row: a placeholder that never counts
                index = torch.tensor([-1])
                rows = [0]
            local = batch.select(torch.tensor(rows, dtype=torch.long))
            if strategy == "fsdp":
                replica = copy.deepcopy(policy)
                fsdp.shard_policy(policy, dist)
            shard = BatchShard(dist, index, len(batch), lockstep=strategy == "fsdp", sum_gradients=strategy != "fsdp")
            metrics = update(policy, local, aggregation, shard)
            if strategy == "fsdp":
                fsdp.sync_replica(replica, policy)
                policy = replica
            torch.save({"params": {k: v.detach().clone() for k, v in policy.state_dict().items()}, "metrics": metrics},
                       f"{out}/{name}.rank{dist.rank}.pt")
        torch.distributed.destroy_process_group()
""" % N)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    import json

    out = tmp_path_factory.mktemp("dp_update")
    spec = make_suite("point_reach").spec
    torch.manual_seed(0)
    save_policy(make_policy("tiny", spec, TINY), out / "tiny")
    save_policy(make_policy("hf", spec, HF), out / "hf")
    (out / "driver.py").write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(out / "driver.py"), str(out), json.dumps(CASES)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return out


def _reference(out: Path, kind: str, aggregation: str) -> tuple[dict, dict]:
    scope: dict = {}
    exec(COMMON, scope)  # noqa: S102 - the exact code the ranks ran, on the whole batch
    policy = load_policy(out / kind)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics = scope["update"](policy, scope["make_batch"](policy, N), aggregation)
    finally:
        torch.set_num_threads(threads)
    return policy.state_dict(), metrics


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_update_equals_single_process(results, case):
    kind, _, aggregation, _, _ = CASES[case]
    ranks = [torch.load(results / f"{case}.rank{r}.pt") for r in (0, 1)]
    ref_params, ref_metrics = _reference(results, kind, aggregation)
    start = load_policy(results / kind).state_dict()
    moved = 0
    for name, ref in ref_params.items():
        a, b = ranks[0]["params"][name], ranks[1]["params"][name]
        assert torch.equal(a, b), f"{name} differs between ranks"
        torch.testing.assert_close(a, ref, rtol=1e-5, atol=1e-6, msg=name)
        moved += not torch.equal(ref, start[name])
    assert moved > len(ref_params) // 2  # the update really changed the policy
    for r in ranks:
        m = r["metrics"]
        for key in ("charts/optimizer_steps", "charts/policy_steps", "charts/ppo_epochs_run"):
            assert m[key] == ref_metrics[key], key
        for key in ("losses/pg_loss", "losses/approx_kl", "charts/clipfrac", "charts/entropy", "charts/grad_norm",
                    "charts/ratio_min", "charts/ratio_max", "charts/advantage_mean", "charts/advantage_std"):
            tol = 1e-5 * max(1.0, abs(ref_metrics[key]))
            assert abs(m[key] - ref_metrics[key]) <= tol, (key, m[key], ref_metrics[key])
    assert ref_metrics["charts/optimizer_steps"] == 6 and ref_metrics["charts/clipfrac"] > 0
