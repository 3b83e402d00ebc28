"""The on-disk layout of a rollout buffer (format version 4), written down in docs/rollout_buffer.md.

One zarr v3 directory store::

    zarr.json        root group; attributes = format, format_version, spec, steps_per_chunk,
                     episodes_per_chunk and the commit record {"episodes": n, "steps": N}
    steps/           one row per policy step, chunked along rows only
    episodes/        the episode table, one column array per field
    writer.lock      fcntl lock held by the one writer (not part of the zarr hierarchy)

Only rows below the commit record are data; anything past it is a crashed or in-progress
writer's trailing data that readers ignore and the next writer truncates.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable

import numpy as np
import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.core.sync import sync

from robot_rl.errors import BufferError
from robot_rl.spec import EmbodimentSpec

FORMAT_NAME = "robot_rl.rollout_buffer"
FORMAT_VERSION = 4
SUPPORTED_VERSIONS = (1, 2, 3, 4)

# Who decided an episode's reward: the simulator's success check, an expert demonstration, a person on
# the panel, the success detector alone (automatic mode) or a detector proposal a person accepted.
LABEL_SOURCES = ("sim", "expert", "operator", "detector", "detector_confirmed")
STATUSES = ("ok", "timeout", "aborted", "estop", "error")
USABLE_STATUSES = ("ok", "timeout")
"""Statuses whose reward is meaningful for learning (an aborted or e-stopped episode is not)."""

LOCK_FILE = "writer.lock"
EPISODES_PER_CHUNK = 1024
# Image chunks of about this many bytes: big enough that zarr's ~1 ms per-chunk overhead is
# small against the data, small enough that a training batch does not read far more than it needs.
TARGET_IMAGE_CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class ArrayLayout:
    """One array of the store: name (path under its group), dtype, shape of one row, fill value."""

    name: str
    dtype: str
    row_shape: tuple[int, ...]
    fill: Any


def step_layout(spec: EmbodimentSpec) -> list[ArrayLayout]:
    """Every array under ``steps/`` for ``spec``, images first."""
    h, a = spec.chunk_shape
    out = [ArrayLayout(f"images/{cam.name}", "uint8", cam.shape, 0) for cam in spec.cameras]
    out += [
        ArrayLayout("proprio", "float32", (spec.proprio_dim,), 0.0),
        ArrayLayout("action", "float32", (h, a), 0.0),
        ArrayLayout("log_prob", "float32", (h, a), 0.0),
        ArrayLayout("tokens", "int32", (h, a), -1),
        ArrayLayout("raw_action", "float32", (h, a), float("nan")),
        ArrayLayout("t_capture", "float64", (), 0.0),
        ArrayLayout("t_decision", "float64", (), 0.0),
        ArrayLayout("executed", "int16", (), 0),
        ArrayLayout("episode", "int64", (), -1),
    ]
    return out


# The episode table, in column order. Strings use zarr v3's variable-length "string" dtype.
EPISODE_COLUMNS: dict[str, str] = {
    "step_start": "int64",
    "step_count": "int32",
    "task": "str",
    "context_id": "str",
    "instruction": "str",
    "group_id": "str",
    "label_source": "str",
    "status": "str",
    "operator": "str",
    "init_id": "int32",
    "reward": "int8",
    "policy_version": "int64",
    "env_steps": "int32",
    "t_start": "float64",
    "t_end": "float64",
    "has_tokens": "bool",
    "has_raw_action": "bool",
    "t_label": "float64",
    "temperature": "float64",
    "detector_p": "float64",
}
# Columns added after version 1, with the version that added them. Stores of an older version lack
# them; readers report ``COLUMN_FILLS`` for every episode of such a store.
COLUMNS_SINCE: dict[str, int] = {"t_label": 2, "temperature": 3, "detector_p": 4}
# Fill values of columns whose zarr default (0) would read as a real value.
COLUMN_FILLS: dict[str, Any] = {"t_label": float("nan"), "temperature": float("nan"), "detector_p": float("nan")}


def episode_columns(version: int) -> dict[str, str]:
    """The episode columns a store of format ``version`` holds (``EPISODE_COLUMNS`` order)."""
    return {k: v for k, v in EPISODE_COLUMNS.items() if COLUMNS_SINCE.get(k, 1) <= version}


def default_steps_per_chunk(spec: EmbodimentSpec) -> int:
    """Rows per chunk: a power of two giving ~4 MiB chunks for the largest camera, in [8, 256]."""
    biggest = max(int(np.prod(cam.shape)) for cam in spec.cameras)
    return int(min(256, max(8, 2 ** round(math.log2(TARGET_IMAGE_CHUNK_BYTES / biggest)))))


def image_compressors(compress_images: bool) -> list[Any] | None:
    # Camera images carry sensor noise that lz4 barely compresses (measured ~1.03x on noisy
    # 128 px images) while it halves read speed, so images are stored raw unless asked.
    return [BloscCodec(cname="lz4", clevel=1, shuffle="noshuffle")] if compress_images else None


# Per-step arrays other than images (proprio, chunks, log-probs, stamps) are a few hundred bytes
# per step next to ~100 KB of images, so compressing them saves little disk; stored raw, they go
# through the reader's direct chunk-file path instead of zarr's per-chunk codec pipeline, which
# made contiguous episode reads 8x slower than raw numpy (bench/buffer.py, quiet machine). Stores
# written with compressed step arrays (like the v1 fixture) still read through zarr.
STEP_COMPRESSORS = None
SMALL_COMPRESSORS = [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]
STRING_COMPRESSORS = [ZstdCodec(level=3)]


@dataclass(frozen=True)
class Commit:
    """The commit record: how many episodes and policy steps are visible."""

    episodes: int
    steps: int

    def to_dict(self) -> dict[str, int]:
        return {"episodes": self.episodes, "steps": self.steps}


@dataclass(frozen=True)
class StoreHeader:
    """What the root group's attributes say about a store."""

    spec: EmbodimentSpec
    steps_per_chunk: int
    episodes_per_chunk: int
    commit: Commit
    format_version: int


