"""Surges: days when a narrative carries far more items than its recent past predicts.

The test, per narrative and day t (days with no items count as 0):

* baseline: the counts of the ``baseline_days`` days before t (at least ``min_baseline_days``
  of them observed), mean μ (at least ``baseline_floor``) and sample variance s²;
* null model: the day's count X follows a negative binomial with that mean and variance
  max(s², μ) — Poisson when the baseline is not overdispersed. Social counts are bursty, and a
  Poisson test would call every bursty day a surge;
* one-sided p = P(X ≥ x), computed with SciPy; a surge when p ≤ alpha / (days tested)
  (Bonferroni within the narrative's series), x ≥ ``min_surge_items`` and x ≥
  ``min_surge_ratio`` · μ (a significant but small rise on a large count is not a surge).

Like CDC's EARS methods, the window rolls over earlier surge days too, so the second day of a
sustained campaign is measured against a baseline that includes the first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fimiwatch.detect.narratives.params import NarrativeParams


@dataclass(frozen=True)
class Surge:
    day: int
    """Index into the series."""
    items: int
    baseline_mean: float
    baseline_variance: float
    p_value: float
    test: str
    """``poisson`` or ``negative-binomial``."""

    def to_dict(self, day: str) -> dict[str, Any]:
        return {**asdict(self), "day": day}


def find_surges(counts: np.ndarray, params: NarrativeParams) -> list[Surge]:
    """The surge days of one daily series (index 0 is the first day). A NaN count marks a day
    the collection did not cover: it is neither tested nor part of any baseline."""
    counts = np.asarray(counts, dtype=np.float64)
    days = len(counts)
    first = params.min_baseline_days
    if days <= first:
        return []
    window = params.baseline_days
    padded = np.concatenate([np.full(window, np.nan), counts])
    # row t of the view holds the ``window`` days before day t (NaN before the first day)
    history = sliding_window_view(padded, window)[first:days]
    seen = np.sum(~np.isnan(history), axis=1)
    total = np.nansum(history, axis=1)
    mean = total / np.maximum(seen, 1)
    squares = np.nansum((history - mean[:, None]) ** 2, axis=1)
    variance = np.where(seen > 1, squares / np.maximum(seen - 1, 1), mean)
    mean = np.maximum(mean, params.baseline_floor)
    variance = np.maximum(variance, mean)
    observed = counts[first:]
    testable = ~np.isnan(observed) & (seen >= params.min_baseline_days)
    if not testable.any():
        return []
    observed = np.where(testable, observed, 0.0)
    mean, variance = np.where(testable, mean, 1.0), np.where(testable, variance, 1.0)
    p_value = _upper_tail(observed, mean, variance)
    limit = params.alpha / int(testable.sum())
    surging = (
        testable
        & (p_value <= limit)
        & (observed >= params.min_surge_items)
        & (observed >= params.min_surge_ratio * mean)
    )
    return [
        Surge(
            day=int(i + first),
            items=int(observed[i]),
            baseline_mean=round(float(mean[i]), 3),
            baseline_variance=round(float(variance[i]), 3),
            p_value=float(p_value[i]),
            test="negative-binomial" if variance[i] > mean[i] else "poisson",
        )
        for i in np.flatnonzero(surging)
    ]


def _upper_tail(observed: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """P(X ≥ observed) under a negative binomial of the given mean and variance (Poisson where
    the variance equals the mean)."""
    from scipy import stats  # here, not at the top: ~0.6 s to import

    tail = stats.poisson.sf(observed - 1, mean)
    over = variance > mean
    if over.any():
        size = mean[over] ** 2 / (variance[over] - mean[over])
        tail[over] = stats.nbinom.sf(observed[over] - 1, size, size / (size + mean[over]))
    return np.asarray(tail, dtype=np.float64)
