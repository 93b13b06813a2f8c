"""Confidence and collapse on corpora the model never heard: what calibration that knows how far a
clip is from the training corpora, and label-prior correction on a batch, would give.

    python benchmarks/unheard_calibration.py [--held-out kor ...] [--table-only]

The protocol is benchmarks/seven_corpora.py's `crops` recipe (the bundled model's): leave one of
the seven corpora out, logistic regression on whisper+speaker of the other six, C as that
benchmark chose it on validation (leaving one training corpus out; results/benchmarks/
seven_corpora.json), so each run costs one fit per training corpus and a final one. Saved per
held-out corpus (results/benchmarks/unheard_calibration/HELD_OUT.npz, float16): the held-out
clips' probabilities (whole, adapted per speaker, adapted as one set-up), and the training
corpora's own leave-one-training-corpus-out probabilities (what the temperature is fitted on),
with each clip's novelty:

- novelty: how far a clip lies from the clips a model trained on, in the standardised feature
  space: the log of the mean squared whitened coordinate on the reference clips' 64 principal
  axes (a Mahalanobis distance), for a held-out clip against the six training corpora, for a
  training corpus's clip against the other five (the situation of its held-out probabilities).

Methods, each fitted without the held-out corpus's labels (on the training corpora's
leave-one-training-corpus-out probabilities, or on the other held-out runs), scored on the
held-out corpus (UAR among its labels, label-balanced share of the most frequent
prediction, ECE with 10 bins):

- `temperature`: one temperature (what the bundled model does);
- `novelty temperature`: T(x) = exp(a + b * novelty(x)), a and b by likelihood: a clip far from
  every training corpus is read with a softer temperature;
- `prior correction` (a batch: all of the held-out corpus's clips together, as `batch`): the
  batch's label priors estimated by EM on its own tempered probabilities (Saerens, Latinne and
  Decaestecker 2002) and its probabilities re-weighted by them over the training priors (uniform:
  the model trains class-balanced);
- `temperature of other held-out runs`: one temperature fitted on the other held-out corpora's
  runs (their clips, their labels; never this corpus's), a check on the first;
- `adapted per speaker` (`batch --adapt-by speaker`, timelines per speaker) and `adapted as one
  set-up` (`--adapt-by all`): each speaker's, or the whole corpus's, clips normalised with their
  own statistics, read with the same temperature; and adapted per speaker with a temperature of
  its own, fitted on the other held-out runs' adapted clips (adapted clips are right more often
  at the same confidence).

The plot (results/benchmarks/unheard_calibration.png) is the reliability of the held-out corpora
unadapted, adapted per speaker, and adapted with its own temperature.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from multicorpus import per_speaker
from publish import publish
from seven_corpora import CHANNEL, CROPS, SEVEN, load, rows_for, scores, training_labels

from emovox.evaluation.report import plot_reliability
from emovox.machine import describe_machine
from emovox.models.classical import among_present, fit_classical
from emovox.training.calibration import (
    TEMPERATURE_RANGE,
    negative_log_likelihood,
    reliability,
    with_temperature,
)
from emovox.training.scaler import Standardizer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks" / "unheard_calibration"
AXES = 64


def novelty(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log mean squared whitened coordinate of each row of x on `reference`'s top principal axes."""
    mean = reference.mean(axis=0)
    _, singular, axes = np.linalg.svd(reference - mean, full_matrices=False)
    scale = singular[:AXES] / np.sqrt(len(reference))
    z = (x - mean) @ axes[:AXES].T / scale
    return np.log(np.mean(z**2, axis=1))


