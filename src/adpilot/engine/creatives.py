"""Creative proposals: replace_creative, prune_creative and push_creative."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from adpilot.engine.creative_pick import CreativePicker, creative_evidence
from adpilot.engine.frame import Frame
from adpilot.engine.learning import learning_cost, new_creative_gain, refresh_gain
from adpilot.engine.pauses import fatigue_evidence, fatigue_text
from adpilot.engine.plan import (
    RunPlan,
    cents,
    make_proposal,
    prob,
    rounded,
    target_label,
)
from adpilot.engine.text import entity_ref, money, percent, plural, quoted
from adpilot.engine.types import FloatArray, Proposal


def refresh_weighing(frame: Frame) -> tuple[FloatArray, FloatArray]:
    """Per ad: (conversions a fresh creative wins back over the horizon, learning cost to its
    ad set)."""
    return refresh_gain(frame), learning_cost(frame)[frame.ad_adset]


def propose_replace(
    frame: Frame,
    plan: RunPlan,
    picker: CreativePicker,
    i: int,
    weighing: tuple[FloatArray, FloatArray],
) -> Proposal | None:
    """replace_creative for a FATIGUED ad when a fresh eligible creative exists and the
    conversions it should win back over the horizon beat the ad set's new learning phase."""
    j = int(frame.ad_adset[i])
    if i in plan.touched_ads:
        return None
    gain_all, cost_all = weighing
    weighed = plan.weigh(frame, j, float(gain_all[i]), float(cost_all[i]))
    if not weighed.repays:
        return None
    creative = picker.pick(j, plan)
    if creative is None:
        return None
    plan.place(j, creative.id)
    plan.touched_ads.add(i)
    ad, adset = frame.ads[i], frame.adsets[j]
    conf = prob(float(frame.fatigue.p_decline[i]))
    old_name = picker.name_of(ad.ads_content_id)
    # The ad is usually named after its creative: name the creative only when it differs.
    old = f" ({quoted(old_name)})" if old_name and old_name != ad.name else ""
    evidence: dict[str, object] = {"class": "FATIGUED", **fatigue_evidence(frame, i)}
    evidence["newCreative"] = creative_evidence(creative, picker)
    evidence["targetCpaCents"] = rounded(frame.target or 0.0, 2)
    evidence.update(weighed.evidence())
    rationale = (
        f"Fatigued — {fatigue_text(frame, i)}; {percent(conf)} likely its conversion rate "
        f"declined. {picker.describe(creative, frame)} has not run in this ad set: "
        f"{weighed.clause()}."
    )
    return make_proposal(
        action_type="replace_creative",
        entity_type="ad",
        entity_id=ad.id,
        entity_name=ad.name,
        campaign_id=ad.campaign_id,
        adset_id=adset.id,
        current={"adsContentId": ad.ads_content_id},
        new={"adsContentId": creative.id},
        summary=(
            f"Replace the creative of {entity_ref('ad', ad.name)}{old} with {quoted(creative.name)}"
        ),
        rationale=rationale,
        confidence=conf,
        evidence=evidence,
        fingerprint={
            "creative": creative.id,
            "worsening": float(frame.fatigue.worsening[i]),
        },
    )


def propose_prunes(frame: Frame, plan: RunPlan) -> list[Proposal]:
    """prune_creative: live ads old enough that got no delivery while their ad set spent."""
    st = frame.settings
    if not frame.ads:
        return []
    days = min(st.prune_idle_days, max(frame.n_days, 1))
    ad_imps = frame.ad_w.get("impressions", days)
    ad_spend = frame.ad_w.get("spend", days)
    set_imps = frame.adset_w.get("impressions", days)[frame.ad_adset]
    set_spend = frame.adset_w.get("spend", days)[frame.ad_adset]
    # P(the ad's delivery share < prune_max_share | 0 of N impressions), uniform prior on share.
    conf = 1.0 - (1.0 - st.prune_max_share) ** (set_imps + 1.0)
    paused_sets = np.zeros(len(frame.adsets), dtype=bool)
    paused_sets[list(plan.paused_adsets)] = True
    cand = (
        frame.ad_live
        & ~paused_sets[frame.ad_adset]
        & (frame.ad.age_days >= st.prune_idle_days)
        & (ad_imps == 0)
        & (ad_spend == 0)
        & (set_spend > 0)
        & (conf >= st.credible_probability)
    )
    out: list[Proposal] = []
    cur = frame.inp.currency
    for i in sorted(np.flatnonzero(cand).tolist(), key=lambda k: (-conf[k], k)):
        j = int(frame.ad_adset[i])
        if i in plan.touched_ads or plan.remaining_ads(frame, j) < 2:
            continue
        plan.remove_ad(j, i)
        ad, adset = frame.ads[i], frame.adsets[j]
        c = prob(float(conf[i]))
        out.append(
            make_proposal(
                action_type="prune_creative",
                entity_type="ad",
                entity_id=ad.id,
                entity_name=ad.name,
                campaign_id=ad.campaign_id,
                adset_id=adset.id,
                current={"status": "active"},
                new={"status": "removed"},
                summary=(
                    f"Remove {entity_ref('ad', ad.name)} from {entity_ref('adset', adset.name)}"
                ),
                rationale=(
                    f"No impressions in the last {days} days while the ad set spent "
                    f"{money(float(set_spend[i]), cur)} on {plural(int(set_imps[i]), 'impression')}"
                    f"; {percent(c)} likely its share of delivery is under "
                    f"{100 * st.prune_max_share:g}%."
                ),
                confidence=c,
                evidence={
                    "idleDays": days,
                    "adImpressions": 0,
                    "adSpendCents": 0,
                    "adsetSpendCents": cents(set_spend[i]),
                    "adsetImpressions": int(set_imps[i]),
                    "maxShare": st.prune_max_share,
                },
                fingerprint={"idle_days": days},
            )
        )
    return out


