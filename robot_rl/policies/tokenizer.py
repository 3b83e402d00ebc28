"""Offline instruction tokenizer: UTF-8 bytes, no vocabulary file and no model hub.

Id 0 is padding; byte ``b`` is id ``b + 1`` (vocabulary 257). Instructions are cut or padded to a
fixed length so exported graphs have static shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PAD_ID = 0


class ByteTokenizer:
    """Byte-level tokenizer with a fixed output length."""

    kind = "byte"
    vocab_size = 257

    def __init__(self, max_length: int = 64) -> None:
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        self.max_length = max_length

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids, int64 (B, max_length); longer instructions are truncated."""
        out = np.zeros((len(texts), self.max_length), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = np.frombuffer(text.encode("utf-8")[: self.max_length], dtype=np.uint8).astype(np.int64) + 1
            out[i, : len(ids)] = ids
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) - 1 for i in ids if int(i) != PAD_ID).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "max_length": self.max_length, "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ByteTokenizer:
        if data.get("type") != cls.kind:
            raise ValueError(f"tokenizer type {data.get('type')!r} is not '{cls.kind}'")
        return cls(int(data["max_length"]))
