"""The ``hf`` VLA: transformers parts (SigLIP-style vision tower + Llama/Qwen-style causal LM).

Sequence fed to the LM as ``inputs_embeds``::

    [projected image patches per camera | instruction tokens | proprio token | H*A action queries]

Action tokens live in the LM's vocabulary, OpenVLA style: bin k of the tokenized head is vocabulary
id ``vocab_size - bins + k`` (the least used ids of a byte-level / BPE vocabulary), scored with the
LM's own output layer. All H*A action positions are decoded in one forward pass from learned query
embeddings (OFT-style parallel decoding), one position per action dimension. The continuous heads
read the same positions' hidden states (the A of each chunk step concatenated) into a
:class:`ContinuousHead`.

Instructions use the LM's tokenizer when ``language_path`` holds one, otherwise the byte tokenizer
(ids 1..256 of the LM vocabulary).

:meth:`HFVLA.network` is the whole computation from raw tensors; training calls it eagerly and
``robot-rl export`` traces it to ONNX (robot_rl.policies.hf.export_hf: fp32, LoRA merged).
"""

from __future__ import annotations

import json
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.policies.base import Policy
from robot_rl.policies.batch import ObsBatch, to_tensors
from robot_rl.policies.heads import ContinuousHead, HEAD_OUTPUTS
from robot_rl.policies.hf.configuration_hf import HFVLAConfig
from robot_rl.policies.hf.export_hf import HFVLAGraph, export_copy
from robot_rl.policies.hf.lora import add_lora
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.tokenizer import ByteTokenizer
from robot_rl.spec import EmbodimentSpec

_DROP_KEYS = ("transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype", "model_type")


def _plain(cfg: Any) -> dict[str, Any]:
    return {k: v for k, v in cfg.to_dict().items() if k not in _DROP_KEYS}


class HFTokenizer:
    """A transformers fast tokenizer padded/truncated to a fixed length (pad id from the tokenizer, else 0)."""

    kind = "hf"

    def __init__(self, tok: Any, max_length: int) -> None:
        self.tok, self.max_length = tok, max_length
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

    def __call__(self, texts: list[str]) -> Any:
        import numpy as np

        out = np.full((len(texts), self.max_length), self.pad_id, dtype=np.int64)
        for i, text in enumerate(texts):
            ids = self.tok(text, add_special_tokens=True)["input_ids"][: self.max_length]
            out[i, : len(ids)] = ids
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "max_length": self.max_length, "tokenizer": json.loads(self.tok.backend_tokenizer.to_str()),
                "pad_token": self.tok.pad_token}

    @classmethod
    def from_dict(cls, info: dict[str, Any]) -> HFTokenizer:
        """Rebuild from :meth:`to_dict` (checkpoints and ONNX exports carry it; no tokenizer files needed)."""
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(info["tokenizer"])),
                                      pad_token=info.get("pad_token"))
        return cls(tok, int(info["max_length"]))


