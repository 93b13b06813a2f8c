"""Score a saved model on a labelled corpus (e.g. a corpus it never saw: cross-corpus tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from emovox.artifact.store import ModelArtifact
from emovox.corpora import read_corpus, to_shared
from emovox.errors import CorpusError
from emovox.features import extract
from emovox.training.metrics import classification_report


def evaluate_on_corpus(
    artifact: ModelArtifact, corpus: str, root: str | Path, labels: str = "native", jobs: int | None = None
) -> dict[str, Any]:
    """UAR, WA, per-class scores on the clips whose label the model knows; the rest are counted."""
    manifest = read_corpus(corpus, root)
    if labels == "shared":
        manifest = to_shared(manifest)
    known = [i for i, u in enumerate(manifest) if u.label in artifact.labels]
    if not known:
        raise CorpusError(
            f"none of {corpus}'s labels {manifest.label_order} are among the model's {artifact.labels}"
            + ("" if labels == "shared" else "; try --labels shared")
        )
    subset = manifest.subset(known)
    table = extract(subset, [artifact.extractor], audio=artifact.audio, jobs=jobs)[artifact.extractor.name]
    y = np.array([artifact.labels.index(u.label) for u in subset])
    probabilities = artifact.predict_proba_many([table[i] for i in range(len(table))])
    report = classification_report(y, probabilities.argmax(axis=1), artifact.labels)
    return {"corpus": corpus, "clips": len(subset), "excluded": len(manifest) - len(subset), **report}
