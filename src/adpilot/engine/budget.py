"""update_budget: saturating response curves per budget holder and equal-marginal-CPA allocation.

Each budget holder (the campaign under campaign budgets, else each ad set) gets a Michaelis–Menten
curve conversions/day = V·s / (K + s). K is fitted on a grid of K / current spend from the holder's
daily spend and conversions with a log-normal prior whose centre is pooled across the account's
holders (daily spend rarely varies enough to identify K alone), V comes from the holder's pooled
posterior conversion rate. Budgets then move towards one
common marginal CPA θ inside the per-run step caps. With a stated target, θ is chosen so that the
account's average CPA lands on it, but never more than `budget_target_drift` away from the
budget-neutral θ in one run; without one (the target is then the pool's own CPA), θ keeps total
spend where it is and only moves money between holders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from adpilot.engine.frame import Frame
from adpilot.engine.plan import RunPlan, cents, make_proposal, prob, rounded, target_text
from adpilot.engine.text import CLASS_LABEL, cpa_phrase, entity_ref, money, signed_percent
from adpilot.engine.types import EngineSettings, FloatArray, Proposal
from adpilot.engine.windows import IntArray, group_sum
from adpilot.platforms.base import EntityType

_RATIO_GRID = np.exp(np.linspace(math.log(0.25), math.log(8.0), 17))
_BISECT_STEPS = 60


@dataclass(frozen=True, eq=False)
class Holders:
    kinds: list[EntityType]
    index: IntArray  # position within frame.campaigns or frame.adsets
    budget: FloatArray  # cents
    spend: FloatArray  # mean daily spend over the last 7 days, cents
    shape: FloatArray  # posterior of conversions per cent
    rate: FloatArray
    eligible: np.ndarray
    paused: np.ndarray  # ad set holders paused by this run: their spend is freed


def find_holders(frame: Frame, plan: RunPlan) -> tuple[Holders, FloatArray, FloatArray, FloatArray]:
    """Budget holders with their posteriors, plus their daily spend/exposure series."""
    kinds: list[EntityType] = []
    index: list[int] = []
    campaign_holder = np.full(len(frame.campaigns), -1, dtype=np.intp)
    adset_holder = np.full(len(frame.adsets), -1, dtype=np.intp)
    for c, camp in enumerate(frame.campaigns):
        if camp.budget_mode == "campaign" and camp.daily_budget_cents:
            campaign_holder[c] = len(kinds)
            kinds.append("campaign")
            index.append(c)
    for j, adset in enumerate(frame.adsets):
        camp = frame.campaigns[int(frame.adset_campaign[j])]
        if camp.budget_mode == "adset" and adset.daily_budget_cents:
            adset_holder[j] = len(kinds)
            kinds.append("adset")
            index.append(j)
    n = len(kinds)
    idx = np.array(index, dtype=np.intp)
    is_camp = np.array([k == "campaign" for k in kinds], dtype=bool)

    hoa = adset_holder[frame.ad_adset] if len(frame.ads) else np.zeros(0, dtype=np.intp)
    if len(frame.ads):
        hoa = np.where(hoa >= 0, hoa, campaign_holder[frame.ad_campaign])
    mask = hoa >= 0
    spend_d = group_sum(frame.daily["spend"][mask], hoa[mask], n)
    exp_d = group_sum(frame.daily["exposure"][mask], hoa[mask], n)
    conv_d = group_sum(frame.daily["conversions"][mask], hoa[mask], n)

    def pick(camp_vals: FloatArray, set_vals: FloatArray) -> FloatArray:
        out = np.zeros(n)
        out[is_camp] = camp_vals[idx[is_camp]]
        out[~is_camp] = set_vals[idx[~is_camp]]
        return out

    def pick_bool(camp_vals: np.ndarray, set_vals: np.ndarray) -> np.ndarray:
        return pick(camp_vals.astype(np.float64), set_vals.astype(np.float64)) > 0.5

    budget = np.array(
        [
            float(
                (
                    frame.campaigns[k].daily_budget_cents
                    if kind == "campaign"
                    else frame.adsets[k].daily_budget_cents
                )
                or 0
            )
            for kind, k in zip(kinds, index, strict=True)
        ]
    )
    recent = min(7, max(frame.n_days, 1))
    spend = spend_d[:, -recent:].sum(axis=1) / recent if frame.n_days else np.zeros(n)
    live = pick_bool(frame.campaign_live, frame.adset_live)
    learning = pick_bool(frame.campaign_learning, frame.adset_learning)
    paused = np.array(
        [kind == "adset" and k in plan.paused_adsets for kind, k in zip(kinds, index, strict=True)],
        dtype=bool,
    )
    holders = Holders(
        kinds=kinds,
        index=idx,
        budget=budget,
        spend=spend,
        shape=pick(frame.hier.campaign.shape, frame.hier.adset.shape),
        rate=pick(frame.hier.campaign.rate, frame.hier.adset.rate),
        eligible=live & ~learning & ~paused & (budget > 0) & (spend > 0),
        paused=paused,
    )
    return holders, spend_d, exp_d, conv_d


def saturation_loglik(
    spend_d: FloatArray, exposure_d: FloatArray, conv_d: FloatArray, ref_spend: FloatArray
) -> FloatArray:
    """Per holder and grid point r = K / s: the profile Poisson log-likelihood of the daily
    conversions under conversions/day = V·s / (K + s), with V profiled out."""
    r = _RATIO_GRID
    k = r[None, :, None] * np.maximum(ref_spend, 1.0)[:, None, None]
    g = exposure_d[:, None, :] / (k + spend_d[:, None, :])
    c = conv_d[:, None, :]
    with np.errstate(divide="ignore"):
        log_g = np.log(np.maximum(g, 1e-300))
    ll = np.where(c > 0, c * log_g, 0.0).sum(axis=2)
    total_g = g.sum(axis=2)
    ll -= conv_d.sum(axis=1)[:, None] * np.log(np.maximum(total_g, 1e-300))
    return np.asarray(ll, dtype=np.float64)


def _log_prior(centre: float, settings: EngineSettings) -> FloatArray:
    lp = -((np.log(_RATIO_GRID) - math.log(centre)) ** 2) / (
        2.0 * settings.response_prior_log_sd**2
    )
    return np.asarray(lp - special.logsumexp(lp), dtype=np.float64)


def pooled_prior_centre(ll: FloatArray, settings: EngineSettings) -> float:
    """The account's typical K / s: the log-normal prior centre that best explains every
    holder's curvature at once (type-II maximum likelihood over the grid), shrunk towards
    `response_prior_ratio` by a log-normal hyperprior. One holder's days rarely vary enough to
    show its own curvature; together they show the account's."""
    if ll.shape[0] == 0:
        return settings.response_prior_ratio
    centres = _RATIO_GRID
    hyper = -((np.log(centres) - math.log(settings.response_prior_ratio)) ** 2) / (
        2.0 * settings.response_pool_log_sd**2
    )
    priors = np.stack([_log_prior(float(c), settings) for c in centres])  # (centre, grid)
    score = special.logsumexp(ll[:, None, :] + priors[None, :, :], axis=2).sum(axis=0)
    return float(centres[int(np.argmax(score + hyper))])


