"""One day of delivery: budgets → spend → impressions → clicks → conversions, vectorised."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from adpilot.sim.profiles import HOUR_TRAFFIC, WEEKDAY_CPM, WEEKDAY_CVR
from adpilot.sim.tables import ACTIVE, F8, I8, LEARNED, LEARNING, LIMITED

if TYPE_CHECKING:
    from adpilot.sim.market import Market

_HOUR_W = np.asarray(HOUR_TRAFFIC) / np.sum(HOUR_TRAFFIC)
# How much the platform's delivery already "knows" an ad's post-click quality.
CVR_VISIBILITY = 0.5
_MAX_RATE = 0.95


@dataclass
class Plan:
    """Expected delivery of one day before count noise: what the truth queries read too."""

    ad_on: npt.NDArray[np.bool_]
    share: F8  # each ad's share of its ad set's delivery
    fatigue: F8
    set_on: npt.NDArray[np.bool_]
    spend: F8  # per ad set, dollars
    cpm_eff: F8  # per ad set, dollars per 1000 impressions after saturation
    impressions: F8  # per ad set, expected
    ctr: F8  # per ad
    cvr: F8  # per ad
    p_country: F8  # (S, G) impression share
    conv_country: F8  # (S, G) conversion share
    spend_country: F8  # (S, G) spend share
    p_hour: F8  # (S, 24)
    conv_hour: F8  # (S, 24)
    cpm_base: F8  # per ad set, dollars per 1000 impressions before saturation
    h_eff: F8  # per ad set, the saturation spend after targeting and dayparts, dollars/day
    learn_mult: F8  # per ad set, the efficiency multiplier of a learning phase (1 otherwise)


def saturation(x: F8, shape: F8) -> F8:
    """The CPM multiplier at spend x·h: 1 + x (Michaelis–Menten), (1 + xⁿ)/xⁿ⁻¹ on a Hill curve.

    A Hill ad set (n > 1) is S-shaped: below its threshold more budget makes each dollar cheaper.
    """
    hill = shape != 1.0
    if not np.any(hill):
        return 1.0 + x
    xs = np.maximum(x, 1e-6)
    return np.where(hill, (1.0 + xs**shape) / xs ** (shape - 1.0), 1.0 + x)


def ad_fatigue(m: Market, day: int) -> F8:
    """Per ad, the CTR multiplier: wear by cumulative frequency, and by age if the market has it."""
    ads = m.ads
    decay = np.exp(-ads.cum / ads.tau)
    if m.params.age_fatigue > 0:
        halflife = m.creatives.halflife[ads.creative] / m.params.age_fatigue
        age = np.maximum(day - ads.born, 0)
        decay = decay * np.exp2(-age / np.maximum(halflife, 1e-9))
    return ads.floor + (1.0 - ads.floor) * decay


def _safe_div(num: F8, den: F8) -> F8:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def plan_day(
    m: Market,
    day: int,
    rng: np.random.Generator | None = None,
    *,
    budget_cents: tuple[I8, I8] | None = None,
    neutral: bool = False,
) -> Plan:
    """Plan day `day` (a date ordinal). With `rng`, day-level noise (pacing, CPM) is drawn.

    `budget_cents` overrides (campaign budgets, ad set budgets) for what-if truth queries;
    `neutral` drops the weekday pattern and regime shift (a "typical day").
    """
    ads, sets, camps = m.ads, m.adsets, m.campaigns
    n_sets = len(sets.id)
    a_set = ads.adset
    s_camp = sets.campaign
    c_budget, s_budget = budget_cents if budget_cents is not None else (camps.budget, sets.budget)

    camp_on = (camps.status == ACTIVE) & (camps.day <= day)
    geo_w = sets.cw * sets.geo
    geo_share = geo_w.sum(axis=1)
    hour_w = _HOUR_W[None, :] * sets.hours
    hour_share = hour_w.sum(axis=1)
    set_on = (
        (sets.status == ACTIVE)
        & camp_on[s_camp]
        & (sets.day <= day)
        & (geo_share > 0)
        & (hour_share > 0)
    )

    ad_on = (ads.status == ACTIVE) & set_on[a_set] & (ads.day <= day)
    fatigue = ad_fatigue(m, day)
    quality = ads.ctr * fatigue * ads.cvr**m.params.cvr_visibility
    weight = np.where(ad_on, quality ** sets.kappa[a_set], 0.0)
    total_w = np.bincount(a_set, weights=weight, minlength=n_sets).astype(np.float64)
    set_on = set_on & (total_w > 0)
    share = np.where(ad_on & set_on[a_set], _safe_div(weight, total_w[a_set]), 0.0)

    p_country = _safe_div(geo_w, geo_share[:, None])
    cpm_mix = (p_country * sets.ccpm).sum(axis=1)
    cvr_geo = (p_country * sets.ccvr).sum(axis=1)
    p_hour = _safe_div(hour_w, hour_share[:, None])
    cvr_hour = (p_hour * sets.hcvr).sum(axis=1)

    weekday = dt.date.fromordinal(day).weekday()
    cpm_day = np.full(n_sets, 1.0 if neutral else WEEKDAY_CPM[weekday])
    cvr_day = 1.0 if neutral else WEEKDAY_CVR[weekday]
    regime = m.params.regime
    if regime is not None and not neutral and regime.start <= day < regime.end:
        if regime.kind == "cpm":
            cpm_day = cpm_day * regime.multiplier
        else:
            cvr_day = cvr_day * regime.multiplier
    if not neutral:
        for shock in m.params.shocks:
            if shock.day == day:
                if shock.kind == "cpm":
                    cpm_day = cpm_day * shock.multiplier
                else:
                    cvr_day = cvr_day * shock.multiplier
    pace_set = np.ones(n_sets)
    pace_camp = np.ones(len(camps.id))
    if rng is not None:
        # Account-wide market noise plus a smaller ad-set-specific part.
        cpm_day = cpm_day * np.exp(
            rng.normal(0.0, m.params.cpm_noise) + rng.normal(0.0, m.params.cpm_noise_adset, n_sets)
        )
        pace_set = np.clip(np.exp(rng.normal(0.0, m.params.pace_sigma, n_sets)), 0.8, 1.25)
        pace_camp = np.clip(np.exp(rng.normal(0.0, m.params.pace_sigma, len(camps.id))), 0.8, 1.25)

    cpm = sets.cpm * cpm_mix * cpm_day
    h_eff = sets.h * geo_share * hour_share

    # Budgets: an ad set spends its own budget, or its share of its campaign's budget.
    cbo_set = camps.cbo[s_camp]
    spend = np.where(set_on & ~cbo_set, s_budget / 100.0 * pace_set, 0.0)
    if np.any(cbo_set & set_on):
        eff = _safe_div(sets.ctr * sets.cvr * cvr_geo * cvr_hour, sets.cpm * cpm_mix)
        k = m.profile.cbo_efficiency_weight
        raw = np.where(cbo_set & set_on, h_eff * np.power(np.maximum(eff, 1e-12), k), 0.0)
        camp_raw = np.bincount(s_camp, weights=raw, minlength=len(camps.id)).astype(np.float64)
        alloc = _safe_div(raw, camp_raw[s_camp]) * (c_budget[s_camp] / 100.0) * pace_camp[s_camp]
        spend = np.where(cbo_set, alloc, spend)

    # Saturation: impressions/day = 1000·s / (CPM·(1 + s/h)) on a Michaelis–Menten curve, the
    # Hill generalisation (conversions ∝ sⁿ/(hⁿ + sⁿ)) when the ad set's shape n is above 1.
    cpm_eff = cpm * saturation(_safe_div(spend, h_eff), sets.shape)
    impressions = _safe_div(1000.0 * spend, cpm_eff)

    learn_mult = np.where(sets.learn == LEARNING, sets.learn_pen, 1.0)
    ctr = np.clip(sets.ctr[a_set] * ads.ctr * fatigue, 0.0, _MAX_RATE)
    cvr = np.clip(
        sets.cvr[a_set] * ads.cvr * cvr_geo[a_set] * cvr_hour[a_set] * learn_mult[a_set] * cvr_day,
        0.0,
        _MAX_RATE,
    )

    conv_country = _safe_div(p_country * sets.ccvr, (p_country * sets.ccvr).sum(axis=1)[:, None])
    spend_country = _safe_div(p_country * sets.ccpm, cpm_mix[:, None])
    conv_hour = _safe_div(p_hour * sets.hcvr, (p_hour * sets.hcvr).sum(axis=1)[:, None])
    return Plan(
        ad_on=ad_on,
        share=share,
        fatigue=fatigue,
        set_on=set_on,
        spend=spend,
        cpm_eff=cpm_eff,
        impressions=impressions,
        ctr=ctr,
        cvr=cvr,
        p_country=p_country,
        conv_country=conv_country,
        spend_country=spend_country,
        p_hour=p_hour,
        conv_hour=conv_hour,
        cpm_base=cpm,
        h_eff=h_eff,
        learn_mult=learn_mult,
    )


@dataclass
class DayResult:
    spend: I8  # per ad, cents
    impressions: I8
    clicks: I8
    conversions: I8
    frequency: F8
    by_country: npt.NDArray[np.int32] | None  # (S, G, 4): spend cents, impressions, clicks, conv
    by_hour: npt.NDArray[np.int32] | None  # (S, 24, 4)
    # The day's expectation before count noise: what benchmarks score decisions on.
    expected_conversions: float = 0.0
    expected_spend: float = 0.0  # dollars


def simulate_day(m: Market, day: int, rng: np.random.Generator) -> DayResult:
    """Draw one day's counts and move the market's running state (fatigue, learning) forward."""
    plan = plan_day(m, day, rng)
    ads, sets = m.ads, m.adsets
    a_set = ads.adset
    n_sets = len(sets.id)

    lam = plan.impressions[a_set] * plan.share
    impressions = rng.poisson(lam).astype(np.int64)
    spend = np.rint(impressions * plan.cpm_eff[a_set] / 10.0).astype(np.int64)  # cents
    clicks = rng.binomial(impressions, plan.ctr).astype(np.int64)
    conversions = rng.binomial(clicks, plan.cvr).astype(np.int64)

    frequency = np.zeros(len(ads.id))
    if m.profile.reports_frequency:
        # Frequency climbs as an ad wears its audience out: 1 when fresh, max_frequency when spent.
        worn = 1.0 - np.exp(-ads.cum / ads.tau)
        noise = np.exp(rng.normal(0.0, 0.04, len(ads.id)))
        frequency = np.where(
            impressions > 0,
            np.round((1.05 + (m.profile.max_frequency - 1.05) * worn) * noise, 2),
            0.0,
        )

    by_country = by_hour = None
    if m.params.breakdowns:
        set_spend = np.bincount(a_set, weights=spend, minlength=n_sets).astype(np.int64)
        set_imps = np.bincount(a_set, weights=impressions, minlength=n_sets).astype(np.int64)
        set_clicks = np.bincount(a_set, weights=clicks, minlength=n_sets).astype(np.int64)
        set_conv = np.bincount(a_set, weights=conversions, minlength=n_sets).astype(np.int64)
        by_country = _breakdown(
            rng,
            set_spend,
            set_imps,
            set_clicks,
            set_conv,
            plan.spend_country,
            plan.p_country,
            plan.conv_country,
        )
        by_hour = _breakdown(
            rng, set_spend, set_imps, set_clicks, set_conv, plan.p_hour, plan.p_hour, plan.conv_hour
        )

    ads.cum = ads.cum + impressions
    _update_learning(m, day, conversions)
    return DayResult(
        spend,
        impressions,
        clicks,
        conversions,
        frequency,
        by_country,
        by_hour,
        expected_conversions=float(np.sum(lam * plan.ctr * plan.cvr)),
        expected_spend=float(np.sum(plan.spend[plan.set_on])),
    )


def _breakdown(
    rng: np.random.Generator,
    spend: I8,
    imps: I8,
    clicks: I8,
    conv: I8,
    p_spend: F8,
    p_imps: F8,
    p_conv: F8,
) -> npt.NDArray[np.int32]:
    # Spend and impressions split by expectation (large counts); clicks and conversions are drawn,
    # so small counts land in buckets the way real ones do. Every split sums to the ad set's total.
    out = np.zeros((*p_imps.shape, 4), dtype=np.int32)
    out[..., 0] = _split_exact(spend, p_spend)
    out[..., 1] = _split_exact(imps, p_imps)
    out[..., 2] = _multinomial(rng, clicks, p_imps)
    out[..., 3] = _multinomial(rng, conv, p_conv)
    return out


def _split_exact(total: I8, p: F8) -> I8:
    """Integer split of `total` by row shares `p` that sums exactly (rounded cumulative shares)."""
    if p.shape[0] == 0:
        return np.zeros(p.shape, dtype=np.int64)
    cum = np.rint(total[:, None] * np.cumsum(_normalise(p), axis=1)).astype(np.int64)
    cum[:, -1] = total
    return np.diff(cum, axis=1, prepend=0)


def _multinomial(rng: np.random.Generator, n: I8, p: F8) -> I8:
    if p.shape[0] == 0:
        return np.zeros(p.shape, dtype=np.int64)
    out = np.zeros(p.shape, dtype=np.int64)
    rows = n > 0
    if np.any(rows):
        out[rows] = rng.multinomial(n[rows], _normalise(p[rows]))
    return out


def _normalise(p: F8) -> F8:
    # Rows with no mass (an ad set that did not deliver) get a uniform split of their zero total.
    sums = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(sums > 0, p / np.where(sums > 0, sums, 1.0), uniform)


def _update_learning(m: Market, day: int, conversions: I8) -> None:
    sets = m.adsets
    needed = m.profile.learning_events
    if needed <= 0:
        return
    events = np.bincount(m.ads.adset, weights=conversions, minlength=len(sets.id))
    learning = sets.learn == LEARNING
    sets.learn_events = np.where(learning, sets.learn_events + events, sets.learn_events)
    done = learning & (sets.learn_events >= needed)
    expired = learning & ~done & (day + 1 >= sets.learn_until)
    sets.learn = np.where(done, LEARNED, np.where(expired, LIMITED, sets.learn))