def collect(held_out: str, loaded: dict, chosen_c: float) -> dict:
    start = time.perf_counter()
    train = [c for c in SEVEN if c != held_out]
    labels = training_labels(train, loaded)
    x, y, speakers, corpora = rows_for(train, loaded, labels, "clean")
    copies = [rows_for(train, loaded, labels, f"copy-{a.chain().key}")[0] for a in (CHANNEL, CROPS)]
    scaler = Standardizer.fit(x)
    sx = scaler(x)
    extra = (scaler(np.concatenate(copies)), np.tile(y, len(copies)), np.tile(speakers, len(copies)))
    result = fit_classical("logreg", sx, y, speakers, corpora=corpora, balance="corpus_class",
                           by_corpus=True, extra=extra, grid=(chosen_c,))  # fmt: skip
    tx, ty, test_speakers, _ = rows_for([held_out], loaded, labels, "clean")
    inner_novelty = np.empty(len(sx))
    for corpus in train:
        mine = corpora == corpus
        inner_novelty[mine] = novelty(sx[~mine], sx[mine])
    stx = scaler(tx)
    out = {
        "labels": np.array(labels),
        "temperature": np.array(result.temperature),
        "y": ty,
        "speakers": test_speakers,
        "whole": result.model.predict_proba(stx),
        "adapted": result.model.predict_proba(scaler(per_speaker(tx, test_speakers, scaler))),
        "adapted_all": result.model.predict_proba(scaler(per_speaker(tx, np.zeros(len(tx)), scaler))),
        "novelty": novelty(sx, stx),
        "inner_y": y,
        "inner_corpus": corpora,
        "inner": result.held_out_probabilities,
        "inner_novelty": inner_novelty,
        "minutes": np.array((time.perf_counter() - start) / 60),
        "machine": np.array(describe_machine()),
    }
    print(f"{held_out}: {len(ty)} clips, {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return out


def save(held_out: str, arrays: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    small = {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    np.savez_compressed(OUT / f"{held_out}.npz", **small)


def fit_novelty_temperature(
    probabilities: np.ndarray, y: np.ndarray, novelty: np.ndarray
) -> tuple[float, float]:
    """(a, b) of T = exp(a + b * novelty) by likelihood (Nelder-Mead from one temperature)."""
    from scipy.optimize import minimize

    centre = float(np.median(novelty))

    def loss(ab: np.ndarray) -> float:
        return negative_log_likelihood(
            with_temperature(probabilities, np.exp(ab[0] + ab[1] * (novelty - centre))), y
        )

    a, b = minimize(loss, np.zeros(2), method="Nelder-Mead").x
    return float(a - b * centre), float(b)


def prior_corrected(probabilities: np.ndarray, rounds: int = 100) -> np.ndarray:
    """A batch's probabilities re-weighted by its label priors, estimated by EM (Saerens et al.)
    from uniform training priors."""
    priors = np.full(probabilities.shape[1], 1 / probabilities.shape[1])
    for _ in range(rounds):
        weighted = probabilities * priors
        weighted /= weighted.sum(axis=1, keepdims=True)
        updated = weighted.mean(axis=0)
        if np.abs(updated - priors).max() < 1e-6:
            break
        priors = updated
    return weighted


def cross_temperature(runs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """One temperature by likelihood over other leave-one-corpus-out runs' held-out clips (each run
    among its own labels, each weighing the same)."""
    from scipy.optimize import minimize_scalar

    def loss(log_t: float) -> float:
        t = float(np.exp(log_t))
        return float(
            np.mean([negative_log_likelihood(among_present(with_temperature(p, t), y), y) for p, y in runs])
        )

    return float(np.exp(minimize_scalar(loss, bounds=np.log(TEMPERATURE_RANGE), method="bounded").x))


METHODS = (
    "temperature",
    "novelty temperature",
    "prior correction",
    "temperature of other held-out runs",
    "adapted per speaker",
    "adapted per speaker, temperature of other held-out runs",
    "adapted as one set-up",
)

PLOTTED = (  # what `predict` and `batch --adapt-by speaker` give, and the latter's own temperature
    "temperature",
    "adapted per speaker",
    "adapted per speaker, temperature of other held-out runs",
)


def as_float64(run: dict) -> dict:
    return {k: v.astype(np.float64) if v.dtype == np.float16 else v for k, v in run.items()}


def study(run: dict, others: list[dict]) -> dict:
    """Each method's scores on one saved held-out run; `others`: the other held-out corpora's runs
    (see the module)."""
    labels, y, temperature = [str(x) for x in run["labels"]], run["y"], float(run["temperature"])
    a, b = fit_novelty_temperature(run["inner"], run["inner_y"], run["inner_novelty"])
    crossed = {kind: cross_temperature([(o[kind], o["y"]) for o in others]) for kind in ("whole", "adapted")}
    out = {
        "temperature": with_temperature(run["whole"], temperature),
        "novelty temperature": with_temperature(run["whole"], np.exp(a + b * run["novelty"])),
        "prior correction": prior_corrected(with_temperature(run["whole"], temperature)),
        "temperature of other held-out runs": with_temperature(run["whole"], crossed["whole"]),
        "adapted per speaker": with_temperature(run["adapted"], temperature),
        "adapted per speaker, temperature of other held-out runs": with_temperature(
            run["adapted"], crossed["adapted"]
        ),
        "adapted as one set-up": with_temperature(run["adapted_all"], temperature),
    }
    scored = {  # `out` is tempered already: scored at T = 1
        k: {**scores(p, y, labels, 1.0), "bins": reliability(among_present(p, y), y)} for k, p in out.items()
    }
    return {"a": a, "b": b, "inner_temperature": temperature, "crossed": crossed, **scored}


def table(studies: dict[str, dict], machines: set[str]) -> str:
    lines = [*(f"Machine: {m}" for m in sorted(machines)), "",
             "Leave one of seven corpora out, per file unless a batch (see the script): UAR % / "
             "most frequent prediction's label-balanced share % / ECE, by method. Novelty temperature: "
             "T = exp(a + b x novelty), a and b fitted on the training corpora's leave-one-out "
             "probabilities.", "",
             "| held out | b | T: inner / other runs / other runs adapted | " + " | ".join(METHODS) + " |",
             "|---|---:|---|" + "---|" * len(METHODS)]  # fmt: skip
    for held_out in SEVEN:
        if held_out not in studies:
            continue
        r = studies[held_out]
        cells = [
            f"{100 * r[m]['uar']:.1f} / {100 * r[m]['top_share']:.0f} / {r[m]['ece']:.3f}" for m in METHODS
        ]
        temperatures = (
            f"{r['inner_temperature']:.2f} / {r['crossed']['whole']:.2f} / {r['crossed']['adapted']:.2f}"
        )
        lines.append(f"| {held_out} | {r['b']:.2f} | {temperatures} | " + " | ".join(cells) + " |")
    done = list(studies.values())
    mean = []
    for m in METHODS:
        uar, share, ece = ([r[m][k] for r in done] for k in ("uar", "top_share", "ece"))
        mean.append(f"**{100 * np.mean(uar):.1f}** / largest {100 * max(share):.0f} / "
                    f"mean {np.mean(ece):.3f}, largest {max(ece):.3f}")  # fmt: skip
    lines.append(f"| **{len(done)} held out** | | | " + " | ".join(mean) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(SEVEN), choices=SEVEN)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2, help="feature extraction processes")
    parser.add_argument(
        "--table-only", action="store_true", help="only rebuild the table from the saved runs"
    )
    args = parser.parse_args()
    if not args.table_only:
        chosen = {r["held_out"]: r["chosen_c"] for r in
                  json.loads((ROOT / "results" / "benchmarks" / "seven_corpora.json").read_text())
                  if r["recipe"] == "crops"}  # fmt: skip
        loaded = load(args.data, args.jobs)
        for held_out in args.held_out:
            save(held_out, collect(held_out, loaded, chosen[held_out]))
    runs = {held_out: as_float64(dict(np.load(OUT / f"{held_out}.npz"))) for held_out in SEVEN
            if (OUT / f"{held_out}.npz").is_file()}  # fmt: skip
    studies = {h: study(run, [r for k, r in runs.items() if k != h]) for h, run in runs.items()}
    plot_reliability({f"held-out corpora, {m}": {h: (r[m]["bins"], r[m]["ece"]) for h, r in studies.items()}
                      for m in PLOTTED}, OUT.with_suffix(".png"))  # fmt: skip
    publish(table(studies, {str(r["machine"]) for r in runs.values()}), OUT.with_suffix(".md"), __file__)


if __name__ == "__main__":
    main()
