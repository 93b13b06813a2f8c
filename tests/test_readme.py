"""The README's commands exist and run: CI's test command is the README's, every `emovox`
command line in it parses, the main job and a few others really run, and its tables are the
committed results."""

from __future__ import annotations

import glob
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from emovox.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, re.S)


def emovox_commands() -> list[list[str]]:
    """Every `emovox ...` line of the README's bash blocks, as argv (comments dropped)."""
    commands = []
    for block in bash_blocks():
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("emovox "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_ci_runs_the_readme_test_command() -> None:
    setup = bash_blocks()[0].splitlines()
    test_command = next(line for line in setup if "pytest" in line)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    main_job = next(line for line in setup if "emovox predict" in line)
    assert main_job.startswith("python3 -m venv .venv && .venv/bin/pip install -e .")


def test_every_emovox_command_line_in_the_readme_parses() -> None:
    commands = emovox_commands()
    assert len(commands) >= 15
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown command or flag
            pytest.fail(f"README command does not parse: emovox {' '.join(argv)} ({exc})")


def test_the_main_job_and_example_commands_run(capsys) -> None:
    examples = sorted(glob.glob(str(ROOT / "examples" / "*.flac")))
    assert len(examples) == 6
    assert main(["predict", "--quiet", *examples]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 6 and all("%" in row for row in table)
    assert main(["predict", "--json", *examples]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["label"] for row in rows} <= set(rows[0]["labels"])
    assert main(["predict", "--timeline", "--json", examples[0]]) == 0
    assert json.loads(capsys.readouterr().out)["segments"]
    assert main(["predict", "--adapt", "--quiet", *examples]) == 0


def test_readme_tables_are_the_committed_results() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"], check=False
    )
    assert check.returncode == 0, "README tables differ from results/: run scripts/readme_tables.py"
