"""A small policy for the deploy tests (ONNX export of a full-size model takes longer than these tests need)."""

import torch

from robot_rl.policies import make_policy
from robot_rl.spec import EmbodimentSpec, load_spec

SMALL = {"d_model": 32, "n_layers": 1, "n_heads": 2, "cnn_channels": [8, 8, 16], "image_grid": 2,
         "max_instruction_length": 16}


def deploy_spec() -> EmbodimentSpec:
    d = load_spec("tabletop").to_dict()
    d["cameras"] = [{"name": "agentview", "height": 32, "width": 32}, {"name": "wrist", "height": 32, "width": 32}]
    d["chunk_length"] = 4
    return EmbodimentSpec.from_dict(d)


def deploy_policy(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    return make_policy("tiny", deploy_spec(), {**SMALL, "head": {"kind": kind, "bins": 64}}).eval()


HF_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
             "image_size": 32, "patch_size": 16}


def hf_language(model_type: str = "llama") -> dict:
    """A tiny random Llama/Qwen2 config (vocabulary large enough for 256 byte ids + 64 action bins)."""
    return {"model_type": model_type, "vocab_size": 400, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128}


def hf_policy(kind: str = "token", model_type: str = "llama", seed: int = 0, vision: dict | None = None, **overrides):
    """A tiny random hf VLA (SigLIP + Llama/Qwen2) on the deploy spec; no hub, no pretrained directories.

    ``vision`` overrides SigLIP fields (e.g. an ``image_size`` other than the cameras' 32 px, so the
    graph resizes the frames)."""
    torch.manual_seed(seed)
    return make_policy("hf", deploy_spec(), {"vision_config": {**HF_VISION, **(vision or {})},
                                             "language_config": hf_language(model_type),
                                             "max_instruction_length": 16, "head": {"kind": kind, "bins": 64},
                                             **overrides}).eval()


def bpe_tokenizer(max_length: int = 16):
    """An hf tokenizer (byte-level BPE trained here, as an LM directory would ship) for the hf policy."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from robot_rl.policies.hf.modeling_hf import HFTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    bpe.train_from_iterator(["pick up the red cube", "move left", "move right", "put the bowl on the plate"],
                            trainers.BpeTrainer(vocab_size=200, special_tokens=["<pad>", "<unk>"]))
    return HFTokenizer(PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", unk_token="<unk>"), max_length)


def mixed_obs(policy, batch: int, seed: int) -> dict:
    """example_batch with instructions of different lengths (one empty, one truncated), so the padding mask
    differs along the batch."""
    from robot_rl.deploy import example_batch

    obs = example_batch(policy, batch=batch, seed=seed)
    words = ["pick", "move the red cube left", "", "put the bowl on the plate and then pick up the cube"]
    obs["instruction"] = [words[i % len(words)] for i in range(batch)]
    return obs
