"""Which creative goes where: eligibility, each creative's own evidence, and the picker."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from adpilot.engine.frame import Frame
from adpilot.engine.history import OwnHistory
from adpilot.engine.plan import RunPlan
from adpilot.engine.text import cpa_phrase, quoted
from adpilot.engine.types import CreativeInput, EngineSettings

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_eligible(creative: CreativeInput, settings: EngineSettings) -> bool:
    """SPEC §4.3: organicScore ≥ 4.0 or override include; never exclude; never safety-failed."""
    if creative.safety_failed or creative.override == "exclude":
        return False
    if creative.override == "include":
        return True
    return creative.organic_score is not None and (
        creative.organic_score >= settings.organic_score_threshold
    )


_POOR_CLASSES = frozenset({"UNDERPERFORMING", "CRITICAL"})


@dataclass(frozen=True)
class OwnEvidence:
    """A creative's own delivery in this account over the evaluation window."""

    spend_cents: float
    conversions: int
    quality: float  # posterior mean of its conversion rate relative to its ad sets' rates
    p_worse: float  # P(it converts worse than the ad sets it runs in)
    tested: bool  # enough spend to count as evidence


def own_evidence(frame: Frame) -> dict[str, OwnEvidence]:
    """Per creative with ads here: conversions against what its ad sets' posterior rates
    predict for its spend; a Gamma(a + conversions, a + expected) posterior on the ratio, with
    the strength a of the ad-level prior."""
    ids = [ad.ads_content_id for ad in frame.ads]
    if not any(ids):
        return {}
    keys = sorted({c for c in ids if c})
    pos = {c: k for k, c in enumerate(keys)}
    has = np.array([c is not None for c in ids], dtype=bool)
    idx = np.array([pos[c] if c else 0 for c in ids], dtype=np.intp)[has]
    w = frame.window
    rate = frame.adset.post.mean_rate()[frame.ad_adset]
    spend = np.bincount(idx, frame.ad_w.get("spend", w)[has], len(keys))
    conv = np.bincount(idx, frame.ad_w.get("conversions", w)[has], len(keys))
    expected = np.bincount(idx, (frame.ad_w.get("exposure", w) * rate)[has], len(keys))
    a = frame.hier.shapes[2]
    shape, scale = a + conv, a + expected
    p_worse = special.gammainc(shape, scale)  # P(ratio < 1)
    bar = frame.settings.creative_evidence_spend_multiple * (frame.target or math.inf)
    return {
        c: OwnEvidence(
            float(spend[k]),
            round(float(conv[k])),
            float(shape[k] / scale[k]),
            float(p_worse[k]),
            bool(spend[k] >= bar),
        )
        for c, k in pos.items()
    }


class CreativePicker:
    """Chooses the best eligible creative that has never run in a given ad set and whose own
    delivery here does not say it loses.

    A creative's own evidence outranks its organic score once it has any: untested creatives come
    first by organic score, then the ones whose own ads are credibly better than the ad sets they
    ran in, then tested ones without a clear verdict (by their evidence; their score no longer
    counts), and one credibly worse is never placed. One without its own evidence goes into at
    most `max_untested_creative_adsets` ad sets at a time.

    "Never run here" is stricter than SPEC's "not already running": a creative that was paused in
    this ad set already had its chance with this audience.
    """

    def __init__(self, frame: Frame, own: OwnHistory | None = None) -> None:
        st = frame.settings
        self._settings = st
        # A creative whose ads this account mostly judges losers has shown what it does here;
        # an organic score is no reason to spread it to other ad sets.
        verdicts: dict[str, list[bool]] = {}
        for i, ad in enumerate(frame.ads):
            if ad.ads_content_id:
                poor = frame.ad.classes[i] in _POOR_CLASSES
                verdicts.setdefault(ad.ads_content_id, []).append(poor)
        proven_poor = {c for c, v in verdicts.items() if 2 * sum(v) >= len(v)}
        self.evidence = own_evidence(frame)
        worse = {
            c for c, e in self.evidence.items() if e.p_worse >= st.credible_probability and e.tested
        }

        def rank(c: CreativeInput) -> tuple[int, float, float, float, str]:
            # Untested creatives first (by organic score: a fresh draw is what a push buys),
            # then those proven better than the ad sets they ran in, then tested ones without a
            # clear verdict — ordered by their own evidence, their score no longer counting.
            e = self.evidence.get(c.id)
            created = (c.created_at or _EPOCH).timestamp()
            if e is None or not e.tested:
                return (0, 0.0, -(c.organic_score or 0.0), -created, c.id)
            tier = 1 if 1.0 - e.p_worse >= st.credible_probability else 2
            return (tier, -e.quality, 0.0, -created, c.id)

        self._ranked: list[CreativeInput] = sorted(
            (
                c
                for c in frame.inp.creatives
                if is_eligible(c, st) and c.id not in proven_poor and c.id not in worse
            ),
            key=rank,
        )
        self._used: dict[int, set[str]] = {}
        for i, ad in enumerate(frame.ads):
            if ad.ads_content_id:
                self._used.setdefault(int(frame.ad_adset[i]), set()).add(ad.ads_content_id)
        self._by_id = {c.id: c for c in frame.inp.creatives}
        self._own = own

    def tested(self, creative_id: str) -> bool:
        e = self.evidence.get(creative_id)
        return e is not None and e.tested

    def _in_flight(self, creative_id: str, plan: RunPlan) -> int:
        """Ad sets the creative was placed in by this run and by recent runs."""
        before = self._own.in_flight_count(creative_id) if self._own is not None else 0
        return before + len(plan.placed.get(creative_id, ()))

    def pick(self, adset: int, plan: RunPlan) -> CreativeInput | None:
        taken = self._used.get(adset, set()) | plan.creatives_used.get(adset, set())
        cap = self._settings.max_untested_creative_adsets
        for c in self._ranked:
            if c.id in taken or c.id in plan.paused_creatives:
                continue
            if not self.tested(c.id) and self._in_flight(c.id, plan) >= cap:
                continue
            return c
        return None

    def name_of(self, creative_id: str | None) -> str | None:
        c = self._by_id.get(creative_id or "")
        return c.name if c else None

    def describe(self, c: CreativeInput, frame: Frame) -> str:
        """The creative and what ranks it: its own delivery once it has any, else its score."""
        e = self.evidence.get(c.id)
        if e is None or e.spend_cents <= 0:
            return _creative_desc(c, frame.settings)
        cur = frame.inp.currency
        return (
            f"{quoted(c.name)} (its own ads: "
            f"{cpa_phrase(e.spend_cents, e.conversions, frame.window, cur)}, about "
            f"{e.quality:.2f}× the conversion rate of their ad sets)"
        )


def _creative_desc(c: CreativeInput, settings: EngineSettings) -> str:
    below = c.organic_score is None or c.organic_score < settings.organic_score_threshold
    if c.override == "include" and below:
        return f"{quoted(c.name)} (included by override)"
    return f"{quoted(c.name)} (organic score {c.organic_score:.1f})"


def creative_evidence(c: CreativeInput, picker: CreativePicker) -> dict[str, object]:
    out: dict[str, object] = {
        "adsContentId": c.id,
        "organicScore": c.organic_score,
        "override": c.override,
        "pool": c.pool,
    }
    e = picker.evidence.get(c.id)
    if e is not None:
        out["ownSpendCents"] = round(e.spend_cents)
        out["ownConversions"] = e.conversions
        out["relativeConversionRate"] = round(e.quality, 4)
        out["tested"] = e.tested
    return out
