"""`robot-rl spec`: show a spec, validate a spec file, or diff two specs."""

from __future__ import annotations

import argparse
import json

from robot_rl.spec import load_spec


def _show(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    if args.json:
        print(json.dumps(spec.to_dict(), indent=2))
        return 0
    print(f"spec {spec.name}: {spec.control_rate_hz:g} Hz, chunk {spec.chunk_length} x {spec.action_dim}")
    for cam in spec.cameras:
        print(f"  camera {cam.name}: {cam.width}x{cam.height}")
    for f in spec.proprio:
        print(f"  proprio {f.name}[{spec.proprio_slice(f.name).start}:{spec.proprio_slice(f.name).stop}] ({f.unit})")
    for a in spec.action:
        print(f"  action {a.name}: [{a.low:g}, {a.high:g}] {a.unit}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    diffs = load_spec(args.a).diff(load_spec(args.b))
    for line in diffs:
        print(line)
    if not diffs:
        print("specs are identical")
    return 1 if diffs else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("spec", help="show, validate or compare embodiment specs",
                                   description="Show, validate or compare embodiment specs (built-in name or YAML path).")
    sub = parser.add_subparsers(dest="spec_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="validate a spec and print its layout",
                          description="Validate a spec and print its cameras, proprio layout (with units) and action "
                                      "layout (with limits); exit 2 with the field, value and what is allowed if "
                                      "it is invalid.")
    show.add_argument("spec", help="built-in spec name (e.g. tabletop) or path to a spec YAML")
    show.add_argument("--json", action="store_true", help="print the spec as JSON")
    show.set_defaults(func=_show)
    diff = sub.add_parser("diff", help="list the differences between two specs (exit 1 if any)",
                          description="Print one line per difference between spec A and spec B (field: A vs B); "
                                      "exit 0 when they are identical, 1 when they differ.")
    diff.add_argument("a", help="first spec: built-in name or YAML path")
    diff.add_argument("b", help="second spec: built-in name or YAML path")
    diff.set_defaults(func=_diff)
