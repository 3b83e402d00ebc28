"""`robot-rl buffer`: inspect, verify and merge rollout stores."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

from robot_rl.buffer.merge import merge
from robot_rl.buffer.store import RolloutBuffer
from robot_rl.buffer.verify import verify


def summary(buf: RolloutBuffer) -> dict[str, Any]:
    """Counts for `buffer info`: episodes, steps, successes per task / label source / policy version."""
    t = buf.episodes

    def per(column: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"episodes": 0, "successes": 0})
        for key, reward in zip(t[column], t["reward"]):
            out[str(key)]["episodes"] += 1
            out[str(key)]["successes"] += int(reward)
        return dict(sorted(out.items()))

    statuses: dict[str, int] = defaultdict(int)
    for s in t["status"]:
        statuses[str(s)] += 1
    return {
        "path": str(buf.path),
        "format_version": buf.format_version,
        "spec": buf.spec.name,
        "episodes": buf.num_episodes,
        "steps": buf.num_steps,
        "steps_per_chunk": buf.steps_per_chunk,
        "successes": int(t["reward"].sum()) if len(t) else 0,
        "per_task": per("task"),
        "per_label_source": per("label_source"),
        "per_policy_version": per("policy_version"),
        "per_status": dict(sorted(statuses.items())),
    }


def _info(args: argparse.Namespace) -> int:
    info = summary(RolloutBuffer.open(args.path))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: format v{info['format_version']}, spec {info['spec']}, "
          f"{info['episodes']} episodes, {info['steps']} steps, {info['steps_per_chunk']} steps per chunk")
    for title, key in (("task", "per_task"), ("label source", "per_label_source"), ("policy version", "per_policy_version")):
        rows = info[key]
        if not rows:
            continue
        width = max(len(title), *(len(k) for k in rows))
        print(f"\n{title:<{width}}  episodes  successes  rate")
        for name, c in rows.items():
            print(f"{name:<{width}}  {c['episodes']:>8}  {c['successes']:>9}  {c['successes'] / c['episodes']:>4.0%}")
    if info["per_status"]:
        print("\nstatus: " + ", ".join(f"{k} {v}" for k, v in info["per_status"].items()))
    return 0


def _verify(args: argparse.Namespace) -> int:
    problems = verify(args.path)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.path}: consistent")
    return 0


def _merge(args: argparse.Namespace) -> int:
    out = merge(args.a, args.b, args.out)
    print(f"{args.out}: {out.num_episodes} episodes, {out.num_steps} steps")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("buffer", help="inspect, verify and merge rollout buffers",
                                   description="Inspect, verify and merge rollout buffer stores (zarr v3 directories).")
    sub = parser.add_subparsers(dest="buffer_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="episode, step and success counts per task and label source",
                          description="Print the store's format version, episode and step counts, and success "
                                      "counts per task, label source and policy version.")
    info.add_argument("path", help="rollout buffer directory")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)
    ver = sub.add_parser("verify", help="check a store's consistency (exit 1 with reasons if not)",
                         description="Check metadata, version, array lengths, the episode table and committed "
                                     "values; exit 0 when consistent, 1 with one line per problem otherwise.")
    ver.add_argument("path", help="rollout buffer directory")
    ver.set_defaults(func=_verify)
    mer = sub.add_parser("merge", help="copy the committed episodes of two stores into a new one",
                         description="Write the committed episodes of A then B into a new store OUT. "
                                     "Refuses stores with different specs.")
    mer.add_argument("a", help="first store")
    mer.add_argument("b", help="second store")
    mer.add_argument("--out", required=True, help="new store to create (must not exist)")
    mer.set_defaults(func=_merge)
