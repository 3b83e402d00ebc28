"""Reading committed rows: contiguous range reads of step arrays and the episode table columns.

Every read is a row range ``[start, stop)`` below the commit record. The reads of all arrays (and
of several ranges) are issued together on zarr's event loop so their chunk I/O overlaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import zarr
from zarr.codecs import BytesCodec

from robot_rl.buffer.format import COLUMN_FILLS, EPISODE_COLUMNS, StoreHeader, episode_columns, gather, step_layout
from robot_rl.errors import BufferError


def coalesce(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge ranges that touch (in the given order) so adjacent episodes become one read."""
    out: list[tuple[int, int]] = []
    for start, stop in ranges:
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def _is_raw(arr: zarr.Array) -> bool:
    """True for arrays stored without compression under the default "/" chunk keys (images by default)."""
    meta = arr.metadata
    codecs = getattr(meta, "codecs", ())
    encoding = getattr(meta, "chunk_key_encoding", None)
    return (len(codecs) == 1 and isinstance(codecs[0], BytesCodec) and str(getattr(codecs[0].endian, "value", "little")) == "little"
            and arr.dtype.byteorder in "=|<"
            and getattr(encoding, "name", "") == "default" and getattr(encoding, "separator", "") == "/")


class ArrayCache:
    """Read-only handles on a store's arrays, reopened when the commit record outgrows their shape."""

    def __init__(self, path: Path, header: StoreHeader) -> None:
        self._store = zarr.storage.LocalStore(path, read_only=True)
        self.step_fields = [lay.name for lay in step_layout(header.spec)]
        self.columns = episode_columns(header.format_version)  # what this store's version holds
        self._arrays: dict[str, zarr.Array] = {}

    def get(self, name: str, rows: int) -> zarr.Array:
        """The array at ``name`` (e.g. ``steps/proprio``) with metadata covering ``rows`` rows."""
        arr = self._arrays.get(name)
        if arr is None or arr.shape[0] < rows:
            try:
                arr = zarr.open_array(self._store, path=name, mode="r", zarr_format=3)
            except (FileNotFoundError, KeyError, ValueError) as err:
                raise BufferError(f"{self._store.root}: array '{name}' missing or unreadable ({err})") from None
            if arr.shape[0] < rows:
                raise BufferError(f"{self._store.root}: array '{name}' has {arr.shape[0]} rows but {rows} are "
                                  "committed; the store is damaged (run `robot-rl buffer verify`)")
            self._arrays[name] = arr
        return arr

    def read_steps_parts(self, ranges: Sequence[tuple[int, int]], committed: int,
                         fields: Sequence[str] | None = None) -> list[dict[str, np.ndarray]]:
        """One dict of field -> rows per range (no concatenation); ranges must be committed."""
        fields = list(self.step_fields if fields is None else fields)
        unknown = [f for f in fields if f not in self.step_fields]
        if unknown:
            raise BufferError(f"unknown step fields {unknown}; fields: {', '.join(self.step_fields)}")
        for start, stop in ranges:
            if not 0 <= start <= stop <= committed:
                raise BufferError(f"rows [{start}, {stop}) are outside the {committed} committed steps")
        arrays = {f: self.get(f"steps/{f}", committed) for f in fields}
        raw = [f for f in fields if _is_raw(arrays[f])]
        coded = [f for f in fields if f not in raw]
        flat = gather(*(arrays[f].async_array.getitem(slice(s, e)) for s, e in ranges for f in coded))
        parts = [dict(zip(coded, flat[i * len(coded):(i + 1) * len(coded)])) for i in range(len(ranges))]
        for part, (s, e) in zip(parts, ranges):
            for f in raw:
                part[f] = self._read_raw(f"steps/{f}", arrays[f], s, e)
        return [{f: part[f] for f in fields} for part in parts]

    def _read_raw(self, name: str, arr: zarr.Array, start: int, stop: int) -> np.ndarray:
        """Rows of an uncompressed array read straight from its chunk files (only the rows asked for).

        An uncompressed zarr v3 chunk is the C-order little-endian bytes of the full chunk (spec:
        ``bytes`` codec), so rows are at fixed offsets; this skips zarr's per-chunk machinery, which
        costs more than the copy for image chunks. A missing chunk file means "all fill value".
        """
        per_chunk, row_shape = arr.chunks[0], arr.shape[1:]
        out = np.empty((stop - start, *row_shape), dtype=arr.dtype)
        row_bytes = out[:1].nbytes
        for c in range(start // per_chunk, (stop - 1) // per_chunk + 1) if stop > start else ():
            lo, hi = max(start, c * per_chunk), min(stop, (c + 1) * per_chunk)
            key = Path(self._store.root, name, "c", str(c), *(["0"] * len(row_shape)))
            dst = out[lo - start:hi - start]
            try:
                with open(key, "rb") as f:
                    f.seek((lo - c * per_chunk) * row_bytes)
                    got = f.readinto(memoryview(dst).cast("B"))
            except FileNotFoundError:
                dst[...] = arr.fill_value
                continue
            if got != dst.nbytes:
                raise BufferError(f"{key}: chunk file is truncated ({got} of {dst.nbytes} bytes); run verify")
        return out

    def read_steps(self, ranges: Sequence[tuple[int, int]], committed: int,
                   fields: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Rows of each step field for every range, concatenated in order; ranges must be committed."""
        parts = self.read_steps_parts(ranges, committed, fields)
        if len(parts) == 1:
            return parts[0]
        names = list(self.step_fields if fields is None else fields)
        if not parts:
            return {f: np.empty((0, *self.get(f"steps/{f}", 0).shape[1:]), self.get(f"steps/{f}", 0).dtype) for f in names}
        return {f: np.concatenate([p[f] for p in parts]) for f in names}

    def read_columns(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Episode table rows ``[start, stop)``; string columns come back as numpy unicode arrays.

        Every column of ``EPISODE_COLUMNS`` is returned: one that the store's (older) version lacks
        holds its fill value (``COLUMN_FILLS``, e.g. ``t_label`` NaN for a version-1 store).
        """
        names = list(self.columns)
        arrays = [self.get(f"episodes/{k}", stop) for k in names]
        parts = dict(zip(names, gather(*(a.async_array.getitem(slice(start, stop)) for a in arrays))))
        out = {}
        for k, dtype in EPISODE_COLUMNS.items():
            if k not in parts:
                out[k] = np.full(stop - start, COLUMN_FILLS[k], dtype=dtype)
            else:
                out[k] = np.array(parts[k].tolist(), dtype=str) if dtype == "str" else parts[k]
        return out
