"""The transformers-backed VLA with tiny random SigLIP + Llama/Qwen configs saved and loaded by the same code."""

import shutil

import numpy as np
import pytest
import torch
from policy_fixtures import random_obs, small_spec, synthetic_demos

from robot_rl.algorithms.sft import SftConfig, fit_stats, sft_train
from robot_rl.policies import load_policy, make_policy, save_policy

transformers = pytest.importorskip("transformers")
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
          "image_size": 32, "patch_size": 16}


def language(model_type: str = "llama") -> dict:
    return {"model_type": model_type, "vocab_size": 600, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256}


def pretrained_dirs(tmp_path):
    """Tiny 'pretrained' vision and language directories (with a BPE tokenizer trained here), as from_pretrained reads."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CONFIG_MAPPING, AutoModelForCausalLM, PreTrainedTokenizerFast, SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    SiglipVisionModel(SiglipVisionConfig(**VISION)).save_pretrained(tmp_path / "vision")
    lang = language()
    AutoModelForCausalLM.from_config(CONFIG_MAPPING[lang.pop("model_type")](**lang)).save_pretrained(tmp_path / "lm")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    bpe.train_from_iterator(["pick up the red cube", "move left", "move right", "put the bowl on the plate"],
                            trainers.BpeTrainer(vocab_size=200, special_tokens=["<pad>", "<unk>"]))
    PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", unk_token="<unk>").save_pretrained(tmp_path / "lm")
    return tmp_path / "vision", tmp_path / "lm"


def test_from_pretrained_dirs_sample_score_and_round_trip_without_the_dirs(tmp_path):
    vision_dir, lm_dir = pretrained_dirs(tmp_path)
    spec = small_spec()
    policy = make_policy("hf", spec, {"vision_path": str(vision_dir), "language_path": str(lm_dir),
                                      "head": {"kind": "token", "bins": 64}}).eval()
    assert policy.tokenizer.kind == "hf"  # the LM directory's BPE tokenizer, not bytes
    obs = random_obs(spec)
    s = policy.sample(obs, 0.9, torch.Generator().manual_seed(0))
    assert s.tokens.shape == (3, 4, 7) and int(s.tokens.max()) < 64
    assert torch.equal(policy.log_prob(obs, s, 0.9), s.log_prob)
    assert (policy.log_prob(obs, s, 1.0) - s.log_prob).abs().max() > 1e-4
    save_policy(policy, tmp_path / "ckpt")
    shutil.rmtree(vision_dir)
    shutil.rmtree(lm_dir)  # the checkpoint must not need them
    loaded = load_policy(tmp_path / "ckpt")
    assert loaded.tokenizer.kind == "hf"
    assert np.array_equal(loaded.tokenizer(["pick up the red cube"]), policy.tokenizer(["pick up the red cube"]))
    assert torch.equal(loaded.head_outputs(obs)["logits"], policy.head_outputs(obs)["logits"])


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_continuous_head_with_lora_trains_only_adapters_and_head(model_type):
    spec = small_spec()
    torch.manual_seed(0)
    policy = make_policy("hf", spec, {"vision_config": VISION, "language_config": language(model_type),
                                      "lora_rank": 4, "freeze_vision": True, "head": {"kind": "gaussian"}})
    data = synthetic_demos(spec, n=32)
    policy.set_stats(fit_stats(data, spec))
    groups = policy.param_groups()
    trainable = {id(p) for p in policy.parameters() if p.requires_grad}
    assert {id(p) for g in groups.values() for p in g} == trainable
    names = [n for n, p in policy.named_parameters() if p.requires_grad and n.startswith(("lm.", "vision."))]
    assert names and all("lora_" in n for n in names)
    frozen = {n: p.clone() for n, p in policy.named_parameters() if not p.requires_grad}
    result = sft_train(policy, data, SftConfig(steps=25, batch_size=8, lr=3e-3, progress=False, augment_shift=0, warmup_steps=2))
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:3])
    assert all(torch.equal(p, frozen[n]) for n, p in policy.named_parameters() if n in frozen)


def test_bf16_and_gradient_checkpointing_switches():
    spec = small_spec()
    policy = make_policy("hf", spec, {"vision_config": VISION, "language_config": language(), "dtype": "bfloat16",
                                      "gradient_checkpointing": True, "head": {"kind": "laplace"}})
    assert policy.lm.get_input_embeddings().weight.dtype == torch.bfloat16
    assert getattr(policy.lm, "is_activation_checkpointing", None) or policy.lm.is_gradient_checkpointing
    policy.train()
    obs = random_obs(spec, batch=2)
    s = policy.sample(obs)
    lp = policy.log_prob(obs, s, granularity="chunk")
    assert lp.dtype == torch.float32 and torch.isfinite(lp).all()
    lp.sum().backward()
    assert policy.action_queries.grad is not None
