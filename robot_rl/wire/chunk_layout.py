"""The wire format of an action chunk: std_msgs/Float32MultiArray + a sibling std_msgs/Header.

Chunk message (``/robot_rl/action_chunk``, Float32MultiArray)::

    layout.dim[0] = {label: "horizon", size: H, stride: H * A}
    layout.dim[1] = {label: "action",  size: A, stride: A}
    layout.data_offset = 0
    data = chunk.astype(float32).ravel()          # row-major (H, A): data[i * A + j] = chunk[i, j]

Stamp message (``/robot_rl/action_chunk_stamp``, Header)::

    stamp    = capture stamp of the observation the chunk was computed from
    frame_id = chunk_checksum(chunk)              # "crc32:%08x" of the float32 row-major bytes

std_msgs has no stamped array, so the stamp travels on a sibling topic and the two are paired by
the checksum of the chunk's data: pairing is exact whatever order DDS delivers them in, and a
chunk whose stamp never arrives is refused (``unstamped_chunk``) rather than guessed.
"""

from __future__ import annotations

import zlib

import numpy as np

HORIZON_LABEL = "horizon"
ACTION_LABEL = "action"


def chunk_checksum(chunk: np.ndarray) -> str:
    """``"crc32:%08x"`` of the chunk as little-endian float32, row-major."""
    data = np.ascontiguousarray(np.asarray(chunk, dtype="<f4"))
    return f"crc32:{zlib.crc32(data.tobytes()) & 0xFFFFFFFF:08x}"


def chunk_dims(horizon: int, action_dim: int) -> list[tuple[str, int, int]]:
    """``(label, size, stride)`` of the two layout dimensions for an (H, A) chunk."""
    return [(HORIZON_LABEL, horizon, horizon * action_dim), (ACTION_LABEL, action_dim, action_dim)]


def decode_chunk(
    dims: list[tuple[str, int, int]], data_offset: int, data: np.ndarray, expected: tuple[int, int]
) -> tuple[np.ndarray | None, str]:
    """Check a received layout against ``expected`` (H, A); return ``(chunk (H, A), "")`` or ``(None, why)``."""
    h, a = expected
    if [(d[0], d[1], d[2]) for d in dims] != chunk_dims(h, a):
        got = ", ".join(f"({lbl!r}, {size}, {stride})" for lbl, size, stride in dims) or "no dimensions"
        return None, f"layout must be [('horizon', {h}, {h * a}), ('action', {a}, {a})], got [{got}]"
    if data_offset != 0:
        return None, f"data_offset must be 0, got {data_offset}"
    if data.size != h * a:
        return None, f"expected {h * a} values for a ({h}, {a}) chunk, got {data.size}"
    return np.asarray(data, dtype=np.float32).reshape(h, a), ""  # (H, A)