def read_root_attrs(path: Path) -> dict[str, Any]:
    """Read the root ``zarr.json`` attributes directly: one small file, replaced atomically by zarr."""
    meta_path = path / "zarr.json"
    if not meta_path.is_file():
        raise BufferError(f"{path}: not a rollout buffer (no zarr.json); create one with RolloutBuffer.create")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise BufferError(f"{path}/zarr.json: unreadable: {err}") from None
    return meta.get("attributes", {}) if isinstance(meta, dict) else {}


def parse_header(path: Path, attrs: dict[str, Any]) -> StoreHeader:
    """Check format name and version and parse the spec and commit record; raise BufferError if wrong."""
    found = attrs.get("format")
    if found != FORMAT_NAME:
        raise BufferError(f"{path}: unknown store format {found!r}; supported: {FORMAT_NAME!r}")
    version = attrs.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise BufferError(
            f"{path}: rollout buffer format_version {version!r} is not supported; this robot_rl reads "
            f"versions {', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    try:
        spec = EmbodimentSpec.from_dict(attrs["spec"], f"{path} spec")
        commit = Commit(int(attrs["commit"]["episodes"]), int(attrs["commit"]["steps"]))
        return StoreHeader(spec, int(attrs["steps_per_chunk"]), int(attrs["episodes_per_chunk"]), commit, version)
    except (KeyError, TypeError, ValueError) as err:
        raise BufferError(f"{path}: malformed root attributes ({type(err).__name__}: {err})") from None


def read_header(path: Path) -> StoreHeader:
    return parse_header(path, read_root_attrs(path))


def read_commit(path: Path) -> Commit:
    """Re-read just the commit record (cheap; what ``refresh`` does)."""
    return read_header(path).commit


def gather(*aws: Awaitable[Any]) -> list[Any]:
    """Run zarr async operations concurrently on zarr's event loop (its I/O threads overlap)."""

    async def _all() -> list[Any]:
        return list(await asyncio.gather(*aws))

    return sync(_all())


def create_column(root: zarr.Group, name: str, rows: int, overwrite: bool = False) -> zarr.Array:
    """Create the episode column ``name`` with ``rows`` rows of its fill value (nothing written but metadata)."""
    dtype = EPISODE_COLUMNS[name]
    is_str = dtype == "str"
    extra = {"fill_value": COLUMN_FILLS[name]} if name in COLUMN_FILLS else {}
    return root.create_array(
        f"episodes/{name}", shape=(rows,), chunks=(EPISODES_PER_CHUNK,), dtype=str if is_str else dtype,
        compressors=STRING_COMPRESSORS if is_str else SMALL_COMPRESSORS, overwrite=overwrite, **extra,
    )


def create_layout(path: Path, spec: EmbodimentSpec, steps_per_chunk: int, compress_images: bool) -> None:
    """Write an empty store (all arrays with zero rows, commit record 0/0) at ``path``."""
    store = zarr.storage.LocalStore(path)
    root = zarr.create_group(store, zarr_format=3)
    for lay in step_layout(spec):
        is_image = lay.name.startswith("images/")
        root.create_array(
            f"steps/{lay.name}", shape=(0, *lay.row_shape), chunks=(steps_per_chunk, *lay.row_shape),
            dtype=lay.dtype, fill_value=lay.fill,
            compressors=image_compressors(compress_images) if is_image else STEP_COMPRESSORS,
        )
    for name in EPISODE_COLUMNS:
        create_column(root, name, 0)
    # Written last: a store without these attributes is not a rollout buffer (half-created).
    root.attrs.update({
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "spec": spec.to_dict(),
        "steps_per_chunk": steps_per_chunk,
        "episodes_per_chunk": EPISODES_PER_CHUNK,
        "commit": Commit(0, 0).to_dict(),
    })
