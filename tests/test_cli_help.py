"""`robot-rl --help` and every subcommand's --help explain themselves, and `robot-rl spec`."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from robot_rl.cli import build_parser, main
from robot_rl.spec import load_spec


def _undocumented(parser: argparse.ArgumentParser, path: list[str]) -> list[str]:
    """Every (sub)command without a description or one-line help, and every argument without help."""
    missing = [] if parser.description else [f"{' '.join(path)}: no description"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helps.get(name):
                    missing.append(f"{' '.join(path + [name])}: no one-line help in the command list")
                missing += _undocumented(sub, path + [name])
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{' '.join(path)}: argument {action.option_strings or action.dest} has no help")
    return missing


def test_every_command_and_argument_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    # The commands the issues name must be registered (entry points installed with `pip install -e .`).
    assert {"buffer", "tasks", "demos", "eval", "sft", "calibrate-scale", "export", "train", "hw-train",
            "calibrate", "spec", "quickstart"} <= set(commands)
    assert _undocumented(parser, ["robot-rl"]) == []


def test_checker_notices_a_missing_help():
    parser = argparse.ArgumentParser(prog="x", description="top")
    sub = parser.add_subparsers().add_parser("bare")
    sub.add_argument("thing")
    assert _undocumented(parser, ["x"]) == ["x bare: no one-line help in the command list", "x bare: no description",
                                            "x bare: argument thing has no help"]


@pytest.mark.parametrize("command", [[], ["spec"], ["spec", "diff"], ["buffer", "info"], ["calibrate", "handeye"]])
def test_help_exits_zero_with_usage(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: robot-rl {' '.join(command)}".rstrip())


def test_spec_show_and_diff(tmp_path, capsys):
    assert main(["spec", "show", "tabletop", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chunk_length"] == 8
    assert main(["spec", "diff", "tabletop", "tabletop"]) == 0
    assert "identical" in capsys.readouterr().out
    other = load_spec("tabletop").to_dict()
    other["control_rate_hz"] = 20
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    assert main(["spec", "diff", "tabletop", str(tmp_path / "other.yaml")]) == 1
    assert "control_rate_hz: 10.0 vs 20.0" in capsys.readouterr().out
    other["cameras"][0]["height"] = -3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(other))
    assert main(["spec", "show", str(tmp_path / "bad.yaml")]) == 2
    assert "cameras[0].height: got -3" in capsys.readouterr().err


def test_the_command_table_matches_every_register():
    """`robot-rl --help` lists commands from robot_rl.cli.COMMANDS without importing them: it must say
    what the registered commands say (entry point and one-line help)."""
    from importlib.metadata import entry_points

    from robot_rl.cli import CLI_ENTRY_POINTS, COMMANDS
    registered = {}
    for ep in entry_points(group=CLI_ENTRY_POINTS):
        sub = argparse.ArgumentParser().add_subparsers()
        ep.load()(sub)
        registered.update({a.dest: (ep.name, a.help) for a in sub._choices_actions})
    assert registered == COMMANDS


HEAVY = ("torch", "zarr", "numpy", "cv2", "pydantic", "matplotlib", "rclpy", "mujoco", "yaml")


@pytest.mark.parametrize("argv", [["--help"], [], ["--version"]])
def test_help_imports_no_subcommand_dependency(argv):
    """`robot-rl --help` must be quick: it imports none of the subcommands' dependencies (torch alone
    takes seconds). Checked on sys.modules of a fresh interpreter, not with a clock."""
    import subprocess
    import sys
    script = ("import sys\nfrom robot_rl.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "HEAVY []" in run.stdout, run.stdout[-300:]
    if argv == ["--help"]:
        assert "quickstart" in run.stdout and "calibrate-scale" in run.stdout  # every command is still listed


def test_a_subcommand_loads_only_its_own_entry_point():
    import subprocess
    import sys
    script = ("import sys\nfrom robot_rl.cli import main\ntry:\n    main(['up', '--help'])\nexcept SystemExit:\n"
              "    pass\nprint('LOADED', sorted(m for m in ('torch', 'zarr', 'robot_rl.train.sft_cli') "
              "if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "usage: robot-rl up" in run.stdout and "LOADED []" in run.stdout, run.stdout[-300:] + run.stderr[-300:]
