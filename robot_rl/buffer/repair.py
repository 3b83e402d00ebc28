"""Truncate a store to its commit record: what opening for append does after a crashed writer.

Zarr keeps chunk data past an array's shape when the array shrinks and shows it again when the
array grows (measured with zarr 3.1), so truncation also overwrites the tail of the boundary chunk
with the fill value: rows past the commit record never come back.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import zarr

from robot_rl.buffer.format import Commit

log = logging.getLogger(__name__)


def remove_partial_files(path: Path) -> int:
    """Delete temp files (``*.partial``) that zarr's write-then-rename leaves when a writer is killed."""
    removed = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith(".partial"):
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    return removed


def _remove_chunks_past(array_dir: Path, last_chunk: int) -> None:
    """Delete chunk files/dirs whose row-chunk index is above ``last_chunk`` (-1 deletes all)."""
    chunk_root = array_dir / "c"
    if not chunk_root.is_dir():
        return
    for entry in chunk_root.iterdir():
        if entry.name.isdigit() and int(entry.name) > last_chunk:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def truncate_array(array: zarr.Array, array_dir: Path, length: int) -> bool:
    """Make ``array`` exactly ``length`` rows with nothing stored past them; True if anything changed."""
    rows_per_chunk = array.chunks[0]
    current = array.shape[0]
    last_chunk = (length - 1) // rows_per_chunk if length > 0 else -1
    _remove_chunks_past(array_dir, last_chunk)
    boundary_end = min(current, (last_chunk + 1) * rows_per_chunk)
    if boundary_end > length:
        # Reset the boundary chunk's tail to the fill value so a later grow cannot resurrect it.
        array[length:boundary_end] = array.fill_value
    if current != length:
        array.resize((length, *array.shape[1:]))
    return current != length or boundary_end > length


def truncate_store(path: Path, steps: dict[str, zarr.Array], columns: dict[str, zarr.Array], commit: Commit) -> bool:
    """Truncate every step array to ``commit.steps`` rows and every table column to ``commit.episodes``."""
    partial = remove_partial_files(path)
    changed = [truncate_array(a, path / "steps" / name, commit.steps) for name, a in steps.items()]
    changed += [truncate_array(a, path / "episodes" / name, commit.episodes) for name, a in columns.items()]
    if any(changed) or partial:
        log.info("%s: repaired trailing data past %d episodes / %d steps (%d temp files removed)",
                 path, commit.episodes, commit.steps, partial)
    return any(changed) or bool(partial)

