"""Phase 3 of Training Data Selection: thresholds, a combined score, class-balanced top-k per batch."""
from __future__ import annotations

import numpy as np

THRESHOLDS = {"max_brisque": ("brisque", "max"), "max_niqe": ("niqe", "max"), "min_ssim": ("ssim", "min"),
              "min_psnr": ("psnr", "min")}


def threshold_reason(metrics: dict, params) -> str | None:
    for name, (metric, kind) in THRESHOLDS.items():
        limit = getattr(params, name)
        value = metrics.get(metric)
        if limit is None or value is None:
            continue
        if (kind == "max" and value > limit) or (kind == "min" and value < limit):
            return f"threshold:{metric}"
    return None


def combined_scores(metrics: list[dict], weights: dict[str, float]) -> np.ndarray:
    """Weighted sum of per-metric z-scores within the batch (a metric missing everywhere is skipped)."""
    total = np.zeros(len(metrics))
    for name, weight in weights.items():
        values = np.array([m.get(name) if m.get(name) is not None else np.nan for m in metrics], dtype=float)
        values[~np.isfinite(values)] = np.nan
        if np.isnan(values).all():
            continue
        mean, std = np.nanmean(values), np.nanstd(values)
        z = (values - mean) / (std if std > 0 else 1.0)
        total += weight * np.nan_to_num(z, nan=0.0)
    return total


def whole_identities_top_k(identities: list[str], scores: np.ndarray, k: int) -> list[int]:
    """Indices of at most k images made of whole identities, best mean score first.

    Every identity carries every emotion, so keeping identities whole keeps the classes balanced and
    leaves training each person's expressions side by side; an identity that no longer fits is
    passed over for a smaller one."""
    members: dict[str, list[int]] = {}
    for i, identity in enumerate(identities):
        members.setdefault(identity, []).append(i)
    ranked = sorted(members, key=lambda ident: (-float(np.mean(scores[members[ident]])), ident))
    chosen: list[int] = []
    for ident in ranked:
        if len(chosen) + len(members[ident]) <= k:
            chosen += members[ident]
    return sorted(chosen)


def balanced_top_k(labels: list[str], scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best, split across classes in proportion to their share of the batch
    (largest remainders), with at least one per class when k allows, so no emotion vanishes."""
    n = len(labels)
    if k >= n:
        return list(range(n))
    classes = sorted(set(labels))
    counts = {c: labels.count(c) for c in classes}
    exact = {c: k * counts[c] / n for c in classes}
    quota = {c: int(exact[c]) for c in classes}
    if k >= len(classes):
        for c in classes:
            quota[c] = max(quota[c], 1)
    while sum(quota.values()) > k:  # the minimum of one may overshoot: take back from the largest
        c = max(classes, key=lambda c: (quota[c] - exact[c], quota[c]))
        quota[c] -= 1
    for c in sorted(classes, key=lambda c: exact[c] - int(exact[c]), reverse=True):
        if sum(quota.values()) == k:
            break
        if quota[c] < counts[c]:
            quota[c] += 1
    while sum(quota.values()) < k:  # classes exhausted: fill from any with room
        c = next(c for c in classes if quota[c] < counts[c])
        quota[c] += 1
    chosen = []
    for c in classes:
        members = [i for i in range(n) if labels[i] == c]
        members.sort(key=lambda i: (-scores[i], i))
        chosen += members[:quota[c]]
    return sorted(chosen)
