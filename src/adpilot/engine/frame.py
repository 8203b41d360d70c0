"""The engine's working set: entity indexes, aligned metric arrays, estimates and classes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adpilot.engine.classify import (
    BoolArray,
    FatigueSignals,
    classify,
    fatigue_signals,
    performance_score,
)
from adpilot.engine.estimates import (
    GammaPosterior,
    Hierarchy,
    fit_ctr,
    fit_hierarchy,
    lag_shares,
)
from adpilot.engine.types import (
    AdClass,
    AdInput,
    AdSetInput,
    CampaignInput,
    EngineInput,
    EngineSettings,
    FloatArray,
    Goal,
)
from adpilot.engine.windows import WINDOWS, IntArray, WindowSums, window_sums

_ACTIVE = "active"


@dataclass(frozen=True, eq=False)
class LevelEstimates:
    """Posterior, score, P(CPA > target) and class for every entity of one level."""

    post: GammaPosterior
    score: FloatArray
    p_above: FloatArray
    classes: list[AdClass]
    age_days: FloatArray
    cpa_estimate: FloatArray  # 1 / E[λ], cents
    cpa_low: FloatArray  # 5% and 95% posterior quantiles of CPA, cents
    cpa_high: FloatArray


@dataclass(frozen=True, eq=False)
class Frame:
    inp: EngineInput
    settings: EngineSettings
    target: float | None  # cents; the goal's CPA reference (target, value) or the pool's CPA
    # The goal budgets are judged against, `cents` = `target`; None only when there is no target.
    goal: Goal | None
    goal_stated: bool  # the layer states a target CPA or a conversion value (not the pool's CPA)
    pool_cpa: float | None  # spend-weighted CPA of every ad over the whole window
    window: int  # the evaluation window (days) posteriors are built on
    n_days: int
    ads: Sequence[AdInput]
    adsets: Sequence[AdSetInput]
    campaigns: Sequence[CampaignInput]
    ad_adset: IntArray
    ad_campaign: IntArray
    adset_campaign: IntArray
    daily: dict[str, FloatArray]
    ad_w: WindowSums
    adset_w: WindowSums
    campaign_w: WindowSums
    hier: Hierarchy
    ad: LevelEstimates
    adset: LevelEstimates
    campaign: LevelEstimates
    fatigue: FatigueSignals
    ad_active: BoolArray  # the ad itself is active
    ad_live: BoolArray  # ad, its ad set and its campaign are all active
    adset_live: BoolArray  # ad set and campaign active
    campaign_live: BoolArray
    adset_learning: BoolArray
    campaign_learning: BoolArray  # every live ad set of the campaign is learning
    active_ads: IntArray  # per ad set: ads with status active
    active_adsets: IntArray  # per campaign: ad sets with status active
    frequency_recent: FloatArray

    def windows_for(self, level: str) -> WindowSums:
        return {"ad": self.ad_w, "adset": self.adset_w, "campaign": self.campaign_w}[level]


def _ages(now: dt.datetime, created: Sequence[dt.datetime]) -> FloatArray:
    return np.array([(now - c).total_seconds() / 86_400.0 for c in created], dtype=np.float64)


def _aligned(values: npt.NDArray[np.float64], rows: IntArray, n_days: int) -> FloatArray:
    out = np.zeros((rows.shape[0], n_days), dtype=np.float64)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


def _recent_frequency(freq: FloatArray, days: int) -> FloatArray:
    # Mean of the known (non-NaN) daily frequencies over the last `days`, NaN if none known.
    tail = freq[:, -days:] if freq.shape[1] else freq
    known = ~np.isnan(tail)
    count = known.sum(axis=1)
    total = np.where(known, tail, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def resolve_goal(inp: EngineInput, pool_cpa: float | None) -> tuple[Goal | None, bool]:
    """(the goal, whether the layer stated it): `inp.goal`, else a target CPA at
    `target_cpa_cents`, else at the pool's own CPA.

    Under a conversion value the value is also the CPA every ad is judged against: an ad whose
    conversions cost more than they are worth loses money.
    """
    if inp.goal is not None and inp.goal.cents > 0:
        return inp.goal, True
    if inp.target_cpa_cents:
        return Goal.target_cpa(inp.target_cpa_cents), True
    if pool_cpa is not None:
        return Goal("target_cpa", max(1, round(pool_cpa))), False
    return None, False


def build_frame(inp: EngineInput) -> Frame:
    """Index the entities, align the metric arrays and compute every estimate and class."""
    st = inp.settings
    n_days = len(inp.dates)
    campaigns = list(inp.campaigns)
    campaign_pos = {c.id: i for i, c in enumerate(campaigns)}
    # Entities whose parent is missing cannot be judged in context; they are left out.
    adsets = [a for a in inp.adsets if a.campaign_id in campaign_pos]
    adset_pos = {a.id: i for i, a in enumerate(adsets)}
    ads = [a for a in inp.ads if a.adset_id in adset_pos]

    adset_campaign = np.array([campaign_pos[a.campaign_id] for a in adsets], dtype=np.intp)
    ad_adset = np.array([adset_pos[a.adset_id] for a in ads], dtype=np.intp)
    ad_campaign = adset_campaign[ad_adset] if ads else np.zeros(0, dtype=np.intp)

    m = inp.metrics
    metric_row = {ad_id: i for i, ad_id in enumerate(m.ad_ids)}
    rows = np.array([metric_row.get(a.id, -1) for a in ads], dtype=np.intp)
    daily: dict[str, FloatArray] = {}
    for name, arr in (
        ("spend", m.spend_cents),
        ("impressions", m.impressions),
        ("clicks", m.clicks),
        ("conversions", m.conversions),
    ):
        values = np.asarray(arr, dtype=np.float64).reshape(len(m.ad_ids), n_days)
        daily[name] = np.nan_to_num(_aligned(values, rows, n_days), nan=0.0)
    if m.frequency is not None:
        freq = np.asarray(m.frequency, dtype=np.float64).reshape(len(m.ad_ids), n_days)
        frequency = _aligned(freq, rows, n_days)
        frequency[rows < 0] = np.nan
    else:
        frequency = np.full((len(ads), n_days), np.nan)
    shares = lag_shares(inp.now, inp.dates, st)
    daily["exposure"] = daily["spend"] * shares[None, :]

    # Windows longer than the data are clamped to it by trailing_sums.
    windows = sorted(
        {*WINDOWS, st.evaluation_window_days, st.critical_window_days, st.prune_idle_days, n_days}
        - {0}
    )
    ad_w = window_sums(daily, windows)
    adset_w = ad_w.rollup(ad_adset, len(adsets))
    campaign_w = adset_w.rollup(adset_campaign, len(campaigns))

    full = max(n_days, 1)
    pool_spend = float(ad_w.get("spend", full).sum()) if ads else 0.0
    pool_conv = float(ad_w.get("conversions", full).sum()) if ads else 0.0
    pool_cpa = pool_spend / pool_conv if pool_conv > 0 else None
    goal, stated = resolve_goal(inp, pool_cpa)
    # The pool's CPA is kept unrounded: it is a measurement, not a setting.
    target = float(goal.cents) if stated and goal is not None else pool_cpa

    window = min(st.evaluation_window_days, full)
    hier = fit_hierarchy(
        ad_w.get("conversions", window),
        ad_w.get("exposure", window),
        ad_adset,
        adset_campaign,
        len(adsets),
        len(campaigns),
        target,
        st,
    )
    ctr = fit_ctr(
        ad_w.get("clicks", full), ad_w.get("impressions", full), ad_adset, len(adsets), st
    )
    freq_recent = _recent_frequency(frequency, 7)
    fatigue = fatigue_signals(
        ad_w, hier.ad_prior, freq_recent, target, st, 7, full, ctr_centre=ctr.mean()
    )

    ad_active = np.array([a.status == _ACTIVE for a in ads], dtype=bool)
    adset_active = np.array([a.status == _ACTIVE for a in adsets], dtype=bool)
    campaign_live = np.array([c.status == _ACTIVE for c in campaigns], dtype=bool)
    adset_live = adset_active & campaign_live[adset_campaign] if adsets else adset_active
    ad_live = ad_active & adset_live[ad_adset] if ads else ad_active
    adset_learning = np.array([a.learning == "learning" for a in adsets], dtype=bool)
    ad_learning = np.array(
        [(a.learning == "learning") if a.learning is not None else False for a in ads],
        dtype=bool,
    )
    if ads:
        ad_learning |= adset_learning[ad_adset]

    crit = min(st.critical_window_days, full)

    def level(
        post: GammaPosterior,
        ws: WindowSums,
        age: FloatArray,
        learning: BoolArray,
        fatigued: BoolArray,
    ) -> LevelEstimates:
        score = performance_score(post, target)
        p_above = post.p_cpa_above(target) if target else np.zeros(age.shape)
        classes = classify(
            age_days=age,
            learning=learning,
            score=score,
            p_above=p_above,
            cpa_estimate=post.cpa_estimate(),
            critical_spend=ws.get("spend", crit),
            critical_conversions=ws.get("conversions", crit),
            pool_cpa=pool_cpa,
            fatigued=fatigued,
            settings=st,
        )
        return LevelEstimates(
            post,
            score,
            p_above,
            classes,
            age,
            post.cpa_estimate(),
            post.cpa_quantile(0.05),
            post.cpa_quantile(0.95),
        )

    ad_age = _ages(inp.now, [a.created_at for a in ads])
    adset_age = _ages(inp.now, [a.created_at for a in adsets])
    campaign_age = _ages(inp.now, [c.created_at for c in campaigns])
    ad_est = level(hier.ad, ad_w, ad_age, ad_learning, fatigue.fatigued)
    adset_est = level(
        hier.adset, adset_w, adset_age, adset_learning, np.zeros(len(adsets), dtype=bool)
    )
    # A campaign is "learning" when every live ad set under it is.
    live_sets = np.bincount(adset_campaign, weights=adset_live, minlength=len(campaigns))
    learning_sets = np.bincount(
        adset_campaign, weights=adset_live & adset_learning, minlength=len(campaigns)
    )
    campaign_learning = (live_sets > 0) & (learning_sets == live_sets)
    campaign_est = level(
        hier.campaign,
        campaign_w,
        campaign_age,
        campaign_learning,
        np.zeros(len(campaigns), dtype=bool),
    )

    active_ads = np.bincount(ad_adset, weights=ad_active, minlength=len(adsets)).astype(np.intp)
    active_adsets = np.bincount(
        adset_campaign, weights=adset_active, minlength=len(campaigns)
    ).astype(np.intp)

    return Frame(
        inp=inp,
        settings=st,
        target=target,
        goal=goal,
        goal_stated=stated,
        pool_cpa=pool_cpa,
        window=window,
        n_days=n_days,
        ads=ads,
        adsets=adsets,
        campaigns=campaigns,
        ad_adset=ad_adset,
        ad_campaign=ad_campaign,
        adset_campaign=adset_campaign,
        daily=daily,
        ad_w=ad_w,
        adset_w=adset_w,
        campaign_w=campaign_w,
        hier=hier,
        ad=ad_est,
        adset=adset_est,
        campaign=campaign_est,
        fatigue=fatigue,
        ad_active=ad_active,
        ad_live=ad_live,
        adset_live=adset_live,
        campaign_live=campaign_live,
        adset_learning=adset_learning,
        campaign_learning=campaign_learning,
        active_ads=active_ads,
        active_adsets=active_adsets,
        frequency_recent=freq_recent,
    )
