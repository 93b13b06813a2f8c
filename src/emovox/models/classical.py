"""The field's reference points: SVM and logistic regression on utterance features (scikit-learn).

C is chosen by speaker-grouped cross-validation inside the training speakers (one validation
speaker is too noisy a judge), then the model is refitted on all training speakers. The fitted
model is kept as plain arrays for pickle-free storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from emovox.errors import ConfigError
from emovox.training.metrics import uar

if TYPE_CHECKING:  # scikit-learn is imported where a model is fitted: loading one needs only numpy
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

GRIDS: dict[str, tuple[float, ...]] = {
    "svm": (0.1, 1.0, 10.0, 100.0),
    "logreg": (0.001, 0.01, 0.1, 1.0),
}
CLASSICAL_FEATURES = "egemaps"


@dataclass
class ClassicalResult:
    model: CalibratedClassifierCV | LogisticRegression
    chosen_c: float
    cv_uar_by_c: dict[float, float]


def make_classifier(name: str, c: float, seed: int, class_weight: str | None) -> SVC | LogisticRegression:
    """An unfitted classifier; the SVM gives no probabilities until `calibrated`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    if name == "svm":
        return SVC(C=c, kernel="rbf", gamma="scale", class_weight=class_weight, random_state=seed)
    if name == "logreg":
        return LogisticRegression(C=c, max_iter=2000, class_weight=class_weight)
    raise ConfigError(f"unknown classical model {name!r}; choose from {', '.join(GRIDS)}")


def fit_classical(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    seed: int = 0,
    balanced: bool = True,
    extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> ClassicalResult:
    """Choose C by mean UAR over speaker-grouped folds of the training speakers, then refit on all.

    `groups` holds each row's speaker. `extra` = (x, y, groups) rows used for fitting only, never
    for scoring (augmented copies: they join the inner training folds of their own speaker).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GroupKFold
    from sklearn.svm import SVC

    if name not in GRIDS:
        raise ConfigError(f"unknown classical model {name!r}; choose from {', '.join(GRIDS)}")
    folds = min(5, len(np.unique(groups)))
    if folds < 2:
        raise ConfigError("choosing C needs at least 2 training speakers")
    class_weight = "balanced" if balanced else None
    ex, ey, eg = extra if extra is not None else (x[:0], y[:0], groups[:0])
    scores: dict[float, float] = {}
    for c in GRIDS[name]:
        fold_scores = []
        for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
            keep = np.isin(eg, groups[train])
            model = make_classifier(name, c, seed, class_weight).fit(
                np.concatenate([x[train], ex[keep]]), np.concatenate([y[train], ey[keep]])
            )
            fold_scores.append(uar(y[test], model.predict(x[test])))
        scores[c] = float(np.mean(fold_scores))
    best = max(scores, key=lambda c: (scores[c], -c))
    final = make_classifier(name, best, seed, class_weight)
    y_all = np.concatenate([y, ey])
    if isinstance(final, SVC):  # Platt scaling on internal folds, for probabilities
        smallest = int(np.bincount(y_all)[np.unique(y_all)].min())
        if smallest < 2:
            raise ConfigError("an SVM needs at least 2 training clips per class to calibrate probabilities")
        final = CalibratedClassifierCV(final, ensemble=False, method="sigmoid", cv=min(5, smallest))
    final.fit(np.concatenate([x, ex]), y_all)
    return ClassicalResult(final, best, scores)


class LogisticModel:
    """A fitted multinomial logistic regression as arrays: softmax(x @ coef.T + intercept)."""

    name = "logreg"

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef, self.intercept = coef, intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"coef": self.coef, "intercept": self.intercept}


class SvmModel:
    """A fitted, sigmoid-calibrated RBF SVM as arrays, predicting as scikit-learn does: one-vs-one
    decisions, their one-vs-rest transform, a sigmoid per class, normalised."""

    name = "svm"

    def __init__(
        self,
        support_vectors: np.ndarray,
        dual_coef: np.ndarray,
        intercept: np.ndarray,
        n_support: np.ndarray,
        gamma: np.ndarray,
        sigmoid_a: np.ndarray,
        sigmoid_b: np.ndarray,
    ) -> None:
        self.support_vectors, self.dual_coef, self.intercept = support_vectors, dual_coef, intercept
        self.n_support, self.gamma = n_support.astype(np.int64), gamma
        self.sigmoid_a, self.sigmoid_b = sigmoid_a, sigmoid_b

    def decision_ovo(self, x: np.ndarray) -> np.ndarray:
        sq = (
            (x**2).sum(1)[:, None]
            + (self.support_vectors**2).sum(1)[None, :]
            - 2 * x @ self.support_vectors.T
        )
        kernel = np.exp(-float(self.gamma[0]) * np.maximum(sq, 0.0))
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        classes = len(self.n_support)
        out, pair = [], 0
        for i in range(classes):
            for j in range(i + 1, classes):
                si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
                value = kernel[:, si] @ self.dual_coef[j - 1, si] + kernel[:, sj] @ self.dual_coef[i, sj]
                out.append(value + self.intercept[pair])
                pair += 1
        return np.stack(out, axis=1)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        decision = self.decision_ovo(x)
        classes = len(self.n_support)
        votes = np.zeros((len(x), classes))
        confidence = np.zeros((len(x), classes))
        pair = 0
        for i in range(classes):
            for j in range(i + 1, classes):
                confidence[:, i] += decision[:, pair]
                confidence[:, j] -= decision[:, pair]
                votes[:, i] += decision[:, pair] > 0
                votes[:, j] += decision[:, pair] <= 0
                pair += 1
        scores = votes + confidence / (3 * (np.abs(confidence) + 1))
        p = 1.0 / (1.0 + np.exp(self.sigmoid_a * scores + self.sigmoid_b))
        total = p.sum(axis=1, keepdims=True)
        return np.divide(p, total, out=np.full_like(p, 1.0 / classes), where=total != 0)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"support_vectors": self.support_vectors, "dual_coef": self.dual_coef,
                "intercept": self.intercept, "n_support": self.n_support, "gamma": self.gamma,
                "sigmoid_a": self.sigmoid_a, "sigmoid_b": self.sigmoid_b}  # fmt: skip


ArrayModel = LogisticModel | SvmModel


def to_arrays(model: CalibratedClassifierCV | LogisticRegression) -> ArrayModel:
    """The fitted scikit-learn model as a pickle-free array model (same probabilities, tested)."""
    from sklearn.linear_model import LogisticRegression

    if isinstance(model, LogisticRegression):
        return LogisticModel(model.coef_.copy(), model.intercept_.copy())
    (calibrated,) = model.calibrated_classifiers_
    svc = calibrated.estimator
    if not np.array_equal(svc.classes_, np.arange(len(svc.classes_))):
        raise ConfigError("the SVM must be trained on class indices 0..n-1")
    return SvmModel(
        svc.support_vectors_.copy(), svc.dual_coef_.copy(), svc.intercept_.copy(), svc.n_support_.copy(),
        np.array([svc._gamma]), np.array([c.a_ for c in calibrated.calibrators]),
        np.array([c.b_ for c in calibrated.calibrators]),
    )  # fmt: skip


def from_arrays(name: str, arrays: dict[str, np.ndarray]) -> ArrayModel:
    if name == "logreg":
        return LogisticModel(arrays["coef"], arrays["intercept"])
    if name == "svm":
        return SvmModel(**arrays)
    raise ConfigError(f"unknown classical model {name!r}")
