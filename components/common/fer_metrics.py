"""Classification metrics in numpy (no extra dependency): one definition for training and evaluation."""
from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class, columns: predicted."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(0).astype(float), matrix.sum(1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def summary(y_true, y_pred, classes: list[str]) -> dict:
    matrix = confusion(y_true, y_pred, len(classes))
    scores = per_class(matrix)
    present = scores["support"] > 0
    return {
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "macro_f1": float(scores["f1"][present].mean()) if present.any() else 0.0,
        "per_class": {c: {k: float(v[i]) for k, v in scores.items()} for i, c in enumerate(classes)},
        "confusion": matrix.tolist(),
        "n": int(matrix.sum()),
    }


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula; None if one class is absent."""
    y_true = np.asarray(y_true).astype(bool)
    pos, neg = y_true.sum(), (~y_true).sum()
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = np.asarray(scores)[order]
    # Average ranks for ties.
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y_true].sum() - pos * (pos + 1) / 2) / (pos * neg))
