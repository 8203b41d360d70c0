"""The oracle: a policy that reads the simulator's truth (the ceiling the others are scored on).

It still goes through the same guardrails. Budgets move to equal true marginal CPA on the true
response curves, inside the step limits and below the platform's significant-edit threshold (so
no learning phase restarts); ads are paused, refreshed or added when the truth says the gain over
the coming weeks beats the learning phase the edit restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from adpilot.bench.quality.loop import CYCLE_DAYS
from adpilot.bench.quality.policies import CycleView, _rule
from adpilot.bench.quality.truth import AdSetTruth, adset_truth, conversions_at, typical_plan
from adpilot.engine.guardrails import GuardrailContext, build_context
from adpilot.engine.types import Proposal
from adpilot.sim.delivery import Plan, ad_fatigue
from adpilot.sim.market import NO_FATIGUE_TAU, SIGNIFICANT_BUDGET_CHANGE, Market
from adpilot.sim.tables import ACTIVE, F8, LEARNING

HORIZON_CAP_DAYS = 28.0
GRID_POINTS = 41  # candidate budgets per holder, within its step limits
CPA_SAFETY = 0.97  # the target_cpa oracle aims 3% under the target
RECOVERY_SHARE = 0.1  # at most this share of a week's conversions' worth of catching up


@dataclass(frozen=True)
class _Holder:
    """A budget holder: the ad sets it feeds and each one's share of its spend."""

    kind: str
    row: int
    budget: float  # dollars/day
    members: npt.NDArray[np.int64]
    weights: F8


def _regime_factor(m: Market) -> float:
    """Conversions per dollar next day relative to a typical day, under a regime in force."""
    r = m.params.regime
    day = m.through.toordinal() + 1
    if r is None or not r.start <= day < r.end:
        return 1.0
    return 1.0 / r.multiplier if r.kind == "cpm" else r.multiplier


def learning_multiplier(m: Market) -> F8:
    """Per ad set, the efficiency multiplier of the learning phase it is in (1 otherwise)."""
    return np.where(m.adsets.learn == LEARNING, m.adsets.learn_pen, 1.0)


def _mean_decay(h_days: float, halflife: F8) -> F8:
    """Mean of 2^(−t/L) over t ∈ [0, H] (1 for an infinite L)."""
    x = h_days / np.maximum(halflife, 1e-9)
    return np.where(x < 1e-6, 1.0, (1.0 - np.exp2(-x)) / np.maximum(x * math.log(2.0), 1e-12))


