"""The transformers-backed hf VLA exports to ONNX and runs on onnxruntime like the tiny one.

Tiny random SigLIP + Llama/Qwen2 configs (the same code saves and loads them); no hub downloads.
"""

import numpy as np
import onnx
import pytest
import torch
from deploy_fixtures import bpe_tokenizer, hf_policy, mixed_obs

from robot_rl.cli import main
from robot_rl.deploy import OnnxRunner, TorchRunner, export_onnx, load_runner
from robot_rl.errors import SpecMismatchError
from robot_rl.policies import load_policy, save_policy
from robot_rl.policies.hf.lora import LoRALinear, merge_lora
from robot_rl.policies.tokenizer import ByteTokenizer

pytest.importorskip("transformers")


def _perturb_lora(policy, seed: int = 1) -> None:
    """LoRA B starts at zero (adapters are a no-op); make them matter so a missing merge would show."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if name.endswith("lora_b"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)


def test_merge_lora_folds_the_adapter_into_the_weight():
    torch.manual_seed(0)
    base = torch.nn.Linear(6, 5)
    w0 = base.weight.detach().clone()
    layer = LoRALinear(base, rank=2, alpha=3.0)
    with torch.no_grad():
        layer.lora_b.copy_(torch.randn(5, 2))
    x = torch.randn(4, 6)
    with torch.no_grad():
        y = layer(x)
    parent = torch.nn.Sequential(layer)
    assert merge_lora(parent) == 1
    merged = parent[0]
    assert type(merged) is torch.nn.Linear
    torch.testing.assert_close(merged.weight, w0 + 1.5 * layer.lora_b @ layer.lora_a)  # alpha / rank = 1.5
    with torch.no_grad():
        torch.testing.assert_close(merged(x), y, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("kind", "model_type", "lora", "vision"), [
    ("token", "llama", 0, None), ("gaussian", "qwen2", 0, {"image_size": 16, "patch_size": 8}),  # frames resized in-graph
    ("token", "qwen2", 4, None), ("laplace", "llama", 4, None)])
def test_hf_torch_and_onnxruntime_agree(kind, model_type, lora, vision, tmp_path):
    policy = hf_policy(kind, model_type, vision=vision, lora_rank=lora)
    if lora:
        _perturb_lora(policy)
    policy.version = 2
    save_policy(policy, tmp_path / "ckpt")
    path = export_onnx(policy, tmp_path / "hf.onnx")
    torch_runner, ort_runner = load_runner(tmp_path / "ckpt", device="cpu"), load_runner(path, threads=1)
    assert isinstance(torch_runner, TorchRunner) and isinstance(ort_runner, OnnxRunner)
    assert ort_runner.policy_type == "hf" and ort_runner.head_kind == kind and ort_runner.version == 2
    assert not ort_runner.spec.diff(policy.spec)
    if lora:  # adapters merged into the graph's weights; the training policy keeps its adapters
        names = [t.name for t in onnx.load(str(path)).graph.initializer]
        assert not any("lora" in n for n in names)
        assert any("lora_a" in n for n, _ in policy.named_parameters())
    for batch in (1, 3):  # traced at batch 2: the batch axis is dynamic, the padding mask differs per row
        obs = mixed_obs(policy, batch, seed=batch)
        with torch.no_grad():
            ref = policy.head_outputs(obs)
        got = ort_runner.head_outputs(obs)
        assert set(got) == set(ref)
        for key in ref:
            np.testing.assert_allclose(got[key].numpy(), ref[key].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(ort_runner.act(obs).numpy(), torch_runner.act(obs).numpy(), atol=1e-4)
        s_t = torch_runner.sample(obs, 0.7, torch.Generator().manual_seed(0))
        s_o = ort_runner.sample(obs, 0.7, torch.Generator().manual_seed(0))
        if kind == "token":
            # the same action tokens: the deterministic ones (argmax) and seeded samples
            assert torch.equal(got["logits"].argmax(-1), ref["logits"].argmax(-1))
            assert torch.equal(s_o.tokens, s_t.tokens)
        np.testing.assert_allclose(s_o.action.numpy(), s_t.action.numpy(), atol=1e-4)
        np.testing.assert_allclose(s_o.log_prob.numpy(), s_t.log_prob.numpy(), atol=1e-3)
        # a chunk the deployed graph sampled is scored again by the training policy at the same temperature
        with torch.no_grad():
            np.testing.assert_allclose(policy.log_prob(obs, s_o, 0.7).numpy(), s_o.log_prob.numpy(), atol=1e-3)


def test_hf_export_carries_the_lm_tokenizer_and_refuses_mismatched_observations(tmp_path):
    policy = hf_policy("token")
    policy.tokenizer = bpe_tokenizer(max_length=16)
    save_policy(policy, tmp_path / "ckpt")
    path = export_onnx(load_policy(tmp_path / "ckpt"), tmp_path / "hf.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "hf.onnx"]  # self-contained, no sidecar
    runner = load_runner(path, threads=1)
    assert runner.tokenizer.kind == "hf"
    texts = ["pick up the red cube", "move left"]
    assert np.array_equal(runner.tokenizer(texts), policy.tokenizer(texts))
    assert not np.array_equal(runner.tokenizer(texts), ByteTokenizer(16)(texts))  # really the BPE, not bytes
    obs = mixed_obs(policy, 2, seed=0)
    with torch.no_grad():
        ref = policy.head_outputs(obs)["logits"].numpy()
    np.testing.assert_allclose(runner.head_outputs(obs)["logits"].numpy(), ref, atol=1e-4)
    bad = mixed_obs(policy, 1, seed=0)
    del bad["images"]["wrist"]
    with pytest.raises(SpecMismatchError, match="camera 'wrist'"):
        runner.act(bad)
    bad = mixed_obs(policy, 1, seed=0)
    bad["images"]["agentview"] = np.zeros((1, 64, 64, 3), np.uint8)
    with pytest.raises(SpecMismatchError, match="camera 'agentview'"):
        runner.act(bad)
    bad = mixed_obs(policy, 1, seed=0)
    bad["proprio"] = np.zeros((1, 5), np.float32)
    with pytest.raises(SpecMismatchError, match="proprio"):
        runner.sample(bad)


def test_bf16_lora_policy_exports_an_fp32_merged_graph_and_is_left_untouched(tmp_path):
    policy = hf_policy("gaussian", lora_rank=4, dtype="bfloat16")
    _perturb_lora(policy)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    path = export_onnx(policy, tmp_path / "hf.onnx", external_data=True)
    # the training policy still has bf16 weights and its adapters
    after = policy.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert policy.lm.get_input_embeddings().weight.dtype == torch.bfloat16
    model = onnx.load(str(path), load_external_data=False)
    assert {t.data_type for t in model.graph.initializer} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    assert (tmp_path / "hf.onnx.data").is_file()  # weights in the sidecar, found by onnxruntime
    runner = load_runner(path, threads=1)
    obs = mixed_obs(policy, 2, seed=3)
    fp32 = hf_policy("gaussian", lora_rank=4, dtype="bfloat16")
    fp32.load_state_dict(policy.state_dict())
    fp32.float()
    with torch.no_grad():
        ref32, ref16 = fp32.head_outputs(obs)["mean"], policy.head_outputs(obs)["mean"]
    got = runner.head_outputs(obs)["mean"]
    np.testing.assert_allclose(got.numpy(), ref32.numpy(), atol=1e-4)
    assert float((got - ref16).abs().max()) < 0.1  # bf16 torch is only close
    # exporting again without external data leaves no stale sidecar behind
    export_onnx(policy, path)
    assert not (tmp_path / "hf.onnx.data").exists()
    np.testing.assert_allclose(load_runner(path).head_outputs(obs)["mean"].numpy(), got.numpy(), atol=1e-6)


def test_export_cli_accepts_an_hf_checkpoint(tmp_path, capsys):
    policy = hf_policy("token", "qwen2", lora_rank=2)
    _perturb_lora(policy)
    save_policy(policy, tmp_path / "ckpt")
    rc = main(["export", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "hf.onnx")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "hf policy, token head" in out and "max abs difference" in out
    assert "action tokens agree on 100.0%" in out
    runner = load_runner(tmp_path / "hf.onnx")
    assert runner.act(mixed_obs(policy, 1, seed=0)).shape == (1, 4, 7)
