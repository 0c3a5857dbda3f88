"""Score a classified test set (pure: no I/O): accuracy, per-tag precision, recall and AP at a
probability threshold, the confusion matrix (multiclass) or per-tag counts (multilabel), and
the misclassified images. scikit-learn computes the figures.

Definitions (docs/reports.md):
* multiclass: an image's prediction is its most probable tag (top-1); accuracy is the share of
  images whose top-1 tag is their label; the confusion matrix counts (label, top-1) pairs.
* multilabel: an image's prediction is every tag at or above the threshold; accuracy is the
  share of images whose predicted set equals their labels exactly.
* per tag, in both: a tag is predicted for an image when its probability is at or above the
  threshold; precision, recall (0 when undefined) and AP (the area under the tag's
  precision-recall curve over the whole ranking; None when no test image carries the tag).
* overall precision and recall are micro-averaged over tags; overall AP is the mean of the
  defined per-tag APs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, multilabel_confusion_matrix

from cvspec.gates import Evaluation, Metrics

Ranked = tuple[tuple[str, float], ...]
"""(tag, probability) pairs, most probable first."""


@dataclass(frozen=True)
class Classified:
    """One test image, its labels and the service's answer."""

    path: str
    labels: tuple[str, ...]
    predictions: Ranked


@dataclass(frozen=True)
class TagScore:
    tag: str
    support: int  # test images labelled with the tag
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    precision: float
    recall: float
    average_precision: float | None


@dataclass(frozen=True)
class Score:
    classification: str  # "multiclass" | "multilabel"
    threshold: float
    images: int
    correct: int
    tags: tuple[str, ...]  # the confusion matrix's rows and columns, sorted
    per_tag: tuple[TagScore, ...]
    confusion: tuple[tuple[int, ...], ...]  # multiclass: [label][top-1]; multilabel: ()
    misclassified: tuple[Classified, ...]

    @property
    def accuracy(self) -> float:
        return self.correct / self.images if self.images else 0.0

    def overall(self) -> Metrics:
        tp = sum(t.true_positives for t in self.per_tag)
        fp = sum(t.false_positives for t in self.per_tag)
        fn = sum(t.false_negatives for t in self.per_tag)
        aps = [t.average_precision for t in self.per_tag if t.average_precision is not None]
        return Metrics(_ratio(tp, tp + fp), _ratio(tp, tp + fn), float(np.mean(aps)) if aps else 0)

    def evaluation(self, iteration: str) -> Evaluation:
        """The figures as an Evaluation, for the spec's quality gates."""
        per_tag = tuple(
            (t.tag, Metrics(t.precision, t.recall, t.average_precision or 0.0))
            for t in self.per_tag
        )
        return Evaluation(iteration, self.threshold, self.overall(), per_tag)


def predicted(item: Classified, classification: str, threshold: float) -> tuple[str, ...]:
    """The tags an image is predicted to carry (see the module's definitions)."""
    if classification == "multiclass":
        return (item.predictions[0][0],) if item.predictions else ()
    return tuple(sorted(tag for tag, p in item.predictions if p >= threshold))


def score(
    items: Sequence[Classified], tags: Sequence[str], classification: str, threshold: float
) -> Score:
    """Score `items` over `tags` (every tag of the project, and every label)."""
    names = tuple(sorted(set(tags).union(*(i.labels for i in items))))
    truth = _indicator([i.labels for i in items], names)
    probs = np.array(
        [[dict(i.predictions).get(name, 0.0) for name in names] for i in items], dtype=float
    ).reshape(len(items), len(names))
    per_tag = _per_tag(names, truth, probs, threshold)
    guesses = [predicted(i, classification, threshold) for i in items]
    wrong = tuple(i for i, g in zip(items, guesses, strict=True) if set(g) != set(i.labels))
    confusion: tuple[tuple[int, ...], ...] = ()
    if classification == "multiclass" and items:
        matrix = confusion_matrix(
            [i.labels[0] for i in items], [g[0] if g else "" for g in guesses], labels=names
        )
        confusion = tuple(tuple(int(v) for v in row) for row in matrix)
    return Score(
        classification=classification,
        threshold=threshold,
        images=len(items),
        correct=len(items) - len(wrong),
        tags=names,
        per_tag=per_tag,
        confusion=confusion,
        misclassified=wrong,
    )


def _per_tag(
    names: tuple[str, ...], truth: np.ndarray, probs: np.ndarray, threshold: float
) -> tuple[TagScore, ...]:
    if not len(truth):
        return tuple(TagScore(n, 0, 0, 0, 0, 0, 0.0, 0.0, None) for n in names)
    counts = multilabel_confusion_matrix(truth, (probs >= threshold).astype(int))
    found = []
    for k, name in enumerate(names):
        (tn, fp), (fn, tp) = counts[k]
        support = int(truth[:, k].sum())
        ap = float(average_precision_score(truth[:, k], probs[:, k])) if support else None
        found.append(
            TagScore(
                name,
                support,
                int(tp),
                int(fp),
                int(fn),
                int(tn),
                _ratio(tp, tp + fp),
                _ratio(tp, tp + fn),
                ap,
            )
        )
    return tuple(found)


def _indicator(labels: Sequence[tuple[str, ...]], names: tuple[str, ...]) -> np.ndarray:
    index = {name: k for k, name in enumerate(names)}
    matrix = np.zeros((len(labels), len(names)), dtype=int)
    for row, tags in enumerate(labels):
        for tag in tags:
            matrix[row, index[tag]] = 1
    return matrix


def _ratio(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0