def _halflife(rate: F8) -> F8:
    """Half-life in days of a decay at `rate` halvings a day (infinite without decay)."""
    r = np.asarray(rate, dtype=np.float64)
    return np.where(r > 0, 1.0 / np.maximum(r, 1e-300), np.inf)


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
        # Next week's efficiency as the truth has it: a regime in force, learning phases running.
        scale = _regime_factor(m) * learning_multiplier(m)
        holders: list[_Holder] = []
        for c in np.flatnonzero(camp_live & camps.cbo).tolist():
            b = camps.budget[c] / 100.0
            members = np.flatnonzero((sets.campaign == c) & set_live)
            if b > 0 and len(members) > 0:
                holders.append(_Holder("campaign", c, b, members, t.spend[members] / b))
        for j in np.flatnonzero(set_live & ~camps.cbo[sets.campaign]).tolist():
            b = sets.budget[j] / 100.0
            if b > 0 and t.a[j] > 0:
                holders.append(_Holder("adset", j, b, np.array([j]), np.ones(1)))
        if not holders:
            return []
        learning = m.profile.learning_events > 0
        frac = min(st.budget_max_step_fraction, SIGNIFICANT_BUDGET_CHANGE if learning else 1.0)
        grids: list[F8] = []
        convs: list[F8] = []
        for hd in holders:
            step = min(frac * hd.budget, st.budget_max_step_cents / 100.0)
            floor = st.min_daily_budget(m.platform, hd.kind) / 100.0
            lo = max(hd.budget - step, min(floor, hd.budget))
            grid = np.unique(np.append(np.linspace(lo, hd.budget + step, GRID_POINTS), hd.budget))
            spend = hd.weights[:, None] * grid[None, :]
            conv = conversions_at(t, hd.members[:, None], spend) * scale[hd.members][:, None]
            grids.append(grid)
            convs.append(conv.sum(axis=0))
        lam = self._margin(view, m, grids, convs, [hd.budget for hd in holders])
        out: list[tuple[float, Proposal]] = []
        for hd, grid, conv in zip(holders, grids, convs, strict=True):
            g0 = int(np.flatnonzero(grid == hd.budget)[0])
            best = int(np.argmax(conv - lam * grid))
            cur = round(hd.budget * 100)
            want = grid[best] * 100.0
            # Whole currency units, rounded towards the current budget so caps are never exceeded.
            new_c = int(math.floor(want / 100) * 100 if want > cur else math.ceil(want / 100) * 100)
            if abs(new_c - cur) < 100:
                continue
            gain = float(conv[best] - conv[g0] - lam * (grid[best] - grid[g0]))
            table = camps if hd.kind == "campaign" else sets
            eid, name = table.id[hd.row], table.name[hd.row]
            out.append(
                (
                    gain,
                    _rule(
                        "update_budget",
                        hd.kind,
                        eid,
                        name,
                        None,
                        eid if hd.kind == "adset" else None,
                        {"dailyBudgetCents": cur},
                        {"dailyBudgetCents": new_c},
                        f"Set the daily budget of {name}",
                        "true marginal return under the goal",
                    ),
                )
            )
        # Ad sets whose every dollar buys less than a conversion is worth under the goal (its
        # value, or the target CPA): pause them. Not against λ: under a target CPA λ is a shadow
        # price that soars while the account runs over target, and pausing on it would switch
        # off most of an account whose costs the budget steps are already bringing down.
        worth = 100.0 / view.goal.cents
        for hd, grid, conv in zip(holders, grids, convs, strict=True):
            if hd.kind != "adset":
                continue
            j = hd.row
            siblings = int(np.sum(set_live & (sets.campaign == sets.campaign[j])))
            g0 = int(np.flatnonzero(grid == hd.budget)[0])
            avg = conv[g0] / hd.budget
            if siblings >= 2 and avg < 0.7 * worth:
                out.append(
                    (
                        float((worth - avg) * hd.budget),
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

    def _margin(
        self,
        view: CycleView,
        m: Market,
        grids: list[F8],
        convs: list[F8],
        budgets: list[float],
    ) -> float:
        """Conversions a marginal dollar must buy under the goal.

        `conversion_value`: one conversion per `value` dollars. `target_cpa`: the lowest margin
        whose allocation keeps the run's blended true CPA (the weeks so far and this one) under
        the target, with a small safety margin for the day-level noise the truth cannot foresee.
        """
        goal = view.goal
        if goal.type == "conversion_value":
            return 100.0 / goal.cents
        aim = CPA_SAFETY * goal.cents / 100.0
        lows = [int(np.argmin(g)) for g in grids]
        now = sum(
            float(c[int(np.argmin(np.abs(g - b)))])
            for g, c, b in zip(grids, convs, budgets, strict=True)
        )
        past = m.expected_days[-view.cycle * CYCLE_DAYS :] if view.cycle else []
        # Make up for weeks that ran over the target, but by at most a few percent of a week:
        # a ceiling that chases one dear week by pausing half the account is no ceiling.
        slack = (aim * sum(e[1] for e in past) - sum(e[2] for e in past)) / CYCLE_DAYS
        slack = max(slack, -RECOVERY_SHARE * aim * now)

        def over(lam: float) -> bool:
            spend = conv = 0.0
            for grid, c in zip(grids, convs, strict=True):
                best = int(np.argmax(c - lam * grid))
                spend += float(grid[best])
                conv += float(c[best])
            return spend - aim * conv > slack

        # Beyond the margin at which every holder sits at its lowest step there is nothing to cut.
        top = max(
            float(np.max((c - c[lo]) / np.maximum(g - g[lo], 1e-9)))
            for g, c, lo in zip(grids, convs, lows, strict=True)
        )
        lo, hi = math.log(1e-7), math.log(max(top, 1e-7) * 1.001)
        if not over(math.exp(lo)):
            return math.exp(lo)
        if over(math.exp(hi)):
            return math.exp(hi)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if over(math.exp(mid)):
                lo = mid
            else:
                hi = mid
        return math.exp(hi)

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
        # Mean fatigue over the horizon for each current ad: wear by frequency, and by age where
        # the market has it (the two decays multiply, so their rates add).
        day = m.through.toordinal() + 1
        e0 = (ad_fatigue(m, day) - ads.floor) / np.maximum(1.0 - ads.floor, 1e-12)
        rate = np.zeros(len(ads.id))
        if tires:
            life = np.where(
                ads.tau >= NO_FATIGUE_TAU, np.inf, ads.tau * math.log(2.0) / np.maximum(imps, 1.0)
            )
            rate = rate + 1.0 / life
        age_rate = np.zeros(len(cr.id))
        if m.params.age_fatigue > 0:
            age_rate = m.params.age_fatigue / cr.halflife
            rate = rate + age_rate[ads.creative]
        fut = ads.floor + (1.0 - ads.floor) * e0 * _mean_decay(horizon, _halflife(rate))
        eligible = ~cr.safety
        c_rate = age_rate + (strength / cr.halflife if tires else 0.0)
        c_fat = cr.floor + (1.0 - cr.floor) * _mean_decay(horizon, _halflife(c_rate))
        visibility = m.params.cvr_visibility
        c_weight_q = cr.ctr * c_fat * cr.cvr
        c_vis = cr.ctr * c_fat * cr.cvr**visibility
        efficiency = sum(m.params.learning_penalty) / 2.0  # the mean learning penalty
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
            vis = (ads.ctr[members] * fut[members] * ads.cvr[members] ** visibility) ** kappa
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
                cost = (1.0 - efficiency) * days_to_learn
                if rel * horizon <= 1.2 * cost:
                    continue
            gain = daily_conv * (
                rel * horizon - ((1.0 - efficiency) * learn_days if learning else 0.0)
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
