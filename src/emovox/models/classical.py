"""The field's reference points: SVM and logistic regression on utterance features (scikit-learn).

Hyper-parameters are chosen on the validation speakers, then the model is refitted on
training + validation data. The fitted model is kept as plain arrays for pickle-free storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from emovox.errors import ConfigError
from emovox.training.metrics import uar

GRIDS: dict[str, tuple[float, ...]] = {
    "svm": (0.1, 1.0, 10.0, 100.0),
    "logreg": (0.001, 0.01, 0.1, 1.0),
}
CLASSICAL_FEATURES = "egemaps"


@dataclass
class ClassicalResult:
    model: CalibratedClassifierCV | LogisticRegression
    chosen_c: float
    val_uar_by_c: dict[float, float]


def make_classifier(name: str, c: float, seed: int, class_weight: str | None) -> SVC | LogisticRegression:
    """An unfitted classifier; the SVM gives no probabilities until `calibrated`."""
    if name == "svm":
        return SVC(C=c, kernel="rbf", gamma="scale", class_weight=class_weight, random_state=seed)
    if name == "logreg":
        return LogisticRegression(C=c, max_iter=2000, class_weight=class_weight)
    raise ConfigError(f"unknown classical model {name!r}; choose from {', '.join(GRIDS)}")


def fit_classical(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    seed: int = 0,
    balanced: bool = True,
) -> ClassicalResult:
    """Pick C on validation UAR, then refit on train + validation with that C."""
    class_weight = "balanced" if balanced else None
    scores = {}
    for c in GRIDS.get(name, ()):
        model = make_classifier(name, c, seed, class_weight).fit(x_train, y_train)
        scores[c] = uar(y_val, model.predict(x_val))
    if not scores:
        make_classifier(name, 1.0, seed, class_weight)  # raises the unknown-model error
    best = max(scores, key=lambda c: (scores[c], -c))
    final = make_classifier(name, best, seed, class_weight)
    y_all = np.concatenate([y_train, y_val])
    if isinstance(final, SVC):  # Platt scaling on internal folds, for probabilities
        smallest = int(np.bincount(y_all)[np.unique(y_all)].min())
        if smallest < 2:
            raise ConfigError("an SVM needs at least 2 training clips per class to calibrate probabilities")
        final = CalibratedClassifierCV(final, ensemble=False, method="sigmoid", cv=min(5, smallest))
    final.fit(np.concatenate([x_train, x_val]), y_all)
    return ClassicalResult(final, best, scores)
