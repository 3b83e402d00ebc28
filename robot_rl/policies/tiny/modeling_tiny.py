"""The ``tiny`` VLA: a VLA small enough to train by behaviour cloning on a CPU in minutes.

Tokens fed to one transformer encoder (pre-norm, bidirectional)::

    [cam_0 grid tokens | cam_1 grid tokens | ... | instruction bytes | proprio | H action queries]

- images: a shared 4-stage stride-2 CNN per camera (128 px -> 8x8, CoordConv input), pooled to
  grid x grid tokens with a 2-D position embedding, plus one spatial-softmax keypoint token, plus a
  learned camera embedding;
- instruction: byte tokens (offline :class:`ByteTokenizer`) with a learned embedding, every
  ``instruction_patch`` bytes merged into one token; all-padding tokens are masked;
- proprio: normalised inside the network ((x - mean) / std, stats saved with the policy), one token;
- H learned action queries read the whole chunk out in parallel; the head turns each query into
  A per-dimension outputs.

:class:`TinyVLANet` is the exportable graph (uint8 images, raw proprio and token ids in; head
outputs out); :class:`TinyVLA` wraps it in the policy interface.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.policies.base import Policy
from robot_rl.policies.batch import ObsBatch, to_tensors
from robot_rl.policies.heads import HEAD_OUTPUTS, make_head
from robot_rl.policies.normalization import NormStats
from robot_rl.policies.tiny.configuration_tiny import TinyVLAConfig
from robot_rl.policies.tokenizer import PAD_ID, ByteTokenizer
from robot_rl.spec import EmbodimentSpec


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    groups = 8 if cout % 8 == 0 else 1
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.GroupNorm(groups, cout), nn.GELU())


class ImageEncoder(nn.Module):
    """uint8 (B, H, W, 3) -> tokens (B, grid*grid + 1, d): pooled feature grid plus one keypoint token.

    Two coordinate planes are appended to the input (CoordConv) and a spatial-softmax layer turns
    ``keypoints`` feature maps into expected (x, y) image positions: BC of reaching motions needs
    where things are, which average pooling blurs away.
    """

    def __init__(self, channels: tuple[int, int, int], d_model: int, grid: int, keypoints: int) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.grid = grid
        self.net = nn.Sequential(_conv(5, c1, 5), _conv(c1, c2, 3), _conv(c2, c3, 3), _conv(c3, d_model, 3))
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.keypoint_maps = nn.Conv2d(d_model, keypoints, 1)
        self.keypoint_proj = nn.Linear(2 * keypoints, d_model)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # uint8 HWC -> float CHW in about [-2, 2]; done in the graph so deploy feeds raw camera frames.
        x = image.permute(0, 3, 1, 2).float() * (1.0 / 63.75) - 2.0  # (B, 3, H, W)
        b, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device).view(1, 1, 1, w).expand(b, 1, h, w)
        f = self.net(torch.cat([x, xs, ys], dim=1))  # (B, d, h', w')
        grid = F.adaptive_avg_pool2d(f, self.grid).flatten(2).transpose(1, 2) + self.pos  # (B, g*g, d)
        # spatial softmax: expected coordinates of each keypoint map
        k = self.keypoint_maps(f)  # (B, K, h', w')
        hk, wk = k.shape[-2], k.shape[-1]
        attn = torch.softmax(k.flatten(2), dim=-1)  # (B, K, h'*w')
        ky = torch.linspace(-1.0, 1.0, hk, device=x.device).view(hk, 1).expand(hk, wk).reshape(-1)
        kx = torch.linspace(-1.0, 1.0, wk, device=x.device).view(1, wk).expand(hk, wk).reshape(-1)
        coords = torch.stack([attn @ kx, attn @ ky], dim=-1)  # (B, K, 2)
        keypoint_token = self.keypoint_proj(coords.flatten(1)).unsqueeze(1)  # (B, 1, d)
        return torch.cat([grid, keypoint_token], dim=1)  # (B, g*g + 1, d)


class Block(nn.Module):
    """Pre-norm transformer encoder block (scaled_dot_product_attention; exports to ONNX as plain ops)."""

    def __init__(self, d: int, n_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, mlp_ratio * d), nn.GELU(), nn.Linear(mlp_ratio * d, d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, s, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # (3, B, nh, S, dh)
        q, k, v = qkv.unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, S, dh)
        x = x + self.out(y.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.ln2(x))


class TinyVLANet(nn.Module):
    """The exportable network: (images..., proprio (B, D), token_ids (B, L)) -> head outputs tuple."""

    def __init__(self, spec: EmbodimentSpec, cfg: TinyVLAConfig) -> None:
        super().__init__()
        d, h, a = cfg.d_model, spec.chunk_length, spec.action_dim
        self.num_cameras, self.chunk = len(spec.cameras), h
        self.head_kind = cfg.head.kind
        self.image_encoder = ImageEncoder(cfg.cnn_channels, d, cfg.image_grid, cfg.keypoints)
        self.camera_embed = nn.Parameter(torch.zeros(self.num_cameras, 1, d))
        self.patch = cfg.instruction_patch
        self.word_embed = nn.Embedding(ByteTokenizer.vocab_size, d)
        self.word_merge = nn.Linear(self.patch * d, d)
        self.word_pos = nn.Parameter(torch.zeros(1, cfg.max_instruction_length // self.patch, d))
        self.proprio_proj = nn.Sequential(nn.Linear(spec.proprio_dim, d), nn.GELU(), nn.Linear(d, d))
        self.queries = nn.Parameter(torch.zeros(1, h, d))
        for p in (self.camera_embed, self.word_pos, self.queries):
            nn.init.normal_(p, std=0.02)
        self.blocks = nn.ModuleList(Block(d, cfg.n_heads, cfg.mlp_ratio) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head = make_head(cfg.head, d, a)
        self.register_buffer("proprio_mean", torch.zeros(spec.proprio_dim))
        self.register_buffer("proprio_std", torch.ones(spec.proprio_dim))

    def features(self, images: list[torch.Tensor], proprio: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        """Query features (B, H, d)."""
        b = proprio.shape[0]
        tokens = [self.image_encoder(img) + self.camera_embed[i] for i, img in enumerate(images)]  # each (B, g*g+1, d)
        n_image = sum(t.shape[1] for t in tokens)
        n_words = token_ids.shape[1] // self.patch
        words = self.word_embed(token_ids).reshape(b, n_words, -1)  # (B, L/p, p*d): p bytes per language token
        words = self.word_merge(words) + self.word_pos  # (B, L/p, d)
        p = self.proprio_proj((proprio - self.proprio_mean) / self.proprio_std).unsqueeze(1)  # (B, 1, d)
        x = torch.cat([*tokens, words, p, self.queries.expand(b, -1, -1)], dim=1)  # (B, S, d)
        # Attend to everything except instruction padding; no row is fully masked (images are always valid).
        word_ok = (token_ids != PAD_ID).reshape(b, n_words, self.patch).any(-1)  # (B, L/p): any real byte
        ones_img = torch.ones(b, n_image, dtype=torch.bool, device=x.device)
        ones_tail = torch.ones(b, 1 + self.chunk, dtype=torch.bool, device=x.device)
        mask = torch.cat([ones_img, word_ok, ones_tail], dim=1)[:, None, None, :]  # (B, 1, 1, S)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_out(x[:, -self.chunk:])  # (B, H, d)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """inputs = (image_cam0, ..., image_camN-1, proprio, token_ids); outputs in HEAD_OUTPUTS order."""
        images, proprio, token_ids = list(inputs[: self.num_cameras]), inputs[-2], inputs[-1]
        out = self.head(self.features(images, proprio, token_ids))
        return tuple(out[name] for name in HEAD_OUTPUTS[self.head_kind])


class TinyVLA(Policy):
    """The built-in CPU-trainable VLA behind the :class:`Policy` interface."""

    policy_type = "tiny"

    def __init__(self, spec: EmbodimentSpec, config: TinyVLAConfig | None = None, stats: NormStats | None = None,
                 version: int = 0) -> None:
        config = config or TinyVLAConfig()
        super().__init__(spec, config, stats, version)
        self.net = TinyVLANet(spec, config)
        self.tokenizer = ByteTokenizer(config.max_instruction_length)
        self.set_stats(self.stats)  # copy the proprio stats into the network

    @property
    def head(self) -> nn.Module:
        return self.net.head

    def set_stats(self, stats: NormStats) -> None:
        super().set_stats(stats)
        # The network normalises proprio itself so the exported graph takes raw sensor values.
        self.net.proprio_mean.copy_(self.proprio_mean)
        self.net.proprio_std.copy_(self.proprio_std)

    def tokenizer_info(self) -> dict[str, Any]:
        return self.tokenizer.to_dict()

    def encode_inputs(self, obs: ObsBatch) -> tuple[torch.Tensor, ...]:
        """Network inputs for a checked batch: (images per camera in spec order, proprio, token_ids)."""
        images, proprio = to_tensors(obs, self.spec, self.device)
        ids = torch.from_numpy(self.tokenizer(obs["instruction"])).to(self.device)
        return (*images, proprio, ids)

    def export_graph(self) -> tuple[nn.Module, list[str]]:
        return self.net, [f"image_{c}" for c in self.spec.camera_names] + ["proprio", "instruction_ids"]

    def forward_outputs(self, obs: ObsBatch) -> dict[str, torch.Tensor]:
        outs = self.net(*self.encode_inputs(obs))
        return dict(zip(HEAD_OUTPUTS[self.head_kind], outs))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        head = {id(p) for p in self.net.head.parameters()}
        return {"backbone": [p for p in self.net.parameters() if id(p) not in head],
                "head": list(self.net.head.parameters())}
