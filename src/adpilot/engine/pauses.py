"""pause_adset and pause_ad proposals: only on credible evidence, never the last active one."""

from __future__ import annotations

import math

import numpy as np

from adpilot.engine.estimates import GammaPosterior, normal_cdf
from adpilot.engine.frame import Frame
from adpilot.engine.learning import learning_cost, pause_gain
from adpilot.engine.plan import (
    RunPlan,
    cents,
    make_proposal,
    prob,
    rounded,
    target_label,
    target_text,
)
from adpilot.engine.text import CLASS_LABEL, cpa_phrase, entity_ref, money, percent
from adpilot.engine.types import PAUSABLE_CLASSES, FloatArray, Proposal
from adpilot.engine.windows import group_sum

_STATUS_ACTIVE = {"status": "active"}
_STATUS_PAUSED = {"status": "paused"}


def _estimate_tail(frame: Frame, est: float, lo: float, hi: float, conf: float) -> str:
    cur = frame.inp.currency
    return (
        f"estimated true CPA {money(est, cur)} (90% interval {money(lo, cur)}–{money(hi, cur)}), "
        f"{percent(conf)} likely above {target_label(frame)}"
    )


def propose_adset_pauses(frame: Frame, plan: RunPlan) -> list[Proposal]:
    """Ad sets credibly far above target with enough spend, never a campaign's last one."""
    st, target = frame.settings, frame.target
    if target is None or not frame.adsets:
        return []
    est, w, cur = frame.adset, frame.window, frame.inp.currency
    spend = frame.adset_w.get("spend", w)
    classes = np.array(est.classes)
    p_far = est.post.p_cpa_above(st.adset_pause_cpa_multiple * target)
    ad_top = np.array(frame.ad.classes) == "TOP_PERFORMER"
    has_top = np.bincount(frame.ad_adset, weights=ad_top, minlength=len(frame.adsets)) > 0
    cand = (
        frame.adset_live
        & ~frame.adset_learning
        & np.isin(classes, list(PAUSABLE_CLASSES))
        & (spend >= st.adset_pause_min_spend_multiple * target)
        & (p_far >= st.credible_probability)
        & (est.p_above >= st.pause_probability)
        # An ad set holding a top performer is better fixed by pausing its losing ads.
        & ~has_top
        # Its last days are a learning phase adpilot itself started: no verdict until it ends.
        & ~_own_learning(frame, plan)
    )
    out: list[Proposal] = []
    for j in sorted(np.flatnonzero(cand).tolist(), key=lambda k: -est.p_above[k]):
        c = int(frame.adset_campaign[j])
        if int(frame.active_adsets[c]) - plan.paused_per_campaign.get(c, 0) < 2:
            continue
        plan.paused_per_campaign[c] = plan.paused_per_campaign.get(c, 0) + 1
        plan.paused_adsets.add(j)
        adset, campaign = frame.adsets[j], frame.campaigns[c]
        conf = prob(float(est.p_above[j]))
        conv = int(frame.adset_w.get("conversions", w)[j])
        s = float(spend[j])
        rationale = (
            f"{CLASS_LABEL[est.classes[j]]} — "
            f"{cpa_phrase(s, conv, w, cur, target_text(frame))}; "
            f"{_estimate_tail(frame, est.cpa_estimate[j], est.cpa_low[j], est.cpa_high[j], conf)}"
            f" and {percent(float(p_far[j]))} likely above "
            f"{st.adset_pause_cpa_multiple:g}× {target_label(frame)}."
        )
        out.append(
            make_proposal(
                action_type="pause_adset",
                entity_type="adset",
                entity_id=adset.id,
                entity_name=adset.name,
                campaign_id=campaign.id,
                adset_id=adset.id,
                current=_STATUS_ACTIVE,
                new=_STATUS_PAUSED,
                summary=(
                    f"Pause {entity_ref('adset', adset.name)} in "
                    f"{entity_ref('campaign', campaign.name)}"
                ),
                rationale=rationale,
                confidence=conf,
                evidence={
                    "class": est.classes[j],
                    "windowDays": w,
                    "spendCents": cents(s),
                    "conversions": conv,
                    "impressions": int(frame.adset_w.get("impressions", w)[j]),
                    "targetCpaCents": rounded(target, 2),
                    "cpaEstimateCents": rounded(est.cpa_estimate[j], 2),
                    "cpaLowCents": rounded(est.cpa_low[j], 2),
                    "cpaHighCents": rounded(est.cpa_high[j], 2),
                    "pAboveTarget": conf,
                    "pAboveFarMultiple": rounded(p_far[j], 3),
                    "farMultiple": st.adset_pause_cpa_multiple,
                },
                fingerprint={
                    "class": est.classes[j],
                    "cpa_ratio": float(est.cpa_estimate[j] / target),
                },
            )
        )
    return out


