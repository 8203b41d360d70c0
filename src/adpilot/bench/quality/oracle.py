"""The oracle: a policy that reads the simulator's truth (the ceiling the others are scored on).

It still goes through the same guardrails. Budgets move to equal true marginal CPA on the true
response curves, inside the step limits and below the platform's significant-edit threshold (so
no learning phase restarts); ads are paused, refreshed or added when the truth says the gain over
the coming weeks beats the learning phase the edit restarts.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from adpilot.bench.quality.loop import CYCLE_DAYS
from adpilot.bench.quality.policies import CycleView, _rule
from adpilot.bench.quality.truth import AdSetTruth, adset_truth, typical_plan
from adpilot.engine.guardrails import GuardrailContext, build_context
from adpilot.engine.types import Proposal
from adpilot.sim.delivery import CVR_VISIBILITY, Plan
from adpilot.sim.market import (
    LEARNING_PENALTY,
    NO_FATIGUE_TAU,
    SIGNIFICANT_BUDGET_CHANGE,
    Market,
)
from adpilot.sim.tables import ACTIVE, F8

LEARNING_EFFICIENCY = sum(LEARNING_PENALTY) / 2.0  # the mean learning penalty
HORIZON_CAP_DAYS = 28.0


def _mean_decay(h_days: float, halflife: F8) -> F8:
    """Mean of 2^(−t/L) over t ∈ [0, H]."""
    x = h_days / np.maximum(halflife, 1e-9)
    return np.where(x < 1e-6, 1.0, (1.0 - np.exp2(-x)) / np.maximum(x * math.log(2.0), 1e-12))


class Oracle:
    name = "oracle"

    def propose(self, view: CycleView) -> tuple[list[Proposal], GuardrailContext]:
        m = view.market
        ctx = build_context(view.inp)
        remaining = float((view.cycles - view.cycle) * CYCLE_DAYS)
        plan = typical_plan(m)
        truth = adset_truth(m, plan)
        scored = self._budgets(m, view, truth) + self._creatives(
            m, view, plan, truth, min(remaining, HORIZON_CAP_DAYS)
        )
        st = view.settings
        scored.sort(key=lambda t: -t[0])
        out: list[Proposal] = []
        pauses = 0
        for rank, (_gain, p) in enumerate(scored):
            if len(out) >= st.max_actions_per_run:
                break
            if p.action_type == "pause_ad":
                if pauses >= st.max_pauses_per_run:
                    continue
                pauses += 1
            # Guardrails keep the most confident first: confidence follows the expected gain.
            conf = 0.999 - 0.3 * rank / max(len(scored), 1)
            out.append(_with_confidence(p, conf))
        return out, ctx

    # ------------------------------------------------------------------ budgets

    def _budgets(self, m: Market, view: CycleView, t: AdSetTruth) -> list[tuple[float, Proposal]]:
        st = view.settings
        camps, sets = m.campaigns, m.adsets
        camp_live = camps.status == ACTIVE
        set_live = (sets.status == ACTIVE) & camp_live[sets.campaign] & t.on
        kinds: list[str] = []
        rows: list[int] = []
        budgets: list[float] = []
        vs: list[float] = []
        ks: list[float] = []
        for c in np.flatnonzero(camp_live & camps.cbo).tolist():
            b = camps.budget[c] / 100.0
            members = np.flatnonzero((sets.campaign == c) & set_live)
            if b <= 0 or len(members) == 0:
                continue
            w = t.spend[members] / b
            a, h = t.a[members], np.maximum(t.h[members], 1e-9)
            f = float(np.sum(a * w * b / (1.0 + w * b / h)))
            fp = float(np.sum(a * w / (1.0 + w * b / h) ** 2))
            if f <= 0 or fp <= 0 or f / fp <= b * (1 + 1e-9):
                continue
            k = b * b / (f / fp - b)
            kinds.append("campaign")
            rows.append(c)
            budgets.append(b)
            ks.append(k)
            vs.append(f * (k + b) / b)
        holder_sets = np.flatnonzero(set_live & ~camps.cbo[sets.campaign])
        for j in holder_sets.tolist():
            b = sets.budget[j] / 100.0
            if b <= 0 or t.a[j] <= 0:
                continue
            kinds.append("adset")
            rows.append(j)
            budgets.append(b)
            ks.append(float(t.h[j]))
            vs.append(float(t.a[j] * t.h[j]))
        if len(kinds) < 2:
            return []
        b0 = np.asarray(budgets)
        k_ = np.asarray(ks)
        v_ = np.asarray(vs)
        learning = m.profile.learning_events > 0
        frac = min(st.budget_max_step_fraction, SIGNIFICANT_BUDGET_CHANGE if learning else 1.0)
        step = np.minimum(frac * b0, st.budget_max_step_cents / 100.0)
        mins = np.array(
            [st.min_daily_budget(m.platform, kind) / 100.0 for kind in kinds], dtype=np.float64
        )
        lo = np.maximum(b0 - step, np.minimum(mins, b0))
        hi = b0 + step
        total = float(b0.sum())

        def alloc(lam: float) -> F8:
            return np.clip(np.sqrt(v_ * k_ / lam) - k_, lo, hi)

        marg = v_ * k_ / (k_ + b0) ** 2
        a_, z = math.log(float(marg.min()) / 100.0), math.log(float(marg.max()) * 100.0)
        for _ in range(60):
            mid = 0.5 * (a_ + z)
            if alloc(math.exp(mid)).sum() > total:
                a_ = mid
            else:
                z = mid
        lam = math.exp(0.5 * (a_ + z))
        new = alloc(lam)
        out: list[tuple[float, Proposal]] = []
        for n, kind in enumerate(kinds):
            cur = round(b0[n] * 100)
            want = new[n] * 100.0
            new_c = (
                int(math.floor(want / 100) * 100)
                if want > cur
                else int(math.ceil(want / 100) * 100)
            )
            new_c = min(max(new_c, cur - round(step[n] * 100)), cur + round(step[n] * 100))
            if abs(new_c - cur) < 100:
                continue
            b1 = new_c / 100.0
            f1 = v_[n] * b1 / (k_[n] + b1)
            f0 = v_[n] * b0[n] / (k_[n] + b0[n])
            gain = float(f1 - f0 - lam * (b1 - b0[n]))
            table = camps if kind == "campaign" else sets
            eid, name = table.id[rows[n]], table.name[rows[n]]
            out.append(
                (
                    gain,
                    _rule(
                        "update_budget",
                        kind,
                        eid,
                        name,
                        None,
                        eid if kind == "adset" else None,
                        {"dailyBudgetCents": cur},
                        {"dailyBudgetCents": new_c},
                        f"Set the daily budget of {name}",
                        "true marginal CPA",
                    ),
                )
            )
        # Ad sets whose every dollar buys less than the marginal dollar elsewhere: pause them.
        for n, kind in enumerate(kinds):
            if kind != "adset":
                continue
            j = rows[n]
            siblings = int(np.sum(set_live & (sets.campaign == sets.campaign[j])))
            avg = v_[n] / (k_[n] + b0[n])
            if siblings >= 2 and avg < 0.7 * lam:
                gain = float((lam - avg) * b0[n])
                out.append(
                    (
                        gain,
                        _rule(
                            "pause_adset",
                            "adset",
                            sets.id[j],
                            sets.name[j],
                            None,
                            sets.id[j],
                            {"status": "active"},
                            {"status": "paused"},
                            f"Pause {sets.name[j]}",
                            "true average return below the margin",
                        ),
                    )
                )
        return out

    # ------------------------------------------------------------------ creatives

    def _creatives(
        self, m: Market, view: CycleView, plan: Plan, t: AdSetTruth, horizon: float
    ) -> list[tuple[float, Proposal]]:
        st = view.settings
        ads, sets, cr = m.ads, m.adsets, m.creatives
        a_set = ads.adset
        live_set = t.on & (sets.status == ACTIVE)
        active = (ads.status == ACTIVE) & live_set[a_set]
        imps = plan.impressions[a_set] * plan.share
        strength = max(m.params.fatigue_strength, 1e-6)
        tires = m.profile.halflife_days is not None and m.params.fatigue_strength > 0
        # Mean fatigue over the horizon for each current ad.
        e0 = np.exp(-ads.cum / ads.tau)
        if tires:
            life = np.where(
                ads.tau >= NO_FATIGUE_TAU, np.inf, ads.tau * math.log(2.0) / np.maximum(imps, 1.0)
            )
            fut = ads.floor + (1.0 - ads.floor) * e0 * _mean_decay(horizon, life)
        else:
            fut = ads.floor + (1.0 - ads.floor) * e0
        eligible = ~cr.safety
        c_life = cr.halflife / strength
        c_fat = (
            cr.floor + (1.0 - cr.floor) * _mean_decay(horizon, c_life)
            if tires
            else np.ones(len(cr.id))
        )
        c_weight_q = cr.ctr * c_fat * cr.cvr
        c_vis = cr.ctr * c_fat * cr.cvr**CVR_VISIBILITY
        learning = m.profile.learning_events > 0
        needed = float(m.profile.learning_events)
        learn_days = float(m.profile.learning_days)
        out: list[tuple[float, Proposal]] = []
        for j in np.flatnonzero(live_set).tolist():
            members = np.flatnonzero((a_set == j) & active)
            if len(members) == 0:
                continue
            kappa = float(sets.kappa[j])
            q = ads.ctr[members] * fut[members] * ads.cvr[members]
            vis = (ads.ctr[members] * fut[members] * ads.cvr[members] ** CVR_VISIBILITY) ** kappa
            running = set(ads.creative[members].tolist())
            free = [k for k in np.argsort(-c_weight_q).tolist() if eligible[k] and k not in running]

            def value(qs: F8, ws: F8) -> float:
                return float(np.sum(qs * ws) / max(float(np.sum(ws)), 1e-300))

            base = value(q, vis)
            if base <= 0:
                continue
            daily_conv = float(np.sum(imps[members] * t.q_ad[members]))
            options: list[tuple[float, str, int, int]] = []  # (value, action, ad, creative)
            if len(members) >= 2:
                for i in range(len(members)):
                    keep = np.arange(len(members)) != i
                    options.append((value(q[keep], vis[keep]), "pause_ad", i, -1))
            if free:
                k = free[0]
                nq, nv = c_weight_q[k], c_vis[k] ** kappa
                for i in range(len(members)):
                    q2, v2 = q.copy(), vis.copy()
                    q2[i], v2[i] = nq, nv
                    options.append((value(q2, v2), "replace_creative", i, k))
                if len(members) < st.creative_slots:
                    options.append(
                        (value(np.append(q, nq), np.append(vis, nv)), "push_creative", -1, k)
                    )
            if not options:
                continue
            best = max(options, key=lambda o: o[0])
            rel = best[0] / base - 1.0
            if rel <= 0.01:
                continue
            if learning:
                days_to_learn = min(learn_days, needed / max(daily_conv, 1e-9))
                cost = (1.0 - LEARNING_EFFICIENCY) * days_to_learn
                if rel * horizon <= 1.2 * cost:
                    continue
            gain = daily_conv * (
                rel * horizon - ((1.0 - LEARNING_EFFICIENCY) * learn_days if learning else 0.0)
            )
            _, action, i, k = best
            sid = sets.id[j]
            if action == "pause_ad":
                a = int(members[i])
                p = _rule(
                    "pause_ad",
                    "ad",
                    ads.id[a],
                    ads.name[a],
                    None,
                    sid,
                    {"status": "active"},
                    {"status": "paused"},
                    f"Pause {ads.name[a]}",
                    "truth",
                )
            elif action == "replace_creative":
                a = int(members[i])
                p = _rule(
                    "replace_creative",
                    "ad",
                    ads.id[a],
                    ads.name[a],
                    None,
                    sid,
                    {"adsContentId": cr.id[int(ads.creative[a])]},
                    {"adsContentId": cr.id[k]},
                    f"Replace the creative of {ads.name[a]}",
                    "truth",
                )
            else:
                p = _rule(
                    "push_creative",
                    "adset",
                    sid,
                    sets.name[j],
                    None,
                    sid,
                    {"activeAds": len(members)},
                    {"adsContentId": cr.id[k], "activeAds": len(members) + 1},
                    f"Add {cr.name[k]} to {sets.name[j]}",
                    "truth",
                )
            out.append((gain, p))
        return out


def _with_confidence(p: Proposal, confidence: float) -> Proposal:
    return replace(p, confidence=round(confidence, 3))
