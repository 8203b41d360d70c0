"""The engine's single entry point: `evaluate(EngineInput) -> EngineResult`."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np

from adpilot.engine.forecast import with_forecast
from adpilot.engine.frame import Frame, LevelEstimates, build_frame
from adpilot.engine.proposals import build_proposals
from adpilot.engine.types import Assessment, EngineInput, EngineResult, WindowStats
from adpilot.engine.windows import WINDOWS, WindowSums
from adpilot.platforms.base import EntityType


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class _WindowView(Mapping[int, WindowStats]):
    """One entity's window stats, built on access from shared columns.

    Materialising five frozen objects per entity costs more than the whole estimation at 10k
    ads, and most callers read one or two windows of a few entities.
    """

    __slots__ = ("_n", "_sums")

    def __init__(self, sums: dict[tuple[str, int], list[int]], n: int) -> None:
        self._sums = sums
        self._n = n

    def __getitem__(self, days: int) -> WindowStats:
        if days not in WINDOWS:
            raise KeyError(days)
        s, n = self._sums, self._n
        return WindowStats(
            days,
            s["spend", days][n],
            s["impressions", days][n],
            s["clicks", days][n],
            s["conversions", days][n],
        )

    def __iter__(self) -> Iterator[int]:
        return iter(WINDOWS)

    def __len__(self) -> int:
        return len(WINDOWS)

    def __repr__(self) -> str:
        return repr(dict(self))


def _assessments(
    frame: Frame,
    entity_type: EntityType,
    ids: list[str],
    names: list[str],
    est: LevelEstimates,
    ws: WindowSums,
) -> list[Assessment]:
    has_target = frame.target is not None
    # Pull every column to Python lists once: per-element numpy indexing is slow at 10k ads.
    sums = {
        (m, w): np.rint(ws.get(m, w)).astype(np.int64).tolist()
        for m in ("spend", "impressions", "clicks", "conversions")
        for w in WINDOWS
    }
    score = np.round(est.score, 2).tolist()
    p_above = est.p_above.tolist()
    cpa, lo, hi = est.cpa_estimate.tolist(), est.cpa_low.tolist(), est.cpa_high.tolist()
    age = est.age_days.tolist()
    out: list[Assessment] = []
    for n, entity_id in enumerate(ids):
        out.append(
            Assessment(
                entity_type=entity_type,
                entity_id=entity_id,
                name=names[n],
                ad_class=est.classes[n],
                score=score[n],
                cpa_estimate_cents=_finite(cpa[n]) if has_target else None,
                cpa_low_cents=_finite(lo[n]) if has_target else None,
                cpa_high_cents=_finite(hi[n]) if has_target else None,
                p_above_target=float(p_above[n]) if has_target else None,
                window_days=frame.window,
                windows=_WindowView(sums, n),
                age_days=age[n],
            )
        )
    return out


def evaluate(inp: EngineInput) -> EngineResult:
    """Estimate, classify and propose for one account; pure and deterministic."""
    frame = build_frame(inp)
    # Each proposal carries its "no change" and "change" forecasts, so its outcome can later
    # be judged against what the engine expected at the time.
    proposals = [with_forecast(frame, p) for p in build_proposals(frame)]
    return EngineResult(
        assessments=_assessments(
            frame,
            "ad",
            [a.id for a in frame.ads],
            [a.name for a in frame.ads],
            frame.ad,
            frame.ad_w,
        ),
        adset_assessments=_assessments(
            frame,
            "adset",
            [a.id for a in frame.adsets],
            [a.name for a in frame.adsets],
            frame.adset,
            frame.adset_w,
        ),
        campaign_assessments=_assessments(
            frame,
            "campaign",
            [c.id for c in frame.campaigns],
            [c.name for c in frame.campaigns],
            frame.campaign,
            frame.campaign_w,
        ),
        proposals=proposals,
        entities_evaluated=len(frame.ads) + len(frame.adsets) + len(frame.campaigns),
        target_cpa_cents=frame.target,
    )