def saturation_factor(
    spend_d: FloatArray,
    exposure_d: FloatArray,
    conv_d: FloatArray,
    ref_spend: FloatArray,
    settings: EngineSettings,
    centre: float | None = None,
) -> FloatArray:
    """Posterior mean of (K + s) / K = marginal CPA / average CPA at the current spend s.

    Grid posterior over r = K / s: profile Poisson likelihood of daily conversions (V profiled
    out) times a log-normal prior centred on the pooled centre of all the account's holders
    (or `centre` when given).
    """
    n = spend_d.shape[0]
    if n == 0:
        return np.zeros(0)
    ll = saturation_loglik(spend_d, exposure_d, conv_d, ref_spend)
    if centre is None:
        centre = pooled_prior_centre(ll, settings)
    logpost = ll + _log_prior(centre, settings)[None, :]
    logpost -= logpost.max(axis=1, keepdims=True)
    w = np.exp(logpost)
    w /= w.sum(axis=1, keepdims=True)
    return np.asarray(w @ (1.0 + 1.0 / _RATIO_GRID), dtype=np.float64)


def _spend_at(
    theta: float, v: FloatArray, k: FloatArray, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    # Spend where the marginal CPA (K + s)² / (V K) equals θ, inside the step box.
    return np.clip(np.sqrt(v * k * theta) - k, lo, hi)


def _bisect(f: Callable[[float], float], lo: float, hi: float, goal: float) -> float:
    """log-space bisection for θ with f(θ) = goal on an increasing f."""
    a, b = math.log(lo), math.log(hi)
    if f(math.exp(a)) >= goal:
        return math.exp(a)
    if f(math.exp(b)) <= goal:
        return math.exp(b)
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (a + b)
        if f(math.exp(mid)) < goal:
            a = mid
        else:
            b = mid
    return math.exp(0.5 * (a + b))


# Classes whose label explains a raise by itself.
_RAISE_CLASSES = frozenset({"TOP_PERFORMER", "HEALTHY"})


def propose_budgets(frame: Frame, plan: RunPlan) -> list[Proposal]:
    st, target = frame.settings, frame.target
    if target is None or not (frame.campaigns and frame.adsets):
        return []
    h, spend_d, exp_d, conv_d = find_holders(frame, plan)
    el = h.eligible
    if not np.any(el):
        return []
    s = h.spend
    lam = h.shape / h.rate  # conversions per cent at the current spend
    factor = saturation_factor(spend_d, exp_d, conv_d, s, st)
    factor = np.maximum(factor, 1.0 + 1e-6)
    k = np.maximum(s, 1.0) / (factor - 1.0)
    v = lam * (k + s)

    # A budget change above the platform's significant-edit threshold restarts learning, which
    # costs more than a faster move gains: stay under it.
    max_fraction = min(
        st.budget_max_step_fraction,
        st.learning_safe_budget_step.get(frame.inp.platform, st.budget_max_step_fraction),
    )
    step = np.minimum(max_fraction, st.budget_max_step_cents / np.maximum(h.budget, 1.0))
    mins = np.array(
        [st.min_daily_budget(frame.inp.platform, kind) for kind in h.kinds], dtype=np.float64
    )
    explore = st.exploration_budget_share * float(h.budget[el].mean())
    floor = np.maximum(mins, explore) / np.maximum(h.budget, 1.0)
    lo_ratio = np.minimum(1.0, np.maximum(1.0 - step, floor))
    hi_ratio = np.where(s >= st.under_delivery_fraction * h.budget, 1.0 + step, 1.0)
    # Holders we cannot move keep their spend; ad sets paused by this run free theirs.
    lo_ratio = np.where(el, lo_ratio, np.where(h.paused, 0.0, 1.0))
    hi_ratio = np.where(el, hi_ratio, np.where(h.paused, 0.0, 1.0))
    lo, hi = s * lo_ratio, s * hi_ratio

    def totals(theta: float) -> tuple[float, float]:
        s_new = _spend_at(theta, v, k, lo, hi)
        return float(s_new.sum()), float((v * s_new / np.maximum(k + s_new, 1e-9)).sum())

    def avg_cpa(theta: float) -> float:
        sp, cv = totals(theta)
        return sp / cv if cv > 0 else math.inf

    marginal = factor / lam
    span_lo = float(np.min(marginal[el])) / 100.0
    span_hi = float(np.max(marginal[el])) * 100.0
    theta_neutral = _bisect(lambda t: totals(t)[0], span_lo, span_hi, float(s.sum()))
    # Only a stated target (and an advertiser whose total is not fixed) lets the total move.
    grow = bool(frame.inp.target_cpa_cents) and not st.budget_hold_total
    if grow:
        theta_target = _bisect(avg_cpa, span_lo, span_hi, target)
        drift = st.budget_target_drift
        theta = min(max(theta_target, theta_neutral / drift), theta_neutral * drift)
    else:
        # Without a stated target there is no value to grow or shrink towards: reallocate only.
        theta = theta_neutral
    # When step caps bind, any θ beyond the caps gives the same budgets: report the nearest one.
    m_lo = (k + lo) ** 2 / np.maximum(v * k, 1e-300)
    m_hi = (k + hi) ** 2 / np.maximum(v * k, 1e-300)
    theta = min(max(theta, float(np.min(m_lo[el]))), float(np.max(m_hi[el])))
    s_new = _spend_at(theta, v, k, lo, hi)

    # Probability the holder's marginal CPA is on the side of θ that justifies the move.
    p_below = 1.0 - special.gammainc(h.shape, h.rate * factor / theta)

    w = frame.window
    moves: list[tuple[int, int, int, float]] = []
    for n in np.flatnonzero(el).tolist():
        budget = int(h.budget[n])
        want = budget * float(s_new[n] / s[n])
        raise_ = want > budget
        # Whole currency units, rounded towards the current budget so caps are never exceeded.
        new = int(math.floor(want / 100.0) * 100) if raise_ else int(math.ceil(want / 100.0) * 100)
        cap = min(int(budget * max_fraction), st.budget_max_step_cents)
        new = min(max(new, budget - cap), budget + cap)
        new = max(new, int(mins[n])) if new < budget else new
        if abs(new - budget) < max(st.budget_min_change_fraction * budget, 100):
            continue
        conf = float(p_below[n]) if new > budget else 1.0 - float(p_below[n])
        if conf < st.budget_probability:
            continue
        moves.append((n, budget, new, conf))
    if not grow:
        # Money freed by ad sets this run pauses is money to move, like a cut.
        freed = int(h.budget[h.paused].sum())
        moves = _within_total(moves, freed, st.budget_min_change_fraction)
    return [
        _proposal(frame, h, n, budget, new, conf, float(marginal[n]), theta, k[n], w)
        for n, budget, new, conf in moves
    ]


def _within_total(
    moves: list[tuple[int, int, int, float]], freed: int, min_change_fraction: float
) -> list[tuple[int, int, int, float]]:
    """Trim raises so that the moves that survived never add to the account's total spend.

    The balanced allocation keeps spend constant, but cuts that fail their confidence or size
    test drop out while the matching raises may not; without a stated target adpilot must only
    move money — what cuts and this run's ad set pauses free. The least certain raises give way
    first.
    """
    room = freed + sum(budget - new for _n, budget, new, _c in moves if new < budget)
    kept = [m for m in moves if m[2] < m[1]]
    for n, budget, new, conf in sorted(
        (m for m in moves if m[2] > m[1]), key=lambda m: m[3], reverse=True
    ):
        step = min(new - budget, room)
        step = (step // 100) * 100  # whole currency units
        if step < max(min_change_fraction * budget, 100):
            continue
        room -= step
        kept.append((n, budget, budget + step, conf))
    return sorted(kept, key=lambda m: m[0])


def _move_label(klass: str, raise_: bool) -> str:
    """The class when it explains the move; otherwise what does (the marginal cost).

    An ad set whose average CPA is high may still buy its next conversion cheaply (it is far
    from saturation), and a top performer may be saturated: "Underperforming … +14% budget"
    would read as a contradiction.
    """
    agrees = klass in _RAISE_CLASSES if raise_ else klass not in _RAISE_CLASSES
    if agrees:
        return CLASS_LABEL[klass]
    return "Room to grow" if raise_ else "Saturating"


def _proposal(
    frame: Frame,
    h: Holders,
    n: int,
    budget: int,
    new: int,
    confidence: float,
    marginal: float,
    theta: float,
    k: float,
    w: int,
) -> Proposal:
    cur, target = frame.inp.currency, frame.target
    assert target is not None
    kind, pos = h.kinds[n], int(h.index[n])
    if kind == "campaign":
        camp = frame.campaigns[pos]
        entity_id, name, campaign_id, adset_id = camp.id, camp.name, camp.id, None
        ws, est = frame.campaign_w, frame.campaign
    else:
        adset = frame.adsets[pos]
        entity_id, name, campaign_id, adset_id = adset.id, adset.name, adset.campaign_id, adset.id
        ws, est = frame.adset_w, frame.adset
    spend = float(ws.get("spend", w)[pos])
    conv = int(ws.get("conversions", w)[pos])
    conf = prob(confidence)
    change = (new - budget) / budget
    verb = "Raise" if new > budget else "Lower"
    side = "under" if new > budget else "over"
    rationale = (
        f"{_move_label(est.classes[pos], new > budget)} — "
        f"{cpa_phrase(spend, conv, w, cur, target_text(frame))}"
        f"; at current spend the next conversion costs about {money(marginal, cur)}, {side} the "
        f"{money(theta, cur)} the account can afford at the margin; "
        f"{signed_percent(change)} budget."
    )
    return make_proposal(
        action_type="update_budget",
        entity_type=kind,
        entity_id=entity_id,
        entity_name=name,
        campaign_id=campaign_id,
        adset_id=adset_id,
        current={"dailyBudgetCents": budget},
        new={"dailyBudgetCents": new},
        summary=(
            f"{verb} the daily budget of {entity_ref(kind, name)} from {money(budget, cur)} "
            f"to {money(new, cur)}"
        ),
        rationale=rationale,
        confidence=conf,
        evidence={
            "class": est.classes[pos],
            "windowDays": w,
            "spendCents": cents(spend),
            "conversions": conv,
            "impressions": int(ws.get("impressions", w)[pos]),
            "targetCpaCents": rounded(target, 2),
            "cpaEstimateCents": rounded(est.cpa_estimate[pos], 2),
            "avgDailySpendCents": rounded(float(h.spend[n]), 2),
            "marginalCpaCents": rounded(marginal, 2),
            "balancedMarginalCpaCents": rounded(theta, 2),
            "halfSaturationSpendCents": rounded(k, 2),
            "changeFraction": rounded(change, 4),
        },
        fingerprint={
            "direction": "up" if new > budget else "down",
            "cpa_ratio": float(est.cpa_estimate[pos] / target),
        },
    )
