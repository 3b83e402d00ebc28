"""In-place upgrade of an older-version store to ``FORMAT_VERSION``: what opening for append does.

Versions differ only by episode columns added since (``COLUMNS_SINCE``), so an upgrade creates
those columns with one fill-value row per committed episode (metadata only: a missing chunk reads
as the fill value) and then rewrites the root attributes with the new ``format_version``. That
attribute write is the upgrade's commit point (zarr replaces ``zarr.json`` atomically): a writer
killed before it leaves a consistent store of the old version plus a stray new column, which the
next upgrade replaces (``overwrite``), so no value of a half-made column can ever be read.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import zarr

from robot_rl.buffer.format import COLUMNS_SINCE, FORMAT_VERSION, StoreHeader, create_column

log = logging.getLogger(__name__)


def upgrade_store(path: Path, root: zarr.Group, header: StoreHeader) -> StoreHeader:
    """Upgrade the store at ``path`` (open as ``root``, writer lock held, repaired) to ``FORMAT_VERSION``.

    Returns the header of the upgraded store (``header`` itself when it is already current).
    """
    if header.format_version >= FORMAT_VERSION:
        return header
    added = [name for name, since in COLUMNS_SINCE.items() if since > header.format_version]
    for name in added:
        create_column(root, name, header.commit.episodes, overwrite=True)
    root.attrs.update({"format_version": FORMAT_VERSION})  # the commit point of the upgrade
    log.info("%s: upgraded rollout buffer format %d -> %d (added episode columns %s; %d existing episodes "
             "read their fill value)", path, header.format_version, FORMAT_VERSION, ", ".join(added),
             header.commit.episodes)
    return dataclasses.replace(header, format_version=FORMAT_VERSION)
