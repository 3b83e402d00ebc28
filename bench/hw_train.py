"""hw-train's per-poll cost: planning a cycle from the episode table, and a reader picking up a new episode.

    .venv/bin/python bench/hw_train.py [--episodes 1000 10000 100000]

hw-train recomputes the schedule from the whole episode table after every episode event and every
``deploy.poll_s`` (1 s), so that cost must stay far below a second even for a buffer that holds a
long robot campaign. Prints, per table size: plan_cycle time (ms; pure, on an in-memory table of
that size whose last 64 episodes, or last 10%, belong to the current cycle) and, for a real zarr store, the time a
reader's refresh() takes to see one newly committed episode (ms).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_rl.buffer import EpisodeTable, RolloutBuffer
from robot_rl.buffer.format import EPISODE_COLUMNS
from robot_rl.config import validate_config
from robot_rl.spec import load_spec
from robot_rl.train.hw_config import HwTrainConfig
from robot_rl.train.hw_loop import group_id, plan_cycle
from robot_rl.train.hw_state import HwState

CONTEXTS = [f"pick_red/{i}" for i in range(50)]


def synthetic_table(n: int, current: int, cfg: HwTrainConfig, version: int) -> EpisodeTable:
    """n episodes: the last ``current`` are the current cycle's groups (K each, mixed and equal rewards)."""
    rng = np.random.default_rng(0)
    cols = {k: np.zeros(n, dtype="U1" if v == "str" else v) for k, v in EPISODE_COLUMNS.items()}
    old = n - current
    gids = [f"hw-c{i // 64}-v{i // 64}-d{i % 64}" for i in range(old // cfg.group_size + 1)]
    cur = [group_id(cfg, version, version, d) for d in range(current // cfg.group_size + 1)]
    cols["group_id"] = np.array([gids[i // cfg.group_size] for i in range(old)]
                                + [cur[i // cfg.group_size] for i in range(n - old)])
    cols["policy_version"] = np.array([i // (64 * cfg.group_size) for i in range(old)] + [version] * (n - old))
    cols["status"] = np.where(rng.random(n) < 0.95, "ok", "aborted")
    cols["reward"] = (rng.random(n) < 0.5).astype(np.int8)
    cols["context_id"] = np.array([CONTEXTS[i % len(CONTEXTS)] for i in range(n)])
    return EpisodeTable(cols)


def bench_plan(n: int, current: int, repeats: int = 5) -> float:
    # Enough groups needed that the plan walks every current group of the table (the worst case).
    needed = current // 8 + 2
    cfg = validate_config(HwTrainConfig, dict(run_dir="r", buffer="b", policy="p", contexts=CONTEXTS,
                                              instructions={"pick_red": "x"}, group_size=8, groups_needed=needed,
                                              max_attempts=4 * needed), "bench")
    version = 10**6  # no old group id collides with the current cycle's
    table = synthetic_table(n, current, cfg, version)
    state = HwState(cycle=version, policy_version=version, checkpoint="p", deploy_path="p")
    plan_cycle(table, cfg, state)
    t0 = time.perf_counter()
    for _ in range(repeats):
        plan = plan_cycle(table, cfg, state)
    assert len(plan.schedule.groups) >= 1
    return (time.perf_counter() - t0) / repeats * 1e3


def bench_refresh(n: int) -> float:
    spec = load_spec("tabletop_64")
    with tempfile.TemporaryDirectory() as tmp:
        buf = RolloutBuffer.create(Path(tmp) / "b.zarr", spec)
        h, a = spec.chunk_shape
        step = dict(images={c.name: np.zeros(c.shape, np.uint8) for c in spec.cameras},
                    proprio=np.zeros(spec.proprio_dim, np.float32), action=np.zeros((h, a), np.float32),
                    log_prob=np.zeros((h, a), np.float32))
        for i in range(n + 1):
            if i == n:
                reader = RolloutBuffer.open(Path(tmp) / "b.zarr")
            ep = buf.begin_episode()
            ep.add_step(**step)
            ep.commit(task="pick_red", context_id="pick_red/0", group_id=f"g{i // 8}", reward=i % 2,
                      label_source="operator", policy_version=0)
        t0 = time.perf_counter()
        reader.refresh()
        ms = (time.perf_counter() - t0) * 1e3
        assert reader.num_episodes == n + 1
        buf.close()
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--store-episodes", type=int, default=500, help="episodes in the real store (refresh)")
    args = parser.parse_args()
    print(f"{'episodes':>10} {'in cycle':>9} {'plan_cycle ms':>14}")
    for n in args.episodes:
        for current in (64, n // 10):
            print(f"{n:>10} {current:>9} {bench_plan(n, current):>14.1f}")
    print(f"reader refresh after 1 new episode on a {args.store_episodes}-episode store: "
          f"{bench_refresh(args.store_episodes):.1f} ms")


if __name__ == "__main__":
    main()
