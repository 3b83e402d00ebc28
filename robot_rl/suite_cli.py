"""`robot-rl tasks`: list the installed suites and their tasks with instructions.

Suites are found through the ``robot_rl.suites`` entry-point group, so this command lists every
installed simulator (tabletop, LIBERO, ...) without the core importing any of them.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from robot_rl.env import available_suites, make_suite
from robot_rl.errors import RobotRLError

log = logging.getLogger(__name__)


def _suite_rows(name: str) -> dict[str, Any]:
    suite = make_suite(name)
    return {
        "suite": name,
        "spec": suite.spec.name,
        "tasks": [
            {"task": t.task, "instruction": t.instruction, "max_steps": t.max_steps,
             "num_train_contexts": t.num_train_contexts, "num_eval_contexts": t.num_eval_contexts}
            for t in suite.tasks()
        ],
    }


def _tasks(args: argparse.Namespace) -> int:
    names = [args.suite] if args.suite else available_suites()
    listing = []
    for name in names:
        try:
            listing.append(_suite_rows(name))
        except RobotRLError:
            raise
        except Exception as err:  # noqa: BLE001 - one broken optional suite must not hide the others
            if args.suite:
                raise
            log.warning("suite '%s' could not be loaded: %s", name, err)
            listing.append({"suite": name, "error": str(err), "tasks": []})
    if args.json:
        print(json.dumps({"suites": listing}, indent=2))
        return 0
    if not listing:
        print("no suites installed (entry-point group robot_rl.suites is empty)")
    for row in listing:
        if "error" in row:
            print(f"suite {row['suite']}: could not be loaded: {row['error']}")
            continue
        tasks = row["tasks"]
        print(f"suite {row['suite']} (spec {row['spec']}): {len(tasks)} tasks")
        width = max((len(t["task"]) for t in tasks), default=0)
        for t in tasks:
            print(f"  {t['task']:<{width}}  \"{t['instruction']}\"  max {t['max_steps']} steps, "
                  f"{t['num_train_contexts']} train / {t['num_eval_contexts']} eval contexts")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tasks", help="list installed suites and their tasks",
        description="List every installed simulator suite (entry-point group robot_rl.suites) with its tasks, "
                    "their instructions, episode limits and numbers of train/eval contexts.")
    parser.add_argument("--suite", metavar="S", help="list only this suite (e.g. tabletop)")
    parser.add_argument("--json", action="store_true", help="print JSON: {suites: [{suite, spec, tasks: [...]}]}")
    parser.set_defaults(func=_tasks)