def propose_pushes(frame: Frame, plan: RunPlan, picker: CreativePicker) -> list[Proposal]:
    """push_creative: one new ad per ad set that has free slots after this run's removals."""
    st, target = frame.settings, frame.target
    if not frame.adsets:
        return []
    est = frame.adset
    # Feeding an ad set is worth it when it is not a loser: P(CPA < critical multiple × target).
    if target is not None:
        p_ok = 1.0 - est.post.p_cpa_above(st.adset_pause_cpa_multiple * target)
    else:
        p_ok = np.full(len(frame.adsets), 0.5)
    out: list[Proposal] = []
    cur = frame.inp.currency
    cost_all = learning_cost(frame)
    gain_all = new_creative_gain(frame)
    slots = min(st.creative_slots, st.platform_ad_slots.get(frame.inp.platform, st.creative_slots))
    candidates: Sequence[int] = np.flatnonzero(frame.adset_live & ~frame.adset_learning).tolist()
    for j in sorted(candidates, key=lambda k: (-p_ok[k], k)):
        if j in plan.paused_adsets or p_ok[j] < st.min_confidence:
            continue
        remaining = plan.remaining_ads(frame, j)
        if remaining >= slots:
            continue
        weighed = plan.weigh(frame, j, float(gain_all[j]), float(cost_all[j]))
        if not weighed.repays:
            continue
        creative = picker.pick(j, plan)
        if creative is None:
            continue
        plan.place(j, creative.id)
        adset = frame.adsets[j]
        n = int(frame.active_ads[j])
        conf = prob(float(p_ok[j]))
        removed = n - remaining
        after = f" after this run's {plural(removed, 'removal')}" if removed else ""
        w = frame.window
        spend = float(frame.adset_w.get("spend", w)[j])
        conv = int(frame.adset_w.get("conversions", w)[j])
        perf = ""
        if target is not None:
            perf = (
                f" The ad set spent {money(spend, cur)} for {plural(conv, 'conversion')} over "
                f"{w} days; {percent(conf)} likely its CPA is under "
                f"{st.adset_pause_cpa_multiple:g}× {target_label(frame)}."
            )
        out.append(
            make_proposal(
                action_type="push_creative",
                entity_type="adset",
                entity_id=adset.id,
                entity_name=adset.name,
                campaign_id=adset.campaign_id,
                adset_id=adset.id,
                # The values count this run's removals, as the rationale does.
                current={"activeAds": remaining},
                new={"adsContentId": creative.id, "activeAds": remaining + 1},
                summary=(
                    f"Add creative {quoted(creative.name)} to {entity_ref('adset', adset.name)} "
                    f"as a new ad"
                ),
                rationale=(
                    f"The ad set has {plural(remaining, 'active ad')}{after} for "
                    f"{plural(slots, 'slot')}; "
                    f"{picker.describe(creative, frame)} is eligible and has not run "
                    f"here.{perf} A new creative: {weighed.clause()}."
                ),
                confidence=conf,
                evidence={
                    "activeAdsBeforeRun": n,
                    "activeAdsAfterRemovals": remaining,
                    "creativeSlots": slots,
                    "windowDays": w,
                    "spendCents": cents(spend),
                    "conversions": conv,
                    "newCreative": creative_evidence(creative, picker),
                    **weighed.evidence(),
                },
                fingerprint={"creative": creative.id},
            )
        )
    return out
