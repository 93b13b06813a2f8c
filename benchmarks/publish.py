"""The one way a benchmark hands over its table: printed, and written under results/ with a line
naming the script that wrote it (scripts/readme_tables.py copies the rest into the README)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def publish(text: str, out: Path | None, script: str) -> None:
    """Print `text`; when `out` is given, write it there headed by `<!-- written by SCRIPT -->`."""
    print(text)
    if out is None:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    name = Path(script).resolve().relative_to(ROOT).as_posix()
    out.write_text(f"<!-- written by {name} -->\n{text}\n")


def held_out_rows(
    results: Sequence[dict], lead: Sequence[str], columns: Sequence[str]
) -> tuple[list[str], dict]:
    """One Markdown row per result (its `lead` fields as they are, then its `columns` as
    percentages) and a bold mean row under them; with the means (percent) by column."""
    rows = [
        "| "
        + " | ".join(str(r[key]) for key in lead)
        + " | "
        + " | ".join(f"{100 * r[c]:.1f}" for c in columns)
        + " |"
        for r in results
    ]
    means = {c: 100 * float(np.mean([r[c] for r in results])) for c in columns}
    blanks = " |" * (len(lead) - 1)
    rows.append(f"| **mean** |{blanks} " + " | ".join(f"**{means[c]:.1f}**" for c in columns) + " |")
    return rows, means
