"""The README's and the documentation's commands exist and run: CI's test command is the
README's, every `emovox` command line in them parses, every Python and shell block runs as
written from the repository root and prints what the page shows under it, their tables are the
committed results, and the documentation builds without a warning."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import DATA, WITHOUT_TORCH, cold_env, corpus_root

from emovox.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NAV = re.findall(r"^  - [^:]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
DOCUMENTS = [ROOT / "README.md", *(ROOT / "docs" / page for page in NAV)]  # blocks run in this order
EVERYTHING = "\n".join(path.read_text() for path in DOCUMENTS)
FENCE = re.compile(r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->\s*$")


@dataclass
class Block:
    lang: str
    body: str
    line: int  # where it starts in its page
    page: str  # README.md or docs/...
    expected: str | None = None  # the text block marked `<!-- prints -->` under it
    skip: str | None = None  # why the test does not run it (said in the README)


def readme_blocks() -> list[Block]:
    """The Python and shell blocks of the README, then of each documentation page, in order,
    each with the output it promises."""
    blocks: list[Block] = []
    for path in DOCUMENTS:
        text, page = path.read_text(), path.relative_to(ROOT).as_posix()
        previous_end = 0
        for match in FENCE.finditer(text):
            before = text[previous_end : match.start()]
            previous_end = match.end()
            line = text.count("\n", 0, match.start()) + 1
            if match["lang"] == "text" and before.strip() == "<!-- prints -->":
                blocks[-1].expected = match["body"]
            elif match["lang"] in ("python", "bash"):
                skip = SKIP.search(before)
                blocks.append(
                    Block(match["lang"], match["body"], line, page, skip=skip["why"] if skip else None)
                )
    return blocks


def bash_blocks(text: str = EVERYTHING) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def emovox_commands() -> list[list[str]]:
    """Every `emovox ...` line of the README's and the pages' bash blocks, as argv (comments dropped)."""
    commands = []
    for block in bash_blocks():
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("emovox "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_ci_runs_the_readme_test_command() -> None:
    setup = bash_blocks(README)[0].splitlines()
    test_command = next(line for line in setup if "pytest" in line)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    development = bash_blocks((ROOT / "docs" / "development.md").read_text())
    lint = next(line for block in development for line in block.splitlines() if "ruff" in line)
    assert lint.split("  #")[0].strip() in (ROOT / ".ci" / "run").read_text()
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


def test_the_main_job_prints_what_the_readme_shows_cold_warm_and_without_torch(tmp_path) -> None:
    """Command 1's `emovox predict examples/*.flac`, whose output the README includes, as a fresh
    machine runs it: a new process, an empty home and cache, PyTorch not importable (command 1
    installs emovox without it); then warm, and on one thread. Each prints results/examples/demo.txt."""
    examples = sorted(glob.glob("examples/*.flac", root_dir=ROOT))
    assert len(examples) == 6
    env = cold_env(tmp_path / "home")
    for jobs in ([], [], ["--jobs", "1"]):  # cold, warm, one thread
        done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "predict", *jobs, *examples], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout == (ROOT / "results" / "examples" / "demo.txt").read_text()
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "home" / ".cache" / "emovox" / "features" / "backbones").exists()  # nothing built


def test_readme_tables_are_the_committed_results() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"], check=False
    )
    assert check.returncode == 0, "README tables differ from results/: run scripts/readme_tables.py"


class Workspace:
    """A copy of the repository root as a user has it (examples, configs, results, the corpora at
    ../shared/data) where README blocks run; `emovox serve` lines keep running in the background
    for the blocks after them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "emovox"
        self.root.mkdir()
        for name in ("examples", "configs", "results"):
            (self.root / name).symlink_to(ROOT / name)
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(DATA)
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        self.env = {**os.environ, "PATH": path, "EMOVOX_CACHE": str(tmp_path / "cache")}
        self.servers: list[subprocess.Popen] = []

    def run(self, argv: list[str], where: str) -> str:
        done = subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
        return done.stdout

    def serve(self, command: str, seconds: float = 90) -> None:
        port = int(re.search(r"--port (\d+)", command)[1])
        server = subprocess.Popen(["bash", "-c", command], cwd=self.root, env=self.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.servers.append(server)
        deadline = time.time() + seconds
        while time.time() < deadline:
            assert server.poll() is None, f"`{command}` exited with {server.returncode}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"`{command}` did not answer within {seconds} s")

    def block(self, block: Block) -> str:
        """What the block prints on stdout (a shell block: line by line, as typed)."""
        where = f"{block.page} line {block.line}"
        if block.lang == "python":
            return self.run([sys.executable, "-c", block.body], where)
        printed = ""
        for command in block.body.splitlines():
            if not command.strip() or command.lstrip().startswith("#"):
                continue
            if command.startswith("emovox serve"):
                self.serve(command)
            else:
                printed += self.run(["bash", "-o", "pipefail", "-c", command], f"{where}: `{command}`")
        return printed

    def close(self) -> None:
        for server in self.servers:
            server.terminate()
            server.wait(timeout=30)


def test_every_readme_block_runs_as_written_and_prints_what_it_shows(tmp_path) -> None:
    for name in ("ravdess", "emodb"):
        corpus_root(name)
    workspace = Workspace(tmp_path)
    blocks = [b for b in readme_blocks() if not b.skip]
    try:
        for block in blocks:
            printed = workspace.block(block)
            if block.expected is not None:
                assert printed == block.expected, (
                    f"{block.page} line {block.line} printed:\n{printed}\nthe page shows:\n{block.expected}"
                )
    finally:
        workspace.close()
    assert len(blocks) >= 9


def test_readme_says_why_a_block_is_not_run() -> None:
    blocks = readme_blocks()
    skipped = [b for b in blocks if b.skip]
    assert len(skipped) == 2 and all(len(b.skip) > 20 for b in skipped)  # the set-up and development blocks
    assert sum(b.expected is not None for b in blocks) >= 4


def test_the_limits_table_lists_every_service_limit_with_its_default() -> None:
    from dataclasses import fields

    from emovox.service import ServiceLimits

    rows = re.findall(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|", EVERYTHING, re.M)
    table = {name: cell.strip() for name, cell in rows if name in {f.name for f in fields(ServiceLimits)}}
    defaults = ServiceLimits()
    assert set(table) == {f.name for f in fields(ServiceLimits)}
    for name, cell in table.items():
        number, unit = re.match(r"([\d ]+(?:\.\d+)?)\s*(MiB)?", cell).groups()
        value = float(number.replace(" ", "")) * (2**20 if unit else 1)
        assert value == getattr(defaults, name), (name, cell)


def test_the_readme_is_short_and_opens_with_what_a_newcomer_needs() -> None:
    """At most 300 lines; the set-up commands, what emovox predicts and how good it is come
    before the reference, and every page of the documentation is linked from it."""
    lines = README.splitlines()
    assert len(lines) <= 300
    first_screen = "\n".join(lines[:60])
    assert "emovox predict examples/*.flac" in first_screen and "neutral, happy, sad, angry" in first_screen
    assert "| Voices it trained on" in first_screen and "| A corpus it never heard" in first_screen
    assert sorted(NAV) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))  # every page in the site
    for page in NAV:
        assert f"docs/{page}" in README or page == "index.md", page


def test_the_headline_table_is_the_committed_results() -> None:
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "headline.py"), "--check"], check=False)
    assert check.returncode == 0, "results/benchmarks/headline.md is out of date: run scripts/headline.py"


def test_the_documentation_builds_without_a_warning(tmp_path) -> None:
    """`mkdocs build --strict`, as CI runs it: every link and anchor resolves, every API page
    imports."""
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EmotionPredictor" in (tmp_path / "site" / "reference" / "index.html").read_text()
