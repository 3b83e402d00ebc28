"""What a rehearsal reports: ``summary.json`` and ``rehearsal.png`` (success vs labelled episodes and operator minutes).

Figures (docs/rehearsal.md defines each):

- ``success_sim``: held-out success in the training simulator (in-process); ``success_lab_inproc`` the
  same policy in-process on the shifted world (the reality profile without the graph);
- ``success_lab_before`` / ``success_lab_after``: held-out success through the ROS graph on the lab
  stand-in before hardware LOOP and after the last update; ``curve`` has every measurement between;
- ``labelled_episodes``: operator-labelled episodes in the rollout buffer; ``operator_minutes``: the
  operator's time on them at real-time pace (Start to label, plus a scene reset each, in sim time);
- ``drop`` = sim - lab_before, ``won_back`` = (after - before) / drop;
- ``baseline``: the in-process LOOP run on the shifted world with the same number of updates, and
  both runs' gain per 100 episodes; ``sim_speed_up``: sim seconds per wall second during episodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robot_rl.rehearsal.config import RehearsalConfig
from robot_rl.rehearsal.operator import EpisodeRecord, operator_seconds

SUMMARY = "summary.json"
PLOT = "rehearsal.png"


def read_operator_log(path: Path) -> list[EpisodeRecord]:
    """The scripted operator's episode records (one JSON line each; a torn last line is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(EpisodeRecord(**json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return out


def episodes_in(buffer: Path) -> Any:
    """The committed episode table of ``buffer`` (None before its first episode)."""
    from robot_rl.buffer import RolloutBuffer

    if not (buffer / "zarr.json").exists():
        return None
    return RolloutBuffer.open(buffer).episodes


def operator_figures(out: Path, reset_s: float, updates: int | None = None) -> dict[str, Any]:
    """Labelled episodes (from the buffer: label source operator), operator minutes, mislabels and speed-up."""
    table = episodes_in(out / "rollouts.zarr")
    from robot_rl.buffer import USABLE_STATUSES

    # Labelled = Success / Failure by the operator (usable for LOOP); aborted episodes carry no label.
    labelled = 0 if table is None else int(sum(1 for src, st in zip(table["label_source"], table["status"])
                                               if src == "operator" and st in USABLE_STATUSES))
    records = read_operator_log(out / "operator.jsonl")
    timed = [r for r in records if r.wall_start is not None and r.wall_label is not None and r.t_label is not None]
    sim_s = sum(r.t_label - r.t_start for r in timed)
    wall_s = sum(r.wall_label - r.wall_start for r in timed)
    return {"labelled_episodes": labelled, "operator_minutes": round(operator_seconds(records, reset_s) / 60.0, 2),
            "mislabelled": int(sum(r.mislabelled for r in records if r.label in ("success", "failure"))),
            "sim_speed_up": round(sim_s / wall_s, 2) if wall_s > 0 else None}


def _gain_per_100(before: float, after: float, episodes: int) -> float | None:
    return round(100.0 * (after - before) / episodes, 4) if episodes > 0 else None


def summarize(cfg: RehearsalConfig, state: dict[str, Any]) -> dict[str, Any]:
    """The summary dict from the rehearsal state (missing phases give None)."""
    sim = state.get("sim") or {}
    s_sim = (sim.get("train_world") or {}).get("success")
    before = (state.get("lab_before") or {}).get("success")
    evals = sorted(state.get("evals", []), key=lambda e: e["updates"])
    last = evals[-1] if evals else {}
    after = last.get("success")
    drop = s_sim - before if s_sim is not None and before is not None else None
    won_back = (after - before) / drop if drop and drop > 0 and after is not None else None
    summary: dict[str, Any] = {
        "success_sim": s_sim,
        "success_lab_inproc": (sim.get("lab_world") or {}).get("success"),
        "success_lab_before": before,
        "success_lab_after": after,
        "drop": drop,
        "won_back": won_back,
        "updates": last.get("updates", 0),
        "labelled_episodes": last.get("labelled_episodes", 0),
        "operator_minutes": last.get("operator_minutes", 0.0),
        "mislabelled": last.get("mislabelled", 0),
        "mislabel_rate": cfg.operator.mislabel_rate,
        "sim_speed_up": last.get("sim_speed_up"),
        "wall_s": state.get("wall_s", 0.0),
        "reality": cfg.reality.model_dump(),
        "curve": [{"updates": 0, "labelled_episodes": 0, "operator_minutes": 0.0, "success": before}]
        + [{k: e.get(k) for k in ("updates", "labelled_episodes", "operator_minutes", "success")} for e in evals],
        "ros": {"gain": None if after is None or before is None else after - before,
                "gain_per_100_episodes": None if after is None or before is None
                else _gain_per_100(before, after, last.get("labelled_episodes", 0))},
        "baseline": None,
    }
    b = state.get("baseline")
    if b:
        summary["baseline"] = {**b, "gain": b["success_after"] - b["success_before"],
                               "gain_per_100_episodes": _gain_per_100(b["success_before"], b["success_after"],
                                                                      b["episodes"])}
    return summary


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Success against labelled episodes (left) and operator minutes (right), with the sim and baseline levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = [c for c in summary["curve"] if c["success"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in ((axes[0], "labelled_episodes", "labelled episodes"),
                           (axes[1], "operator_minutes", "operator minutes (real-time pace)")):
        ax.plot([c[key] for c in curve], [c["success"] for c in curve], "o-", label="ROS graph + panel (lab stand-in)")
        if summary["success_sim"] is not None:
            ax.axhline(summary["success_sim"], ls="--", c="grey", label="training simulator (before)")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    b = summary.get("baseline")
    if b:
        axes[0].plot([0, b["episodes"]], [b["success_before"], b["success_after"]], "s:", c="C1",
                     label="in-process LOOP, shifted world")
    axes[0].set_ylabel("held-out success")
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"rehearsal: reality '{summary['reality']['profile']}', mislabel rate {summary['mislabel_rate']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(cfg: RehearsalConfig, out: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Write OUT/summary.json and OUT/rehearsal.png; returns the summary."""
    summary = summarize(cfg, state)
    (out / SUMMARY).write_text(json.dumps(summary, indent=1))
    if any(c["success"] is not None for c in summary["curve"]):
        plot(summary, out / PLOT)
    return summary