def fatigue_text(frame: Frame, i: int) -> str:
    """Fatigue evidence: CPA recent vs earlier, CTR recent vs earlier, frequency if known."""
    cur, ws, f = frame.inp.currency, frame.ad_w, frame.fatigue
    longer = max(frame.n_days, 1)
    earlier_days = max(longer - 7, 0)
    rs, rc = float(ws.get("spend", 7)[i]), int(ws.get("conversions", 7)[i])
    es = float(ws.between("spend", 7, longer)[i])
    ec = int(ws.between("conversions", 7, longer)[i])

    def cpa(spend: float, conv: int) -> str:
        return money(spend / conv, cur) if conv > 0 else f"no conversions for {money(spend, cur)}"

    text = (
        f"CPA went from {cpa(es, ec)} in the {earlier_days} days before to {cpa(rs, rc)} "
        f"in the last 7 days"
    )
    if f.ctr_falling[i]:
        text += (
            f" while CTR fell from {100 * f.ctr_earlier[i]:.2f}% to {100 * f.ctr_recent[i]:.2f}%"
        )
    freq = float(f.frequency_recent[i])
    if np.isfinite(freq) and freq >= frame.settings.fatigue_frequency:
        text += f", with frequency averaging {freq:.1f}"
    return text


def fatigue_evidence(frame: Frame, i: int) -> dict[str, object]:
    ws, f = frame.ad_w, frame.fatigue
    longer = max(frame.n_days, 1)
    freq = float(f.frequency_recent[i])
    return {
        "recentDays": 7,
        "recentSpendCents": cents(ws.get("spend", 7)[i]),
        "recentConversions": int(ws.get("conversions", 7)[i]),
        "recentImpressions": int(ws.get("impressions", 7)[i]),
        "recentClicks": int(ws.get("clicks", 7)[i]),
        "earlierDays": max(longer - 7, 0),
        "earlierSpendCents": cents(ws.between("spend", 7, longer)[i]),
        "earlierConversions": int(ws.between("conversions", 7, longer)[i]),
        "earlierImpressions": int(ws.between("impressions", 7, longer)[i]),
        "earlierClicks": int(ws.between("clicks", 7, longer)[i]),
        "pDecline": rounded(f.p_decline[i], 3),
        "cpaWorsening": rounded(f.worsening[i], 3),
        "frequencyRecent": rounded(freq, 2),
        "pRecentAboveTarget": rounded(f.p_recent_above[i], 3),
    }


def _sibling_posteriors(frame: Frame, window: int) -> tuple[GammaPosterior, GammaPosterior]:
    """(the ad's own posterior, its active siblings' pooled posterior) over `window` days."""
    ws, n_sets = frame.ad_w, len(frame.adsets)
    conv, exp = ws.get("conversions", window), ws.get("exposure", window)
    active = frame.ad_active.astype(np.float64)
    set_conv = group_sum(conv * active, frame.ad_adset, n_sets)[frame.ad_adset]
    set_exp = group_sum(exp * active, frame.ad_adset, n_sets)[frame.ad_adset]
    rest = frame.hier.ad_prior.update(set_conv - conv * active, set_exp - exp * active)
    own = frame.hier.ad_prior.update(conv, exp)
    return own, rest


