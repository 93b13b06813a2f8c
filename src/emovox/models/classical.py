"""The field's reference points: SVM and logistic regression on utterance features (scikit-learn).

C is chosen by speaker-grouped cross-validation inside the training speakers (one validation
speaker is too noisy a judge), then the model is refitted on all training speakers. The fitted
model is kept as plain arrays for pickle-free storage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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
# C values tried when leaving corpora out: fewer (each costs one fit per training corpus) and
# small (a model meant to travel is kept simple)
CORPUS_GRIDS: dict[str, tuple[float, ...]] = {"svm": GRIDS["svm"], "logreg": (0.001, 0.01)}
CLASSICAL_FEATURES = "egemaps"


@dataclass
class ClassicalResult:
    model: CalibratedClassifierCV | LogisticRegression
    chosen_c: float
    cv_uar_by_c: dict[float, float]
    # fitted on the chosen C's held-out-group predictions (logistic regression; 1.0 for the SVM)
    temperature: float = 1.0
    calibration: dict[str, float] = field(default_factory=dict)
    # logistic regression: the chosen C's held-out-group probabilities of x's rows (what the
    # temperature was fitted on), for calibration studies; None for the SVM
    held_out_probabilities: np.ndarray | None = None


BALANCES = ("class", "corpus_class")


def balance_weights(y: np.ndarray, corpora: np.ndarray | None, balance: str) -> np.ndarray | None:
    """Per-row weights for `balance = "corpus_class"`: every class weighs the same in total and,
    inside a class, every corpus that has it weighs the same (a big corpus does not drown a
    small one). None for "class" (the classifier's own balanced class weights do it)."""
    if balance not in BALANCES:
        raise ConfigError(f"balance must be one of {BALANCES}, got {balance!r}")
    if balance == "class":
        return None
    if corpora is None or len(corpora) != len(y):
        raise ConfigError("corpus_class balance needs each row's corpus")
    cells: dict[tuple[str, int], int] = Counter(zip(corpora.tolist(), y.tolist(), strict=True))
    corpora_per_class = Counter(label for _, label in cells)
    classes = len(corpora_per_class)
    weights = np.array([1.0 / (classes * corpora_per_class[lab] * cells[(c, lab)])
                        for c, lab in zip(corpora.tolist(), y.tolist(), strict=True)])  # fmt: skip
    return weights * len(y) / weights.sum()


def among_present(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probabilities renormalised over the classes present in `y` (a held-out corpus is judged
    among its own labels), others set to 0."""
    present = np.zeros(probabilities.shape[1], dtype=bool)
    present[np.unique(y)] = True
    kept = np.where(present, probabilities, 0.0)
    return kept / kept.sum(axis=1, keepdims=True)


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
    corpora: np.ndarray | None = None,
    balance: str = "class",
    by_corpus: bool = False,
    grid: tuple[float, ...] | None = None,
) -> ClassicalResult:
    """Choose C by mean UAR over grouped folds of the training data, then refit on all.

    `groups` holds each row's speaker. `extra` = (x, y, groups) rows used for fitting only, never
    for scoring (augmented copies of the rows of x, in order: they join the inner training folds
    of their own speaker). `corpora`: each row's corpus, for `balance = "corpus_class"` and for
    `by_corpus`, which chooses C leaving one training corpus out at a time (each judged among
    its own labels) rather than by speaker-grouped folds: the choice then favours a model that
    travels to a corpus it did not train on. Logistic regression's temperature is fitted on the
    chosen C's held-out predictions (see `emovox.training.calibration`). `grid`: the C values to
    try, instead of the model's own (one value: C given, its held-out predictions still made).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
    from sklearn.svm import SVC

    from emovox.training.calibration import expected_calibration_error, fit_temperature, with_temperature

    if name not in GRIDS:
        raise ConfigError(f"unknown classical model {name!r}; choose from {', '.join(GRIDS)}")
    if by_corpus:
        if corpora is None or len(np.unique(corpora)) < 3:
            raise ConfigError("choosing C by corpus needs at least 3 training corpora")
        groups, splitter = corpora, LeaveOneGroupOut()
    else:
        folds = min(5, len(np.unique(groups)))
        if folds < 2:
            raise ConfigError("choosing C needs at least 2 training speakers")
        splitter = GroupKFold(n_splits=folds)
    ex, ey, eg = extra if extra is not None else (x[:0], y[:0], groups[:0])
    copies = len(ex) // max(len(x), 1)
    if by_corpus:  # a copy joins the inner training folds of its own corpus
        eg = np.tile(corpora, copies)
    all_weights = balance_weights(
        np.concatenate([y, ey]), None if corpora is None else np.tile(corpora, copies + 1), balance
    )
    class_weight = "balanced" if balanced and all_weights is None else None
    weights, extra_weights = (
        (None, None) if all_weights is None else (all_weights[: len(y)], all_weights[len(y) :])
    )
    n_classes = int(np.concatenate([y, ey]).max()) + 1
    scores: dict[float, float] = {}
    held_out: dict[float, np.ndarray] = {}
    if grid is not None and (not grid or min(grid) <= 0):
        raise ConfigError(f"grid must hold positive C values, got {grid!r}")
    for c in grid or (CORPUS_GRIDS if by_corpus else GRIDS)[name]:
        fold_scores = []
        probabilities = np.zeros((len(y), n_classes))
        for train, test in splitter.split(x, y, groups):
            keep = np.isin(eg, groups[train])
            fit_weights = None if weights is None else np.concatenate([weights[train], extra_weights[keep]])
            model = make_classifier(name, c, seed, class_weight).fit(
                np.concatenate([x[train], ex[keep]]),
                np.concatenate([y[train], ey[keep]]),
                sample_weight=fit_weights,
            )
            if name == "logreg":
                p = np.zeros((len(test), n_classes))
                p[:, model.classes_] = model.predict_proba(x[test])
                probabilities[test] = among_present(p, y[test]) if by_corpus else p
                predicted = probabilities[test].argmax(axis=1)
            else:
                predicted = model.predict(x[test])
            fold_scores.append(uar(y[test], predicted))
        scores[c] = float(np.mean(fold_scores))
        held_out[c] = probabilities
    best = max(scores, key=lambda c: (scores[c], -c))
    final = make_classifier(name, best, seed, class_weight)
    y_all = np.concatenate([y, ey])
    if isinstance(final, SVC):  # Platt scaling on internal folds, for probabilities
        smallest = int(np.bincount(y_all)[np.unique(y_all)].min())
        if smallest < 2:
            raise ConfigError("an SVM needs at least 2 training clips per class to calibrate probabilities")
        final = CalibratedClassifierCV(final, ensemble=False, method="sigmoid", cv=min(5, smallest))
    final.fit(np.concatenate([x, ex]), y_all, sample_weight=all_weights)
    if name != "logreg":
        return ClassicalResult(final, best, scores)
    temperature = fit_temperature(held_out[best], y)
    calibration = {
        "ece_before": expected_calibration_error(held_out[best], y),
        "ece_after": expected_calibration_error(with_temperature(held_out[best], temperature), y),
    }
    return ClassicalResult(final, best, scores, temperature, calibration, held_out[best])


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
