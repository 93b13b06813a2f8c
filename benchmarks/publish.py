"""The one way a benchmark hands over its table: printed, and written under results/ with a line
naming the script that wrote it (scripts/readme_tables.py copies the rest into the README)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def publish(text: str, out: Path | None, script: str) -> None:
    """Print `text`; when `out` is given, write it there headed by `<!-- written by SCRIPT -->`."""
    print(text)
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    name = Path(script).resolve().relative_to(ROOT).as_posix()
    out.write_text(f"<!-- written by {name} -->\n{text}\n")
