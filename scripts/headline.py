"""The README's headline table, from the committed results the benchmarks and the bundled model's
evaluation wrote (nothing typed by hand): how good on voices it trained on, on corpora it never
heard, and how fast.

    python scripts/headline.py [--check]

Reads results/runs/default/report.json (speaker-independent folds over the seven training corpora),
results/benchmarks/seven_corpora.json (each corpus held out in turn, per file, whole and cut to the
first second of speech, without and with per-speaker adaptation: the rows of the recipe the
bundled model's metadata names), results/benchmarks/conversations.json (turn UAR of
conversations) and the speed tables of benchmarks/inference.py, benchmarks/live_capacity.py and
benchmarks/conversations.py; writes results/benchmarks/headline.md. `--check` fails when that
file is out of date (the tests run it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
BUNDLED = ROOT / "src" / "emovox" / "bundled" / "default" / "metadata.json"
OUT = RESULTS / "benchmarks" / "headline.md"


def table_cell(path: Path, row_starts: str) -> str:
    """The last cell of the Markdown table row of `path` that begins with `row_starts`."""
    for line in path.read_text().splitlines():
        if line.startswith(f"| {row_starts}"):
            return line.strip("| ").split(" | ")[-1]
    raise SystemExit(f"{path}: no row starting {row_starts!r}")


def served_streams(path: Path) -> int:
    """The most live streams at once that benchmarks/live_capacity.py found served."""
    counts = [int(m[1]) for m in re.finditer(r"^\| (\d+) \|.*\| yes \|$", path.read_text(), re.M)]
    return max(counts)


def render() -> str:
    report = json.loads((RESULTS / "runs" / "default" / "report.json").read_text())
    runs = json.loads((RESULTS / "benchmarks" / "seven_corpora.json").read_text())
    recipe = json.loads(BUNDLED.read_text())["leave_one_corpus_out"]["recipe"]  # set by `emovox card`
    held_out = [run for run in runs if run["recipe"] == recipe]
    per_file, first_second, adapted = (
        100 * sum(run[part]["uar"] for run in held_out) / len(held_out)
        for part in ("whole", "first_second", "adapted")
    )
    conversations = json.loads((RESULTS / "benchmarks" / "conversations.json").read_text())
    emotion, timing = conversations["emotion"], conversations["timing"]
    turns = 100 * sum(r["per speaker"] for r in emotion) / len(emotion)
    clip = table_cell(
        RESULTS / "benchmarks" / "inference.md", "predict, bundled default (whisper+speaker), onnx"
    )
    streams = served_streams(RESULTS / "benchmarks" / "live_capacity.md")
    corpora = report["corpus"].replace("+", ", ")
    chance = sorted(100 / len(run["labels"]) for run in held_out)
    rows = [
        ("Voices it trained on (speaker-independent: 5 folds of whole speakers over "
         f"{corpora}; {len(report['labels'])} emotions)",
         f"UAR {100 * report['uar_mean']:.1f} ± {100 * report['uar_std']:.1f} %, "
         f"accuracy {100 * report['wa_mean']:.1f} ± {100 * report['wa_std']:.1f} %"),
        (f"A corpus it never heard (each of the {len(held_out)} left out in turn, per file)",
         f"UAR {per_file:.1f} % (chance {chance[0]:.0f}-{chance[-1]:.0f} %), {adapted:.1f} % with each "
         f"speaker's clips normalising themselves, {first_second:.1f} % on the first second of speech"),
        ("Conversations of unheard voices (speakers found, each normalised; heads of the six-corpus recipe)",
         f"turn UAR {turns:.1f} %"),
        ("One clip on one core (onnxruntime)", clip),
        ("A 10-minute two-speaker recording, timeline with speakers, one core",
         f"{timing['timeline_seconds']:.1f} s"),
        ("Live microphone streams one 2-core machine serves", f"{streams}"),
    ]  # fmt: skip
    lines = ["| | bundled model |", "|---|---|", *(f"| {what} | {value} |" for what, value in rows)]
    return "<!-- written by scripts/headline.py -->\n" + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    wanted = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != wanted:
            print(f"{OUT} is out of date: run scripts/headline.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(wanted)
    print(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
