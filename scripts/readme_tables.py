"""Copy the benchmark tables into the README and the documentation pages, so their figures are
exactly what the scripts wrote.

    python scripts/readme_tables.py [--check]

Each `<!-- include: PATH -->` ... `<!-- end include -->` block of README.md and docs/*.md (PATH
from the repository root) is replaced by the
file at PATH (its `<!-- written by ... -->` line and a leading `# title` dropped; a .txt file
as a code block). `--check` fails when the README
or a page is out of date instead of writing it (the test suite runs that).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- include: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end include -->)", re.S)


def render(readme: str) -> str:
    def include(match: re.Match[str]) -> str:
        lines = (ROOT / match["path"]).read_text().splitlines(keepends=True)
        lines = [line for line in lines if not line.startswith("<!-- written by")]
        if lines and lines[0].startswith("# "):  # a report's own title: the README has its own
            lines = lines[1:]
        body = "".join(lines).strip()
        if match["path"].endswith(".txt"):  # command output: shown as it printed
            body = f"```text\n{body}\n```"
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return BLOCK.sub(include, readme)


def documents() -> list[Path]:
    """The README and the documentation pages."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path in documents():
        current = path.read_text()
        starts, ends = current.count("<!-- include: "), current.count("<!-- end include -->")
        if starts != ends:  # a lost marker silently swallows, or never refreshes, the page's text
            raise SystemExit(f"{path.relative_to(ROOT)}: {starts} include markers, {ends} end markers")
        wanted = render(current)
        if wanted == current:
            continue
        stale.append(path.relative_to(ROOT).as_posix())
        if not args.check:
            path.write_text(wanted)
    if args.check and stale:
        print(
            f"tables differ from results/ in {', '.join(stale)}: run scripts/readme_tables.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
