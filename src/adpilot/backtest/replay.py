"""Replay the engine week by week over a layer's stored history and score what it would have done.

Pure: an `EngineInput` holding *all* stored days in, a `Backtest` out. Nothing was applied, so
each would-be proposal is judged the way a proposal that was not sent is judged
(`engine.outcomes`): did its claim about the unchanged entity ("this ad's CPA stays above target",
"this ad set's CPA stays below the balanced marginal CPA") hold over the week after it? A
confirmed claim is a change that would have been right. Every figure is an estimate.

What the replay cannot know: entity statuses and budgets as they were on each past day (only
today's are stored) — an entity counts as live on a day when it delivered in the three days
before, and today's budgets stand in for past ones; breakdowns (stored for the current window
only) are left out so no future data leaks into a past week.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adpilot.engine import guardrails
from adpilot.engine.outcomes import (
    Claim,
    Forecast,
    NotMatured,
    OutcomeInput,
    Series,
    estimate_outcome,
)
from adpilot.engine.run import evaluate
from adpilot.engine.types import EngineInput, HistoryEntry, MetricArrays, Proposal

WINDOW_DAYS = 30
MIN_WINDOW_DAYS = 14  # fewer days before a replayed week: that week is not replayed
HORIZON_DAYS = 7
LIVE_DAYS = 3
MAX_COMPARABLES = 20
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Judged:
    proposal: Proposal
    verdict: str  # right | wrong | inconclusive | not_yet
    reason: str
    p_true: float | None
    gain: float  # the engine's forecast net gain of the change over the horizon, in conversions


@dataclass(frozen=True)
class Week:
    start: dt.date
    replayed: bool
    reason: str | None = None
    judged: Sequence[Judged] = ()


@dataclass(frozen=True)
class Backtest:
    weeks: Sequence[Week] = field(default_factory=list)

    def all(self) -> list[Judged]:
        return [j for w in self.weeks for j in w.judged]

    def counts(self) -> dict[str, int]:
        out = {"right": 0, "wrong": 0, "inconclusive": 0, "not_yet": 0}
        for j in self.all():
            out[j.verdict] += 1
        return out

    def right_rate(self) -> float | None:
        c = self.counts()
        judged = c["right"] + c["wrong"]
        return c["right"] / judged if judged else None

    def estimated_effect(self) -> float:
        """Forecast gains of the changes judged right, less those of the ones judged wrong (a
        wrong change is taken to have cost about what it promised)."""
        return sum(
            j.gain if j.verdict == "right" else -abs(j.gain)
            for j in self.all()
            if j.verdict in ("right", "wrong")
        )


def decision_days(last: dt.date, weeks: int) -> list[dt.date]:
    """The replayed decision days, oldest first: the last `weeks` Mondays-equivalent steps
    ending one horizon before the day after `last`."""
    end = last + _DAY
    return [end - dt.timedelta(days=HORIZON_DAYS * k) for k in range(weeks, 0, -1)]


def _series(inp: EngineInput, rows: np.ndarray) -> Series:
    spend = inp.metrics.spend_cents[rows].sum(axis=0)
    conv = inp.metrics.conversions[rows].sum(axis=0)
    return Series(list(inp.dates), spend.tolist(), conv.tolist())


def entity_rows(inp: EngineInput) -> dict[str, np.ndarray]:
    """Entity id (ad, ad set or campaign) → the metric rows of its ads."""
    pos = {ad_id: i for i, ad_id in enumerate(inp.metrics.ad_ids)}
    groups: dict[str, list[int]] = {}
    for ad in inp.ads:
        i = pos.get(ad.id)
        if i is None:
            continue
        for key in (ad.id, ad.adset_id, ad.campaign_id):
            groups.setdefault(key, []).append(i)
    return {k: np.array(v, dtype=np.intp) for k, v in groups.items()}


def as_of_day(
    full: EngineInput, day: dt.date, history: Sequence[HistoryEntry]
) -> EngineInput | None:
    """What the engine would have read on the morning of `day` (None: too little history)."""
    dates = list(full.dates)
    cols = [j for j, d in enumerate(dates) if day - dt.timedelta(days=WINDOW_DAYS) <= d < day]
    if len(cols) < MIN_WINDOW_DAYS:
        return None
    at = dt.datetime.combine(day, dt.time(0), dt.UTC)
    m = full.metrics
    sl = slice(cols[0], cols[-1] + 1)
    recent = m.spend_cents[:, cols[-1] - LIVE_DAYS + 1 : cols[-1] + 1].sum(axis=1) > 0
    live_ads = {ad_id for ad_id, on in zip(m.ad_ids, recent, strict=True) if on}
    ads = [
        dataclasses.replace(a, status="active" if a.id in live_ads else "paused")
        for a in full.ads
        if a.created_at.date() < day
    ]
    live_sets = {a.adset_id for a in ads if a.status == "active"}
    adsets = [
        dataclasses.replace(s, status="active" if s.id in live_sets else "paused", learning=None)
        for s in full.adsets
        if s.created_at.date() < day
    ]
    live_campaigns = {s.campaign_id for s in adsets if s.status == "active"}
    campaigns = [
        dataclasses.replace(c, status="active" if c.id in live_campaigns else "paused")
        for c in full.campaigns
        if c.created_at.date() < day
    ]
    keep = {a.id for a in ads}
    rows = [i for i, ad_id in enumerate(m.ad_ids) if ad_id in keep]
    freq = m.frequency[rows, sl] if m.frequency is not None else None
    metrics = MetricArrays(
        [m.ad_ids[i] for i in rows],
        m.spend_cents[rows, sl],
        m.impressions[rows, sl],
        m.clicks[rows, sl],
        m.conversions[rows, sl],
        freq,
    )
    return dataclasses.replace(
        full,
        now=at,
        dates=dates[sl],
        metrics=metrics,
        campaigns=campaigns,
        adsets=adsets,
        ads=[a for a in ads if a.id in keep],
        breakdowns=(),
        creatives=[c for c in full.creatives if c.created_at is None or c.created_at.date() < day],
        history=list(history),
    )


def would_propose(inp: EngineInput, write_classes: Mapping[str, bool]) -> list[Proposal]:
    """The proposals that would have passed the write classes and the guardrails."""
    result = evaluate(inp)
    enabled, _held = guardrails.split_write_classes(result.proposals, write_classes)
    guarded = guardrails.apply_guardrails(enabled, guardrails.build_context(inp, result))
    return [g.proposal for g in guarded if not g.held]


def _gain(p: Proposal, value: float) -> float:
    f = (p.evidence or {}).get("forecast") or {}
    if not f.get("change") or not f.get("noChange"):
        return 0.0
    c, n = Forecast.from_json(f["change"]), Forecast.from_json(f["noChange"])
    d_conv = (c.conversions_per_day - n.conversions_per_day) * HORIZON_DAYS
    d_spend = (c.spend_cents_per_day - n.spend_cents_per_day) * HORIZON_DAYS
    return d_conv - d_spend / max(value, 1.0)


def judge(
    p: Proposal,
    full: EngineInput,
    rows: Mapping[str, np.ndarray],
    day: dt.date,
    as_of: dt.datetime,
    value: float,
    untouched: Sequence[str],
) -> Judged:
    """Score one would-be proposal on what the data after `day` showed."""
    gain = _gain(p, value)
    claim_json = ((p.evidence or {}).get("forecast") or {}).get("claim")
    claim = Claim.from_json(claim_json)
    own = rows.get(p.entity_id)
    if claim is None or claim_json is None or own is None:
        return Judged(
            p, "inconclusive", "The proposal makes no claim its data can check.", None, gain
        )
    comparables = [_series(full, rows[e]) for e in untouched[:MAX_COMPARABLES] if e in rows]
    inp = OutcomeInput(
        changed_at=dt.datetime.combine(day, dt.time(0), dt.UTC),
        as_of=as_of,
        horizon_days=HORIZON_DAYS,
        entity=_series(full, own),
        no_change=Forecast.from_json(claim_json["noChange"]),
        value_cents=value,
        comparables=comparables,
        sent=False,
        claim=claim,
    )
    try:
        outcome = estimate_outcome(inp)
    except NotMatured as exc:
        return Judged(p, "not_yet", str(exc), None, gain)
    verdict = {"confirmed": "right", "refuted": "wrong"}.get(outcome.verdict, "inconclusive")
    return Judged(p, verdict, outcome.reason, outcome.p_true, gain)


def replay(
    full: EngineInput,
    *,
    weeks: int,
    as_of: dt.datetime,
    write_classes: Mapping[str, bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Backtest:
    """Replay `weeks` weekly decisions ending one horizon before the last stored day."""
    if not full.dates:
        return Backtest([])
    rows = entity_rows(full)
    history: list[HistoryEntry] = []
    out: list[Week] = []
    for k, day in enumerate(decision_days(full.dates[-1], weeks)):
        inp = as_of_day(full, day, history)
        if inp is None:
            out.append(Week(day, False, f"fewer than {MIN_WINDOW_DAYS} days of history before it"))
        else:
            proposals = would_propose(inp, write_classes or {})
            value = float(full.target_cpa_cents or _pool_cpa(inp))
            touched = {p.entity_id for p in proposals}
            judged = []
            for p in proposals:
                same_level = _level_ids(full, p.entity_type)
                untouched = [e for e in same_level if e not in touched]
                judged.append(judge(p, full, rows, day, as_of, value, untouched))
                # As if made: the engine's cooldowns then keep it from proposing the same again.
                history.append(
                    HistoryEntry(
                        p.entity_id, p.action_type, "dispatched", inp.now, p.evidence_fingerprint
                    )
                )
            out.append(Week(day, True, None, judged))
        if progress is not None:
            progress(k + 1)
    return Backtest(out)


def _level_ids(full: EngineInput, entity_type: str) -> list[str]:
    if entity_type == "campaign":
        return [c.id for c in full.campaigns]
    if entity_type == "adset":
        return [s.id for s in full.adsets]
    return [a.id for a in full.ads]


def _pool_cpa(inp: EngineInput) -> float:
    conv = float(inp.metrics.conversions.sum())
    return float(inp.metrics.spend_cents.sum()) / conv if conv > 0 else 1.0


def summary(bt: Backtest, weeks: int) -> dict[str, Any]:
    """The customer-facing answer and its figures (see README: Backtest)."""
    c = bt.counts()
    made = sum(c.values())
    judged = c["right"] + c["wrong"]
    effect = bt.estimated_effect()
    rate = bt.right_rate()
    replayed = sum(1 for w in bt.weeks if w.replayed)
    if judged:
        tail = (
            f"of the {judged} we could judge, {c['right']} were right; estimated effect "
            f"{effect:+.1f} conversions"
        )
    else:
        tail = "none could be judged yet"
    return {
        "estimate": True,
        "weeks": weeks,
        "weeksReplayed": replayed,
        "changes": made,
        "judged": judged,
        "right": c["right"],
        "wrong": c["wrong"],
        "inconclusive": c["inconclusive"],
        "notYetJudgeable": c["not_yet"],
        "rightRate": None if rate is None else round(rate, 4),
        "estimatedEffectConversions": round(effect, 1),
        "sentence": (
            f"Over the last {weeks} weeks adpilot would have made {made} changes; {tail}. "
            "This is an estimate: nothing was applied."
        ),
    }