def sibling_rate(frame: Frame, window: int) -> FloatArray:
    """Posterior mean conversions per cent of each ad's active siblings."""
    return _sibling_posteriors(frame, window)[1].mean_rate()


def p_worse_than_siblings(frame: Frame, window: int) -> FloatArray:
    """P(the ad converts worse than the other active ads of its ad set, by the sibling margin).

    Pausing an ad moves its spend to its siblings, so it only helps when they convert better.
    """
    st = frame.settings
    own, rest = _sibling_posteriors(frame, window)
    m_own, v_own = own.log_rate_moments()
    m_rest, v_rest = rest.log_rate_moments()
    gap = math.log(1.0 + st.pause_sibling_margin)
    return normal_cdf((m_rest - m_own - gap) / np.sqrt(v_own + v_rest))


def _own_learning(frame: Frame, plan: RunPlan) -> np.ndarray:
    """Per ad set: in a learning phase one of adpilot's own recent edits started."""
    if plan.own is None:
        return np.zeros(len(frame.adsets), dtype=bool)
    return np.asarray(plan.own.relearning, dtype=bool)


def ad_pause_candidates(frame: Frame, plan: RunPlan) -> list[tuple[int, float, float]]:
    """(ad, confidence, P(worse than siblings)) of live pausable ads on credible evidence."""
    st, target = frame.settings, frame.target
    if target is None or not frame.ads:
        return []
    classes = np.array(frame.ad.classes)
    fatigued = classes == "FATIGUED"
    conf = np.where(fatigued, frame.fatigue.p_recent_above, frame.ad.p_above)
    p_rest = np.where(
        fatigued, p_worse_than_siblings(frame, 7), p_worse_than_siblings(frame, frame.window)
    )
    paused_sets = np.zeros(len(frame.adsets), dtype=bool)
    paused_sets[list(plan.paused_adsets)] = True
    cand = (
        frame.ad_live
        & ~paused_sets[frame.ad_adset]
        & np.isin(classes, list(PAUSABLE_CLASSES))
        # The ad's own spend must have given it a fair chance; a prior alone never pauses.
        & (frame.ad_w.get("spend", frame.window) >= st.pause_min_spend_multiple * target)
        & (conf >= st.pause_probability)
        & (p_rest >= st.credible_probability)
        # Never an ad in a learning phase adpilot itself started, until that phase ends.
        & ~_own_learning(frame, plan)[frame.ad_adset]
    )
    idx = np.flatnonzero(cand).tolist()
    return sorted(((i, float(conf[i]), float(p_rest[i])) for i in idx), key=lambda t: (-t[1], t[0]))


def pause_weighing(frame: Frame) -> tuple[FloatArray, FloatArray]:
    """Per ad: (conversions a pause wins over the horizon, learning cost to its ad set)."""
    fatigued = np.array(frame.ad.classes) == "FATIGUED"
    # A tired ad is judged on the last week, against what its siblings convert at lately.
    siblings = np.where(fatigued, sibling_rate(frame, 7), sibling_rate(frame, frame.window))
    own = np.where(fatigued, frame.fatigue.recent.mean_rate(), frame.ad.post.mean_rate())
    return pause_gain(frame, own, siblings), learning_cost(frame)[frame.ad_adset]


