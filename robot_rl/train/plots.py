"""`robot-rl plot RUN_DIR`: PNG plots of success (train and eval) against rollouts and env steps, and losses."""

from __future__ import annotations

import json
from pathlib import Path

from robot_rl.errors import ConfigError


def load_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no metrics.jsonl; is this a `robot-rl train` run directory?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write ``success.png`` and ``losses.png`` into ``run_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = load_metrics(run_dir)
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    out = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, xkey, xlabel in ((axes[0], "charts/rollouts", "rollouts"), (axes[1], "charts/env_steps", "env steps")):
        t = [r for r in train if "charts/train_success_rate" in r]
        ax.plot([r[xkey] for r in t], [r["charts/train_success_rate"] for r in t], ".-", alpha=0.6,
                label="train (accepted groups)")
        ax.plot([r[xkey] for r in evals], [r["success_rate"] for r in evals], "o-", lw=2, label="eval (held-out)")
        tasks = sorted({task for r in evals for task in r.get("per_task", {})})
        for task in tasks:
            pts = [(r[xkey], r["per_task"][task]["success_rate"]) for r in evals if task in r.get("per_task", {})]
            ax.plot(*zip(*pts), ":", alpha=0.5, label=f"eval {task}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("success rate")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"LOOP: {Path(run_dir).name}")
    fig.tight_layout()
    out.append(Path(run_dir) / "success.png")
    fig.savefig(out[-1], dpi=110)
    plt.close(fig)

    keys = ["losses/pg_loss", "losses/approx_kl", "charts/clipfrac", "charts/grad_norm"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    for ax, key in zip(axes, keys):
        pts = [(r["step"], r[key]) for r in train if key in r]
        if pts:
            ax.plot(*zip(*pts), ".-")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.append(Path(run_dir) / "losses.png")
    fig.savefig(out[-1], dpi=110)
    plt.close(fig)
    return out
