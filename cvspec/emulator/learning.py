"""The emulator's learning core: training, prediction and evaluation of image classifiers.

Owns the import surface the emulator server codes against:

* ``Example``, ``extract_features`` and ``FEATURE_VERSION`` (features live in ``features.py``);
* ``train`` fits a linear classifier on standardised features, each feature group given the same
  total weight (see ``features.FEATURE_GROUPS``) -- softmax (multinomial logistic
  regression) for multiclass projects, independent one-vs-rest logistic regressions for
  multilabel projects; the negative tag is a trainable class like any other -- and computes
  held-out probabilities for every training image by stratified k-fold cross-validation;
* ``predict`` restores a serialised model (cached by digest) and returns a probability per tag;
* ``evaluate`` turns held-out probabilities into Custom Vision's per-tag and overall precision,
  recall and average precision at a threshold.

Everything is deterministic: examples are sorted by image id, folds are assigned without
shuffling, and models are serialised in a fixed binary layout (no timestamps, no pickle).

The first call to ``train`` limits BLAS to one thread for the whole process: the matrices here
are small, and a multi-threaded OpenBLAS on a busy 2-core machine (the server handling requests
while it trains) spins and runs 10-20 times slower. One thread also makes results independent of
the number of cores.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from cvspec.emulator.features import FEATURE_GROUPS, FEATURE_VERSION, extract_features

__all__ = [
    "FEATURE_VERSION",
    "Example",
    "Performance",
    "TagPerformance",
    "TrainingResult",
    "evaluate",
    "extract_features",
    "model_feature_version",
    "predict",
    "train",
]

MAX_FOLDS = 5
C_REGULARISATION = 1.0
MAX_ITER = 300
_MAGIC = b"CVSPECLM1\n"
_ABSENT_LOGIT = -30.0  # logit of a class with no training examples (probability ~ 0)


@dataclass(frozen=True)
class Example:
    """One training image: its id, feature vector and the tags it carries."""

    image_id: str
    features: np.ndarray
    tag_ids: frozenset[str]


@dataclass(frozen=True)
class TrainingResult:
    """A serialised model plus cross-validated probabilities: image_id -> tag_id -> probability."""

    model: bytes
    held_out: dict[str, dict[str, float]]


@dataclass(frozen=True)
class TagPerformance:
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


@dataclass(frozen=True)
class Performance:
    per_tag: dict[str, TagPerformance]
    precision: float
    precision_std_deviation: float
    recall: float
    recall_std_deviation: float
    average_precision: float


# --------------------------------------------------------------------------- BLAS threads

_blas_lock = threading.Lock()
_blas_limited = False


def _limit_blas_threads() -> None:
    """Limit BLAS to one thread, once per process (see the module docstring)."""
    global _blas_limited
    if _blas_limited:
        return
    with _blas_lock:
        if not _blas_limited:
            threadpool_limits(limits=1, user_api="blas")
            _blas_limited = True


# --------------------------------------------------------------------------- linear model


@dataclass(frozen=True)
class _LinearModel:
    """Standardisation + linear scores; softmax (multiclass) or sigmoid (multilabel) on top."""

    multilabel: bool
    tags: tuple[str, ...]
    feature_version: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (n_tags, n_features)
    bias: np.ndarray  # (n_tags,)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (n_samples, n_tags) for a feature matrix (n_samples, n_features)."""
        z = ((x - self.mean) / self.scale) @ self.weights.T + self.bias
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def group_weights(n_features: int) -> np.ndarray:
    """Per-feature weights giving every feature group the same total weight (RMS weight 1).

    Vectors that do not have the image-feature layout (e.g. synthetic ones) are left unweighted.
    """
    sizes = [size for _, size in FEATURE_GROUPS]
    if n_features != sum(sizes):
        return np.ones(n_features)
    weights = np.concatenate([np.full(size, 1.0 / np.sqrt(size)) for size in sizes])
    return weights / np.sqrt(np.mean(weights**2))