def propose_ad_pause(
    frame: Frame,
    plan: RunPlan,
    i: int,
    confidence: float,
    p_rest: float,
    weighing: tuple[FloatArray, FloatArray],
) -> Proposal | None:
    """pause_ad for ad i unless it is the last active ad of its ad set after this run's pauses,
    or the conversions its spend wins elsewhere do not repay the ad set's new learning phase."""
    j = int(frame.ad_adset[i])
    if i in plan.touched_ads or plan.remaining_ads(frame, j) < 2:
        return None
    ad = frame.ads[i]
    # A creative this run or a recent one placed in another ad set on the same evidence is not
    # judged a loser here.
    if plan.placed_elsewhere(ad.ads_content_id, j):
        return None
    gain_all, cost_all = weighing
    weighed = plan.weigh(frame, j, float(gain_all[i]), float(cost_all[i]))
    klass = frame.ad.classes[i]
    # A critical ad (money without return) is stopped whatever the re-learning costs.
    critical = klass == "CRITICAL"
    if not critical and not weighed.repays:
        return None
    plan.remove_ad(j, i)
    plan.relearning.add(j)
    if ad.ads_content_id:
        plan.paused_creatives.add(ad.ads_content_id)
    st, target, cur, w = frame.settings, frame.target, frame.inp.currency, frame.window
    assert target is not None
    adset = frame.adsets[j]
    est = frame.ad
    conf = prob(confidence)
    crit = min(st.critical_window_days, max(frame.n_days, 1))
    spend_c, conv_c = (
        float(frame.ad_w.get("spend", crit)[i]),
        int(frame.ad_w.get("conversions", crit)[i]),
    )
    spend_w, conv_w = float(frame.ad_w.get("spend", w)[i]), int(frame.ad_w.get("conversions", w)[i])
    evidence: dict[str, object] = {
        "class": klass,
        "windowDays": w,
        "spendCents": cents(spend_w),
        "conversions": conv_w,
        "impressions": int(frame.ad_w.get("impressions", w)[i]),
        "targetCpaCents": rounded(target, 2),
        "cpaEstimateCents": rounded(est.cpa_estimate[i], 2),
        "cpaLowCents": rounded(est.cpa_low[i], 2),
        "cpaHighCents": rounded(est.cpa_high[i], 2),
        "pAboveTarget": rounded(est.p_above[i], 3),
        "score": rounded(est.score[i], 1),
        "pWorseThanSiblings": rounded(p_rest, 3),
        **weighed.evidence(),
    }
    clause = weighed.clause()
    if critical and not weighed.repays:
        clause += " (spend without return is stopped regardless)"
    if klass == "FATIGUED":
        evidence.update(fatigue_evidence(frame, i))
        rationale = (
            f"Fatigued — {fatigue_text(frame, i)}; {percent(conf)} likely that its current CPA "
            f"is above {target_text(frame)}, and no fresh eligible creative is available to swap "
            f"in; moving its spend to its siblings: {clause}."
        )
    else:
        if klass == "CRITICAL" and spend_c > st.critical_spend_cents and conv_c == 0:
            head = cpa_phrase(spend_c, 0, crit, cur, target_text(frame))
            evidence.update({"criticalDays": crit, "criticalSpendCents": cents(spend_c)})
        else:
            head = cpa_phrase(spend_w, conv_w, w, cur, target_text(frame))
        tail = _estimate_tail(frame, est.cpa_estimate[i], est.cpa_low[i], est.cpa_high[i], conf)
        rationale = (
            f"{CLASS_LABEL[klass]} — {head}; {tail}. Moving its spend to its siblings: {clause}."
        )
    return make_proposal(
        action_type="pause_ad",
        entity_type="ad",
        entity_id=ad.id,
        entity_name=ad.name,
        campaign_id=ad.campaign_id,
        adset_id=adset.id,
        current=_STATUS_ACTIVE,
        new=_STATUS_PAUSED,
        summary=f"Pause {entity_ref('ad', ad.name)} in {entity_ref('adset', adset.name)}",
        rationale=rationale,
        confidence=conf,
        evidence=evidence,
        fingerprint={"class": klass, "cpa_ratio": float(est.cpa_estimate[i] / target)},
    )
