"""Trailing-window sums (1/3/7/14/30 days) per ad, rolled up to ad sets and campaigns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adpilot.engine.types import EngineInput, FloatArray, WindowStats

WINDOWS: tuple[int, ...] = (1, 3, 7, 14, 30)
METRICS: tuple[str, ...] = ("spend", "impressions", "clicks", "conversions", "exposure")

IntArray = npt.NDArray[np.intp]


def trailing_sums(daily: FloatArray, windows: Iterable[int]) -> dict[int, FloatArray]:
    """Sum of the last `w` columns of a [rows, days] array, for each window, in one cumsum."""
    n_rows, n_days = daily.shape
    if n_days == 0:
        return {w: np.zeros(n_rows) for w in windows}
    # Reverse so that column k of the cumulative sum covers the k+1 most recent days.
    back = np.cumsum(daily[:, ::-1], axis=1)
    return {w: back[:, min(w, n_days) - 1].copy() for w in windows}


def group_sum(values: FloatArray, groups: IntArray, n_groups: int) -> FloatArray:
    """Sum rows of a 1-D or 2-D array into groups (row i goes to groups[i])."""
    if values.ndim == 1:
        return np.bincount(groups, weights=values, minlength=n_groups).astype(np.float64)
    n_cols = values.shape[1]
    flat = (groups[:, None] * n_cols + np.arange(n_cols)[None, :]).ravel()
    out = np.bincount(flat, weights=values.ravel(), minlength=n_groups * n_cols)
    return np.asarray(out.reshape(n_groups, n_cols), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class WindowSums:
    """sums[metric][window] → one value per row (ad, ad set or campaign)."""

    sums: Mapping[str, Mapping[int, FloatArray]]
    n_days: int

    def get(self, metric: str, window: int) -> FloatArray:
        return self.sums[metric][window]

    def between(self, metric: str, recent: int, longer: int) -> FloatArray:
        """Sum over the days inside `longer` but older than `recent` (e.g. days 8–30)."""
        return self.sums[metric][longer] - self.sums[metric][recent]

    def rollup(self, groups: IntArray, n_groups: int) -> WindowSums:
        rolled = {
            m: {w: group_sum(v, groups, n_groups) for w, v in by_w.items()}
            for m, by_w in self.sums.items()
        }
        return WindowSums(rolled, self.n_days)


def window_sums(daily: Mapping[str, FloatArray], windows: Iterable[int] = WINDOWS) -> WindowSums:
    """Window sums of each daily [rows, days] metric array."""
    ws = tuple(windows)
    n_days = next(iter(daily.values())).shape[1] if daily else 0
    return WindowSums({m: trailing_sums(arr, ws) for m, arr in daily.items()}, n_days)


def entity_totals(inp: EngineInput, days: int) -> dict[str, WindowStats]:
    """Sums over the last `days` days of each ad of an input's metrics and of its ad set and
    campaign, by entity id: the evidence of callers that hold no engine result."""
    m = inp.metrics
    n = len(m.ad_ids)
    if n == 0:
        return {}
    columns = np.stack(
        [
            np.asarray(values, dtype=np.float64).reshape(n, -1)[:, -days:].sum(axis=1)
            for values in (m.spend_cents, m.impressions, m.clicks, m.conversions)
        ],
        axis=1,
    )
    parents = {ad.id: (ad.adset_id, ad.campaign_id) for ad in inp.ads}
    totals: dict[str, FloatArray] = {}
    for ad_id, row in zip(m.ad_ids, columns, strict=True):
        for key in (ad_id, *parents.get(ad_id, ())):
            totals[key] = totals[key] + row if key in totals else row
    return {key: WindowStats(days, *(round(float(x)) for x in row)) for key, row in totals.items()}