SCALE_FLOOR = 0.3
"""A feature's scale is at least this fraction of its group's pooled spread: a feature that
barely varies in the training set (the texture of near-solid images, a few noisy pixels) is
not blown up to unit variance, where a linear model fitted on a dozen images would take that
noise for a signal (measured: 5 of 30 id orders misclassified a held-out blue image as red
with probability 0.999 without the floor, none with it; the fruit and tree photos keep their
figures)."""


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and effective scale: z = (x - mean) / scale is standardised and group-weighted."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    sizes = [size for _, size in FEATURE_GROUPS]
    if x.shape[1] == sum(sizes):
        start = 0
        for size in sizes:
            group = slice(start, start + size)
            pooled = float(np.sqrt(np.mean(scale[group] ** 2)))
            scale[group] = np.maximum(scale[group], SCALE_FLOOR * pooled)
            start += size
    scale[scale < 1e-8] = 1.0
    return mean, scale / group_weights(x.shape[1])


def _logistic(z: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
    clf = LogisticRegression(
        C=C_REGULARISATION, solver="newton-cg", max_iter=MAX_ITER, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # many tags with few images each is a normal classification project, not a regression
        warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
        clf.fit(z, y)
    return clf


def _fit_multiclass(
    z: np.ndarray, y: np.ndarray, n_tags: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax weights over all tags; tags absent from ``y`` get a very low constant logit."""
    weights = np.zeros((n_tags, z.shape[1]))
    bias = np.full(n_tags, _ABSENT_LOGIT)
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return weights, bias
    clf = _logistic(z, y, seed)
    if len(present) == 2:  # sklearn's binary form: P(present[1]) = sigmoid(w.x + b)
        half_w, half_b = clf.coef_[0] / 2.0, clf.intercept_[0] / 2.0
        weights[present[0]], bias[present[0]] = -half_w, -half_b
        weights[present[1]], bias[present[1]] = half_w, half_b
    else:
        weights[present], bias[present] = clf.coef_, clf.intercept_
    return weights, bias


def _fit_multilabel(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent binary logistic regressions, one per tag column of the 0/1 matrix ``y``.

    Tags whose column is constant get a constant logit; the others are fitted together (the
    objective is a sum of independent problems) so each L-BFGS step costs one matrix product
    whatever the number of tags.
    """
    n_tags = y.shape[1]
    weights = np.zeros((n_tags, z.shape[1]))
    bias = np.zeros(n_tags)
    positives = y.sum(axis=0)
    bias[positives == 0] = _ABSENT_LOGIT
    bias[positives == len(y)] = -_ABSENT_LOGIT
    varying = np.flatnonzero((positives > 0) & (positives < len(y)))
    if len(varying):
        weights[varying], bias[varying] = _independent_logistic(z, y[:, varying])
    return weights, bias


def _independent_logistic(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimise, for every column t, C * sum(log-loss_t) + |w_t|^2 / 2 (scikit-learn's L2
    logistic regression objective, intercept unpenalised) with one joint L-BFGS run."""
    n_features, n_tags = z.shape[1], y.shape[1]
    signs = 2.0 * y - 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[: n_tags * n_features].reshape(n_tags, n_features)
        margins = signs * (z @ w.T + theta[n_tags * n_features :])
        loss = float(np.logaddexp(0.0, -margins).sum())
        slope = -signs * expit(-margins)  # d loss / d logit
        grad_w = C_REGULARISATION * (slope.T @ z) + w
        grad_b = C_REGULARISATION * slope.sum(axis=0)
        value = C_REGULARISATION * loss + 0.5 * float((w**2).sum())
        return value, np.concatenate([grad_w.ravel(), grad_b])

    start = np.zeros(n_tags * (n_features + 1))
    result = minimize(
        objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-6}
    )
    theta = result.x
    return theta[: n_tags * n_features].reshape(n_tags, n_features), theta[n_tags * n_features :]


def _fit(
    x: np.ndarray, y: np.ndarray, tags: tuple[str, ...], multilabel: bool, seed: int
) -> _LinearModel:
    mean, scale = _standardiser(x)
    z = (x - mean) / scale
    if multilabel:
        weights, bias = _fit_multilabel(z, y)
    else:
        weights, bias = _fit_multiclass(z, y, len(tags), seed)
    return _LinearModel(multilabel, tags, FEATURE_VERSION, mean, scale, weights, bias)


# --------------------------------------------------------------------------- serialisation

_ARRAYS = ("mean", "scale", "weights", "bias")


def _dump(model: _LinearModel) -> bytes:
    """Fixed binary layout: magic, header length, JSON header, float64 arrays in order."""
    arrays = {name: np.ascontiguousarray(getattr(model, name), dtype="<f8") for name in _ARRAYS}
    header = {
        "feature_version": model.feature_version,
        "multilabel": model.multilabel,
        "tags": list(model.tags),
        "shapes": {name: list(a.shape) for name, a in arrays.items()},
    }
    head = json.dumps(header, sort_keys=True).encode()
    body = b"".join(arrays[name].tobytes() for name in _ARRAYS)
    return _MAGIC + struct.pack("<I", len(head)) + head + body


def _load(model: bytes) -> _LinearModel:
    if not model.startswith(_MAGIC):
        raise ValueError("not a cvspec emulator model")
    stream = io.BytesIO(model[len(_MAGIC) :])
    (size,) = struct.unpack("<I", stream.read(4))
    header = json.loads(stream.read(size))
    arrays = {}
    for name in _ARRAYS:
        shape = tuple(header["shapes"][name])
        count = int(np.prod(shape)) if shape else 1
        arrays[name] = np.frombuffer(stream.read(8 * count), dtype="<f8").reshape(shape)
    return _LinearModel(
        bool(header["multilabel"]),
        tuple(header["tags"]),
        str(header["feature_version"]),
        **arrays,
    )


@lru_cache(maxsize=32)
def _load_cached(digest: str, model: bytes) -> _LinearModel:
    del digest  # part of the cache key only
    return _load(model)


def _restore(model: bytes) -> _LinearModel:
    return _load_cached(hashlib.sha256(model).hexdigest(), model)


# --------------------------------------------------------------------------- folds


def _stratum(tags: frozenset[str], counts: dict[str, int]) -> str:
    """Stratification key of an image: its rarest tag (ties broken by tag id)."""
    return min(tags, key=lambda t: (counts[t], t)) if tags else ""


def fold_assignment(labels: dict[str, frozenset[str]]) -> dict[str, int]:
    """Deterministic stratified k-fold assignment, k = min(5, smallest tag count), at least 2.

    ``labels`` maps image id -> tags (restricted to the trained tags). Images are taken in
    sorted id order and folds are assigned without shuffling, so ``train`` and ``evaluate``
    reproduce the same folds from the same labels.
    """
    ids = sorted(labels)
    if len(ids) < 2:
        return {}
    counts: dict[str, int] = {}
    for image_id in ids:
        for t in labels[image_id]:
            counts[t] = counts.get(t, 0) + 1
    strata = [_stratum(labels[i], counts) for i in ids]
    smallest = min(counts.values()) if counts else len(ids)
    k = min(MAX_FOLDS, len(ids), max(2, smallest))
    stratum_sizes = [strata.count(s) for s in set(strata)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if max(stratum_sizes) >= k:
            splits = StratifiedKFold(n_splits=k).split(np.zeros(len(ids)), strata)
        else:
            splits = KFold(n_splits=k).split(np.zeros(len(ids)))
        fold_of: dict[str, int] = {}
        for fold, (_, test_idx) in enumerate(splits):
            for i in test_idx:
                fold_of[ids[i]] = fold
    return fold_of


# --------------------------------------------------------------------------- train / predict


def _prepare(
    examples: Sequence[Example], tag_ids: Sequence[str], negative_tag_id: str | None
) -> tuple[list[Example], tuple[str, ...], dict[str, frozenset[str]]]:
    """Sorted examples that carry at least one trained tag, the tag order, and their labels."""
    trained = set(tag_ids) | ({negative_tag_id} if negative_tag_id else set())
    tags = tuple(sorted(trained))
    kept = sorted((e for e in examples if e.tag_ids & trained), key=lambda e: e.image_id)
    labels: dict[str, frozenset[str]] = {}
    for e in kept:
        own = e.tag_ids & trained
        if negative_tag_id and len(own) > 1:  # negative never co-occurs with a regular tag
            own = own - {negative_tag_id}
        labels[e.image_id] = own
    return kept, tags, labels


def _targets(
    ids: Sequence[str], labels: dict[str, frozenset[str]], tags: tuple[str, ...], multilabel: bool
) -> np.ndarray:
    index = {t: i for i, t in enumerate(tags)}
    if multilabel:
        y = np.zeros((len(ids), len(tags)), dtype=np.int64)
        for row, image_id in enumerate(ids):
            for t in labels[image_id]:
                y[row, index[t]] = 1
        return y
    return np.array([index[min(labels[i])] for i in ids], dtype=np.int64)


def _cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    ids: list[str],
    labels: dict[str, frozenset[str]],
    tags: tuple[str, ...],
    multilabel: bool,
    seed: int,
) -> dict[str, dict[str, float]]:
    fold_of = fold_assignment(labels)
    folds = np.array([fold_of.get(i, -1) for i in ids])
    held_out: dict[str, dict[str, float]] = {}
    for fold in sorted(set(folds.tolist()) - {-1}):
        test = folds == fold
        model = _fit(x[~test], y[~test], tags, multilabel, seed)
        probs = model.probabilities(x[test])
        for image_id, row in zip(np.array(ids)[test], probs, strict=True):
            held_out[str(image_id)] = {t: float(p) for t, p in zip(tags, row, strict=True)}
    return held_out


def train(
    examples: Sequence[Example],
    tag_ids: Sequence[str],
    multilabel: bool,
    negative_tag_id: str | None,
    seed: int = 0,
) -> TrainingResult:
    """Fit a classifier on ``examples`` and cross-validate it.

    Only the tags in ``tag_ids`` (plus the negative tag, if given) are trained; examples with none
    of them are ignored. ``held_out`` has, for every kept example, the probability of every tag
    from a model that never saw that example. The solvers draw no random numbers, so ``seed``
    changes nothing today; it is kept so that a randomised model can be added without changing
    the interface.
    """
    _limit_blas_threads()
    kept, tags, labels = _prepare(examples, tag_ids, negative_tag_id)
    if not kept:
        raise ValueError("no training examples carry any of the trained tags")
    ids = [e.image_id for e in kept]
    x = np.stack([np.asarray(e.features, dtype=np.float64) for e in kept])
    y = _targets(ids, labels, tags, multilabel)
    model = _fit(x, y, tags, multilabel, seed)
    held_out = _cross_validate(x, y, ids, labels, tags, multilabel, seed)
    return TrainingResult(model=_dump(model), held_out=held_out)


def predict(model: bytes, features: np.ndarray) -> dict[str, float]:
    """Probability of every trained tag (including the negative tag) for one feature vector."""
    _limit_blas_threads()
    restored = _restore(model)
    x = np.asarray(features, dtype=np.float64).reshape(1, -1)
    if x.shape[1] != restored.mean.shape[0]:
        raise ValueError(
            f"feature length {x.shape[1]} does not match the model's {restored.mean.shape[0]}"
        )
    row = restored.probabilities(x)[0]
    return {t: float(p) for t, p in zip(restored.tags, row, strict=True)}


def model_feature_version(model: bytes) -> str:
    """The ``FEATURE_VERSION`` a model was trained with.

    A model only makes sense with features of that version: after an upgrade that bumps
    ``FEATURE_VERSION``, old iterations need features recomputed with the old code (not
    available) or retraining, so callers can detect the mismatch instead of predicting garbage.
    """
    return _restore(model).feature_version


# --------------------------------------------------------------------------- evaluation


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def _std(values: list[float]) -> float:
    return float(np.std(values)) if len(values) >= 2 else 0.0


@dataclass
class _Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, truth: np.ndarray, predicted: np.ndarray) -> None:
        self.tp += int((truth & predicted).sum())
        self.fp += int((~truth & predicted).sum())
        self.fn += int((truth & ~predicted).sum())

    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)


@dataclass
class _Tally:
    """Counts over all images and per cross-validation fold."""

    total: _Counts
    by_fold: dict[int, _Counts]

    @classmethod
    def for_folds(cls, folds: np.ndarray) -> _Tally:
        return cls(_Counts(), {int(f): _Counts() for f in np.unique(folds)})

    def add(self, truth: np.ndarray, predicted: np.ndarray, folds: np.ndarray) -> None:
        self.total.add(truth, predicted)
        for fold, counts in self.by_fold.items():
            mask = folds == fold
            counts.add(truth[mask], predicted[mask])

    def std_deviations(self) -> tuple[float, float]:
        """Std deviation of precision and recall across the folds where each is defined."""
        folds = self.by_fold.values()
        precisions = [c.precision() for c in folds if c.tp + c.fp > 0]
        recalls = [c.recall() for c in folds if c.tp + c.fn > 0]
        return _std(precisions), _std(recalls)


def _average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    if not truth.any():
        return 0.0
    value = float(average_precision_score(truth.astype(np.int64), scores))
    return min(max(value, 0.0), 1.0) if np.isfinite(value) else 0.0


def evaluate(
    held_out: dict[str, dict[str, float]],
    truth: dict[str, frozenset[str]],
    tag_ids: Sequence[str],
    threshold: float,
) -> Performance:
    """Custom Vision's iteration performance from held-out probabilities at ``threshold``.

    A tag is predicted for an image when its probability is >= threshold. Per-tag precision and
    recall; overall precision and recall are micro-averaged over tags; average precision is the
    area under each tag's precision-recall curve and the overall value is its mean over tags with
    at least one image (mAP). Standard deviations are taken across cross-validation folds.
    """
    tags = list(dict.fromkeys(tag_ids))
    ids = sorted(i for i in held_out if i in truth)
    folds = _evaluation_folds(ids, truth, set(tags))
    overall = _Tally.for_folds(folds)
    per_tag: dict[str, TagPerformance] = {}
    aps: list[float] = []
    for tag in tags:
        is_true = np.array([tag in truth[i] for i in ids], dtype=bool)
        scores = np.array([held_out[i].get(tag, 0.0) for i in ids], dtype=np.float64)
        predicted = scores >= threshold
        tally = _Tally.for_folds(folds)
        tally.add(is_true, predicted, folds)
        overall.add(is_true, predicted, folds)
        ap = _average_precision(is_true, scores)
        if is_true.any():
            aps.append(ap)
        p_std, r_std = tally.std_deviations()
        per_tag[tag] = TagPerformance(
            tally.total.precision(), p_std, tally.total.recall(), r_std, ap
        )
    p_std, r_std = overall.std_deviations()
    mean_ap = float(np.mean(aps)) if aps else 0.0
    return Performance(
        per_tag, overall.total.precision(), p_std, overall.total.recall(), r_std, mean_ap
    )


def _evaluation_folds(
    ids: Sequence[str], truth: dict[str, frozenset[str]], tags: set[str]
) -> np.ndarray:
    """The fold of each image as ``train`` assigned it (-1 for an image outside every fold)."""
    fold_of = fold_assignment({i: truth[i] & tags for i in ids if truth[i] & tags})
    return np.array([fold_of.get(i, -1) for i in ids], dtype=np.int64)