class HFVLA(Policy):
    """Transformers-backed VLA behind the :class:`Policy` interface."""

    policy_type = "hf"

    def __init__(self, spec: EmbodimentSpec, config: HFVLAConfig, stats: NormStats | None = None, version: int = 0) -> None:
        try:
            from transformers import CONFIG_MAPPING, AutoModelForCausalLM, SiglipVisionConfig, SiglipVisionModel
        except ModuleNotFoundError:
            raise ConfigError("the hf policy needs transformers: pip install 'robot_rl[hf]'") from None
        super().__init__(spec, config, stats, version)
        if config.vision_path:
            self.vision = SiglipVisionModel.from_pretrained(config.vision_path)
        else:
            self.vision = SiglipVisionModel(SiglipVisionConfig(**config.vision_config))
        if config.language_path:
            self.lm = AutoModelForCausalLM.from_pretrained(config.language_path)
        else:
            lang = dict(config.language_config)
            self.lm = AutoModelForCausalLM.from_config(CONFIG_MAPPING[lang.pop("model_type")](**lang))
        self.tokenizer: Any = self._make_tokenizer(config)
        # The checkpoint records resolved configs so it reloads without the original directories.
        self.config = config.model_copy(update={
            "vision_path": None, "language_path": None, "vision_config": _plain(self.vision.config),
            "language_config": {"model_type": self.lm.config.model_type, **_plain(self.lm.config)}})
        d_v, d = self.vision.config.hidden_size, self.lm.config.hidden_size
        h, a = spec.chunk_length, spec.action_dim
        self.vocab = self.lm.get_input_embeddings().weight.shape[0]
        if config.head.kind == "token" and self.vocab < 257 + config.head.bins:
            raise ConfigError(f"hf policy: LM vocabulary {self.vocab} is too small for 256 byte ids + {config.head.bins} action bins")
        self.projector = nn.Sequential(nn.Linear(d_v, d), nn.GELU(), nn.Linear(d, d))
        self.camera_embed = nn.Parameter(torch.zeros(len(spec.cameras), 1, d))
        self.proprio_proj = nn.Sequential(nn.Linear(spec.proprio_dim, d), nn.GELU(), nn.Linear(d, d))
        self.action_queries = nn.Parameter(torch.randn(1, h * a, d) * 0.02)
        if config.head.kind != "token":
            self.head = ContinuousHead(a * d, a, config.head.log_scale_min, config.head.log_scale_max, config.head.log_scale_init)
        if config.freeze_vision:
            self.vision.requires_grad_(False)
        if config.lora_rank:
            self.lm.requires_grad_(False)
            add_lora(self.lm, config.lora_rank, config.lora_alpha)
        if config.dtype == "bfloat16":
            self.vision.to(torch.bfloat16)
            self.lm.to(torch.bfloat16)
        if config.gradient_checkpointing:
            for model in (self.lm, self.vision):
                # transformers 5 renamed it; 4.x only has the old name
                enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
                enable()

    def _make_tokenizer(self, config: HFVLAConfig) -> Any:
        if config.language_path:
            try:
                from transformers import AutoTokenizer

                return HFTokenizer(AutoTokenizer.from_pretrained(config.language_path), config.max_instruction_length)
            except (OSError, ValueError):
                pass  # a directory without tokenizer files: fall back to bytes
        return ByteTokenizer(config.max_instruction_length)

    def tokenizer_info(self) -> dict[str, Any]:
        return self.tokenizer.to_dict()

    def load_tokenizer(self, info: dict[str, Any]) -> None:
        if info.get("type") == "hf":
            self.tokenizer = HFTokenizer.from_dict(info)
        elif info:
            self.tokenizer = ByteTokenizer.from_dict(info)

    def encode_inputs(self, obs: ObsBatch) -> tuple[torch.Tensor, ...]:
        """Network inputs for a checked batch: (uint8 images per camera in spec order, proprio (B, D), ids (B, L))."""
        images, proprio = to_tensors(obs, self.spec, self.device)
        ids = torch.from_numpy(self.tokenizer(obs["instruction"])).to(self.device)  # (B, L)
        return (*images, proprio, ids)

    def export_graph(self) -> tuple[nn.Module, list[str]]:
        """An fp32 graph with LoRA adapters merged (a copy when either applies; this policy is left as it is)."""
        names = [f"image_{c}" for c in self.spec.camera_names] + ["proprio", "instruction_ids"]
        return HFVLAGraph(export_copy(self)), names

    def network(self, images: list[torch.Tensor], proprio: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs from raw tensors: uint8 images (B, H, W, 3) per camera, proprio (B, D), token ids (B, L).

        Written to trace: no data-dependent Python control flow, the padding mask is computed from
        ``ids`` in the graph, and position ids are the LM's default ``0..S-1`` (padding sits inside
        the instruction segment and is masked, so positions do not depend on the instruction length).
        """
        pad = getattr(self.tokenizer, "pad_id", 0)
        b, lm_dtype = proprio.shape[0], self.lm.get_input_embeddings().weight.dtype
        size = self.vision.config.image_size
        parts = []
        for i, img in enumerate(images):
            x = img.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
            if x.shape[-1] != size or x.shape[-2] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            feats = self.vision(pixel_values=((x - 0.5) / 0.5).to(self.vision.dtype)).last_hidden_state  # (B, P, dv)
            parts.append(self.projector(feats.float()) + self.camera_embed[i])  # (B, P, d)
        n_img = sum(p.shape[1] for p in parts)
        words = self.lm.get_input_embeddings()(ids).float()  # (B, L, d)
        prop = self.proprio_proj((proprio - self.proprio_mean) / self.proprio_std).unsqueeze(1)  # (B, 1, d)
        queries = self.action_queries.expand(b, -1, -1)  # (B, H*A, d)
        x = torch.cat([*parts, words, prop, queries], dim=1).to(lm_dtype)  # (B, S, d)
        mask = torch.cat([torch.ones(b, n_img, dtype=torch.long, device=x.device), (ids != pad).long(),
                          torch.ones(b, 1 + queries.shape[1], dtype=torch.long, device=x.device)], dim=1)  # (B, S)
        hidden = self.lm.base_model(inputs_embeds=x, attention_mask=mask).last_hidden_state[:, -queries.shape[1]:]  # (B, H*A, d)
        h, a = self.spec.chunk_length, self.spec.action_dim
        if self.head_kind == "token":
            logits = self.lm.get_output_embeddings()(hidden)[..., self.vocab - self.head_config.bins:]  # (B, H*A, K)
            return {"logits": logits.float().view(b, h, a, -1)}  # (B, H, A, K)
        out = self.head(hidden.float().reshape(b, h, -1))  # (B, H, A*d) -> (B, H, A)
        return {name: out[name] for name in HEAD_OUTPUTS[self.head_kind]}

    def forward_outputs(self, obs: ObsBatch) -> dict[str, torch.Tensor]:
        *images, proprio, ids = self.encode_inputs(obs)
        return self.network(images, proprio, ids)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.head_kind == "token":
            emb_in = {id(p) for p in self.lm.get_input_embeddings().parameters()}
            head = [p for p in self.lm.get_output_embeddings().parameters() if p.requires_grad and id(p) not in emb_in]
        else:
            head = [p for p in self.head.parameters() if p.requires_grad]
        ids = {id(p) for p in head}
        return {"backbone": [p for p in self.parameters() if p.requires_grad and id(p) not in ids], "head": head}
