"""verify(path): every way a store can disagree with its format, as a list of readable problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_rl.buffer.format import LABEL_SOURCES, STATUSES, episode_columns, read_header, step_layout
from robot_rl.buffer.reader import ArrayCache
from robot_rl.errors import BufferError


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    return ", ".join(map(str, idx[:limit])) + (f" (+{len(idx) - limit} more)" if len(idx) > limit else "")


def verify(path: str | Path) -> list[str]:
    """Check metadata, version, array shapes and lengths, the episode table and committed values.

    Returns one line per problem; an empty list means the store is consistent. Reads without the
    writer lock, so it can run while a writer records (it checks the committed part only).
    """
    path = Path(path)
    try:
        header = read_header(path)
    except BufferError as err:
        return [str(err)]
    spec, n_ep, n_steps = header.spec, header.commit.episodes, header.commit.steps
    cache = ArrayCache(path, header)
    problems: list[str] = []

    layout = step_layout(spec)
    for lay in layout:
        try:
            arr = cache.get(f"steps/{lay.name}", n_steps)
        except BufferError as err:
            problems.append(str(err))
            continue
        if str(arr.dtype) != lay.dtype or arr.shape[1:] != lay.row_shape:
            problems.append(f"steps/{lay.name}: dtype {arr.dtype} rows {arr.shape[1:]}, expected {lay.dtype} {lay.row_shape}")
        if arr.chunks[0] != header.steps_per_chunk:
            problems.append(f"steps/{lay.name}: {arr.chunks[0]} rows per chunk, root says {header.steps_per_chunk}")
    for name in episode_columns(header.format_version):
        try:
            cache.get(f"episodes/{name}", n_ep)
        except BufferError as err:
            problems.append(str(err))
    if problems:
        return problems

    t = cache.read_columns(0, n_ep)
    start, count = t["step_start"].astype(np.int64), t["step_count"].astype(np.int64)
    expected_start = np.concatenate([[0], np.cumsum(count)[:-1]]) if n_ep else start
    if (start != expected_start).any():
        problems.append(f"episodes: step ranges not contiguous at episodes {_rows(start != expected_start)}")
    if (count < 1).any():
        problems.append(f"episodes: step_count < 1 at episodes {_rows(count < 1)}")
    if int(count.sum()) != n_steps:
        problems.append(f"episodes: step counts sum to {int(count.sum())} but {n_steps} steps are committed")
    if not np.isin(t["reward"], [0, 1]).all():
        problems.append(f"episodes: reward not 0/1 at episodes {_rows(~np.isin(t['reward'], [0, 1]))}")
    if np.isinf(t["t_label"]).any():
        problems.append(f"episodes: t_label infinite at episodes {_rows(np.isinf(t['t_label']))} (NaN = no label)")
    bad_t = ~(np.isnan(t["temperature"]) | (np.isfinite(t["temperature"]) & (t["temperature"] > 0)))
    if bad_t.any():
        problems.append(f"episodes: temperature not > 0 (or NaN = not sampled) at episodes {_rows(bad_t)}")
    bad_p = ~(np.isnan(t["detector_p"]) | ((t["detector_p"] >= 0) & (t["detector_p"] <= 1)))
    if bad_p.any():
        problems.append(f"episodes: detector_p outside [0, 1] (or NaN = no detector) at episodes {_rows(bad_p)}")
    for col, allowed in (("label_source", LABEL_SOURCES), ("status", STATUSES)):
        bad = ~np.isin(t[col], list(allowed))
        if bad.any():
            problems.append(f"episodes: {col} not in {allowed} at episodes {_rows(bad)}")
    if problems:
        return problems
    problems += _check_steps(cache, header, t, n_steps)
    return problems


def _check_steps(cache: ArrayCache, header, table: dict[str, np.ndarray], n_steps: int) -> list[str]:
    """Committed step values: episode ids match the table, floats finite, tokens/raw_action as flagged."""
    h = header.spec.chunk_length
    # Per-row expectations derived from the table.
    owner = np.repeat(np.arange(len(table["step_count"])), table["step_count"].astype(np.int64))
    has_tok = np.repeat(table["has_tokens"], table["step_count"].astype(np.int64))
    has_raw = np.repeat(table["has_raw_action"], table["step_count"].astype(np.int64))
    fields = ["episode", "proprio", "action", "log_prob", "tokens", "raw_action", "t_capture", "t_decision", "executed"]
    bad: dict[str, list[np.ndarray]] = {}
    block = header.steps_per_chunk * 16
    for s in range(0, n_steps, block):
        e = min(n_steps, s + block)
        d = cache.read_steps([(s, e)], n_steps, fields)
        flat = {k: v.reshape(len(v), -1) for k, v in d.items()}  # (n, *) per field
        checks = {
            "episode column does not match the table": d["episode"] != owner[s:e],
            "non-finite proprio/action/log_prob/timestamps": ~np.concatenate(
                [np.isfinite(flat[k]) for k in ("proprio", "action", "log_prob", "t_capture", "t_decision")], 1).all(1),
            "tokens do not match has_tokens (-1 when absent, >= 0 when present)": np.where(
                has_tok[s:e], (flat["tokens"] < 0).any(1), (flat["tokens"] != -1).any(1)),
            "raw_action does not match has_raw_action (NaN when absent, finite when present)": np.where(
                has_raw[s:e], ~np.isfinite(flat["raw_action"]).all(1), ~np.isnan(flat["raw_action"]).all(1)),
            f"executed outside [0, {h}]": (d["executed"] < 0) | (d["executed"] > h),
        }
        for what, mask in checks.items():
            if mask.any():
                bad.setdefault(what, []).append(np.flatnonzero(mask) + s)
    out = []
    for what, rows in bad.items():
        rows_all = np.concatenate(rows)
        out.append(f"steps: {what} at rows {', '.join(map(str, rows_all[:5]))}"
                   + (f" (+{len(rows_all) - 5} more)" if len(rows_all) > 5 else ""))
    return out
