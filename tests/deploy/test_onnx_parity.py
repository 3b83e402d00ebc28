"""Exported ONNX graphs agree with torch, and both runners behave identically behind one interface."""

import numpy as np
import onnx
import pytest
import torch
from deploy_fixtures import deploy_policy

from robot_rl.cli import main
from robot_rl.deploy import OnnxRunner, TorchRunner, example_batch, export_onnx, load_runner
from robot_rl.errors import ConfigError, SpecMismatchError
from robot_rl.policies import save_policy


@pytest.mark.parametrize("kind", ["token", "gaussian", "laplace"])
def test_torch_and_onnxruntime_agree(kind, tmp_path):
    policy = deploy_policy(kind)
    policy.version = 3
    save_policy(policy, tmp_path / "ckpt")
    onnx_path = export_onnx(policy, tmp_path / "policy.onnx")
    torch_runner, ort_runner = load_runner(tmp_path / "ckpt", device="auto"), load_runner(onnx_path, threads=1)
    assert isinstance(torch_runner, TorchRunner) and isinstance(ort_runner, OnnxRunner)
    # No GPU here: both fall back to the CPU, and say so.
    assert torch_runner.provider == ("torch-cuda" if torch.cuda.is_available() else "torch-cpu")
    assert ort_runner.provider in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert ort_runner.version == torch_runner.version == 3
    assert not ort_runner.spec.diff(policy.spec)
    for batch in (1, 5):  # the batch axis is dynamic
        obs = example_batch(policy, batch=batch, seed=batch)
        ref, got = policy.head_outputs(obs), ort_runner.head_outputs(obs)
        assert set(ref) == set(got)
        for key in ref:
            np.testing.assert_allclose(got[key].numpy(), ref[key].detach().numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(ort_runner.act(obs).numpy(), torch_runner.act(obs).numpy(), atol=1e-4)
        s_t = torch_runner.sample(obs, 0.8, torch.Generator().manual_seed(0))
        s_o = ort_runner.sample(obs, 0.8, torch.Generator().manual_seed(0))
        np.testing.assert_allclose(s_o.action.numpy(), s_t.action.numpy(), atol=1e-4)
        np.testing.assert_allclose(s_o.log_prob.numpy(), s_t.log_prob.numpy(), atol=1e-3)
        # a chunk sampled by the deployed runner is scored again by the training policy at the same temperature
        np.testing.assert_allclose(policy.log_prob(obs, s_o, 0.8).detach().numpy(), s_o.log_prob.numpy(), atol=1e-3)


def test_onnx_file_is_self_contained_and_runner_checks_the_spec(tmp_path):
    policy = deploy_policy("token")
    path = export_onnx(policy, tmp_path / "p.onnx")
    assert not list(tmp_path.glob("*.data")) and sorted(p.name for p in tmp_path.iterdir()) == ["p.onnx"]
    meta = {p.key for p in onnx.load(str(path)).metadata_props}
    assert {"robot_rl.spec", "robot_rl.normalization", "robot_rl.tokenizer", "robot_rl.version"} <= meta
    runner = load_runner(path)
    obs = example_batch(policy, batch=1)
    del obs["images"]["wrist"]
    with pytest.raises(SpecMismatchError, match="camera 'wrist'"):
        runner.act(obs)
    with pytest.raises(ConfigError, match=".onnx"):
        export_onnx(policy, tmp_path / "p.bin")
    with pytest.raises(ConfigError, match="no such ONNX file"):
        load_runner(tmp_path / "missing.onnx")


def test_export_cli_writes_a_checked_onnx(tmp_path, capsys):
    save_policy(deploy_policy("gaussian"), tmp_path / "ckpt")
    rc = main(["export", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out" / "policy.onnx")])
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "out" / "policy.onnx").is_file()
    assert "max abs difference" in out and "CPUExecutionProvider" in out
    assert main(["export", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "x.onnx")]) == 2
