"""update_budget: budget moves chosen from each holder's response curve under the layer's goal.

A common marginal cost θ is the threshold every holder's next conversion is compared with:

- `conversion_value`: θ is the value of a conversion (a budget grows while the next conversion
  costs less than it is worth, and shrinks where it costs more);
- `target_cpa`: θ is the marginal cost at which the account's projected blended CPA lands on an
  aim a margin under the target (never more than `budget_target_drift` from the budget-neutral θ
  in one run), and the moves that survive must keep the projected blended CPA at or under that
  aim. The margin is what the projection cannot see: the noise of the conversions it is read
  from (z / √N, so a sparse account keeps a wide one) and drift the window does not show;
- a held total (no stated goal, or `budget_hold_total`): θ keeps total spend where it is.

Uncertainty is honest: a raise goes only as far as the holder's next conversion at the new budget
is still `budget_probability` likely under θ (over the curve's shape and the conversion rate
together); a cut needs the next conversion at today's spend to be that likely over θ. Steps stay
under the platform's significant-edit threshold, so a budget move never costs a learning phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from adpilot.engine.budget import Curves, Holders, bisect, find_holders, fit_curves, spend_at
from adpilot.engine.frame import Frame
from adpilot.engine.plan import (
    RunPlan,
    cents,
    is_value_goal,
    make_proposal,
    prob,
    rounded,
    target_text,
)
from adpilot.engine.text import CLASS_LABEL, cpa_phrase, entity_ref, money, percent, signed_percent
from adpilot.engine.types import FloatArray, Proposal

# Spend candidates between today's spend and the point-estimate optimum, for the confident step.
_STEPS = np.linspace(0.0, 1.0, 11)
# Classes whose label explains a raise by itself.
_RAISE_CLASSES = frozenset({"TOP_PERFORMER", "HEALTHY"})


@dataclass(frozen=True)
class Threshold:
    """θ and why it is the bar: `value`, `target` (the blended CPA lands on the aim; `target_step`
    when one run only moves towards it), `target_band` (between the aim and the target: the total
    holds) or `held`."""

    cents: float
    kind: str

    def p_below(self, c: Curves, x: FloatArray) -> FloatArray:
        """P(the next conversion at spend x costs less than θ). A value is an absolute bar, so
        the curve's own uncertainty counts in full; a θ read off the pooled curves moves with
        their common curvature."""
        return c.p_marginal_below(self.cents, x, curve_uncertain=self.kind == "value")


@dataclass(frozen=True)
class Aim:
    """Under a target CPA, the blended CPA budget moves aim at: `margin` under the target."""

    cents: float
    margin: float
    conversions: float  # the lag-adjusted conversions of the evaluation window it rests on


def target_aim(frame: Frame) -> Aim:
    """The target less a margin for what the projection cannot know.

    The projection's base rate rests on the evaluation window's conversions, completed for the
    attribution lag still due (conversions per lag-weighted cent × spend); its relative noise is
    about 1/√N. A fixed share on top covers drift no window shows — creatives fatiguing, costs
    rising — so even a large account does not aim exactly at the line it must not cross.
    """
    st = frame.settings
    assert frame.target is not None
    w = min(frame.window, frame.n_days)
    spend = float(frame.daily["spend"][:, -w:].sum()) if w else 0.0
    exposure = float(frame.daily["exposure"][:, -w:].sum()) if w else 0.0
    conv = float(frame.daily["conversions"][:, -w:].sum()) if w else 0.0
    adjusted = conv * spend / exposure if exposure > 0 else conv
    margin = min(
        st.target_cpa_margin + st.target_cpa_margin_z / math.sqrt(max(adjusted, 1.0)),
        st.target_cpa_margin_max,
    )
    return Aim(frame.target * (1.0 - margin), margin, adjusted)


@dataclass(frozen=True)
class Move:
    holder: int
    budget: int
    new: int
    confidence: float  # P(the marginal cost at the new spend is on the side that justifies it)

    @property
    def up(self) -> bool:
        return self.new > self.budget


def _threshold(
    frame: Frame, c: Curves, el: np.ndarray, lo: FloatArray, hi: FloatArray, aim: Aim | None
) -> Threshold:
    st = frame.settings
    assert frame.goal is not None and frame.target is not None

    def totals(theta: float) -> tuple[float, float]:
        x = spend_at(theta, c.v, c.k, lo, hi)
        return float(x.sum()), float(c.conversions(x).sum())

    def avg_cpa(theta: float) -> float:
        sp, cv = totals(theta)
        return sp / cv if cv > 0 else math.inf

    marginal = c.marginal(c.s)
    span_lo = float(np.min(marginal[el])) / 100.0
    span_hi = float(np.max(marginal[el])) * 100.0
    neutral = bisect(lambda t: totals(t)[0], span_lo, span_hi, float(c.s.sum()))
    held = st.budget_hold_total or not frame.goal_stated
    if is_value_goal(frame):
        value = float(frame.goal.cents)
        # With the total held, money only moves — and never towards conversions worth less.
        return (
            Threshold(min(value, neutral), "held")
            if held and neutral < value
            else Threshold(value, "value")
        )
    assert held or aim is not None
    now = float(c.s.sum()) / max(float((c.lam * c.s).sum()), 1e-300)
    if held:
        theta, kind = neutral, "held"
    elif aim is not None and aim.cents < now <= frame.target:
        # Under the target but inside the margin: no run adds to the total, and none cuts it for
        # noise either — money only moves between holders.
        theta, kind = neutral, "target_band"
    else:
        assert aim is not None
        target = bisect(avg_cpa, span_lo, span_hi, aim.cents)
        drift = st.budget_target_drift
        theta = min(max(target, neutral / drift), neutral * drift)
        # "target": the blended CPA lands on the aim under the target; "target_step": θ moves
        # towards it by at most the drift in one run.
        kind = "target" if theta == target else "target_step"
    # When step caps bind, any θ beyond the caps gives the same budgets: report the nearest one.
    m_lo, m_hi = c.marginal(lo), c.marginal(hi)
    theta = min(max(theta, float(np.min(m_lo[el]))), float(np.max(m_hi[el])))
    return Threshold(theta, kind)


def _confident_spend(c: Curves, theta: Threshold, point: FloatArray, p_req: float) -> FloatArray:
    """Per holder, the spend the budget moves to.

    A raise goes only as far towards `point` as the next conversion at the new spend is still
    `p_req` likely under θ: the last cent of a raised budget must be likely to pay. A cut goes to
    `point` when the next conversion at today's spend is `p_req` likely over θ: every cent it
    removes buys conversions dearer than the point where the curve meets θ.
    """
    up = point > c.s
    over = 1.0 - theta.p_below(c, c.s) >= p_req
    out = np.where(up, c.s, np.where(over, point, c.s))
    for f in _STEPS[1:]:
        x = c.s + (point - c.s) * f
        ok = up & (theta.p_below(c, x) >= p_req)
        out = np.where(ok, x, out)
    return out


def _within_total(moves: list[Move], freed: int, min_change_fraction: float) -> list[Move]:
    """Trim raises so that the moves that survived never add to the account's total spend.

    Cuts that fail their confidence or size test drop out while the matching raises may not;
    with the total held adpilot must only move money — what cuts and this run's ad set pauses
    free. The least certain raises give way first.
    """
    room = freed + sum(m.budget - m.new for m in moves if not m.up)
    kept = [m for m in moves if not m.up]
    for m in sorted((m for m in moves if m.up), key=lambda m: m.confidence, reverse=True):
        step = (min(m.new - m.budget, room) // 100) * 100  # whole currency units
        if step < max(min_change_fraction * m.budget, 100):
            continue
        room -= step
        kept.append(Move(m.holder, m.budget, m.budget + step, m.confidence))
    return sorted(kept, key=lambda m: m.holder)


@dataclass
class Blend:
    """The account's projected daily spend and conversions over its budget holders."""

    spend: float
    conversions: float

    @property
    def cpa(self) -> float:
        return self.spend / self.conversions if self.conversions > 0 else math.inf


def _new_spend(c: Curves, m: Move) -> float:
    """The holder's daily spend once its budget moves (spend follows the budget's ratio)."""
    return float(c.s[m.holder]) * m.new / max(m.budget, 1)


def _move_delta(c: Curves, low: FloatArray, high: FloatArray, m: Move) -> tuple[float, float]:
    """(spend, conversions) a move adds to the blend, read pessimistically: a raise buys
    conversions at the low end of the holder's credible rate, a cut loses them at the high end."""
    n = m.holder
    x = _new_spend(c, m)
    gained = c.conversions_at(n, x) - float(c.lam[n] * c.s[n])
    scale = float(low[n] if m.up else high[n])
    return x - float(c.s[n]), gained * scale


def _keep_blend_under_target(
    frame: Frame, c: Curves, h: Holders, moves: list[Move], aim: Aim
) -> tuple[list[Move], Blend, Blend]:
    """Drop moves until the projected blended CPA stays at or under the aim (or, for an
    account already over it, does not rise): the dearest raises first, then the cuts whose
    holders buy conversions cheapest."""
    st = frame.settings
    current = c.lam * c.s
    before = Blend(float(c.s.sum()), float(current.sum()))
    after = Blend(
        before.spend - float(c.s[h.paused].sum()),
        before.conversions - float(current[h.paused].sum()),
    )
    mean = c.shape / c.rate
    low = special.gammaincinv(c.shape, 1.0 - st.credible_probability) / c.rate / mean
    high = special.gammaincinv(c.shape, st.credible_probability) / c.rate / mean
    deltas = {m.holder: _move_delta(c, low, high, m) for m in moves}
    for ds, dc in deltas.values():
        after.spend += ds
        after.conversions += dc
    limit = max(aim.cents, before.cpa)
    kept = list(moves)

    def drop_order(m: Move) -> tuple[int, float]:
        if m.up:
            return 0, -c.marginal_at(m.holder, _new_spend(c, m))
        return 1, c.marginal_at(m.holder, float(c.s[m.holder]))

    for m in sorted(moves, key=drop_order):
        if after.cpa <= limit * (1.0 + 1e-9):
            break
        ds, dc = deltas[m.holder]
        after.spend -= ds
        after.conversions -= dc
        kept.remove(m)
    return kept, before, after


def propose_budgets(frame: Frame, plan: RunPlan) -> list[Proposal]:
    st, target = frame.settings, frame.target
    if target is None or frame.goal is None or not (frame.campaigns and frame.adsets):
        return []
    h, spend_d, exp_d, conv_d = find_holders(frame, plan)
    el = h.eligible
    if not np.any(el):
        return []
    c = fit_curves(frame, h, spend_d, exp_d, conv_d)
    s = c.s

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

    aim = None if is_value_goal(frame) else target_aim(frame)
    theta = _threshold(frame, c, el, lo, hi, aim)
    point = spend_at(theta.cents, c.v, c.k, lo, hi)
    x_new = _confident_spend(c, theta, point, st.budget_probability)
    # The confidence of a raise is read at its new spend, of a cut at today's.
    p_below = theta.p_below(c, np.where(x_new > s, x_new, s))

    moves: list[Move] = []
    for n in np.flatnonzero(el).tolist():
        budget = int(h.budget[n])
        want = budget * float(x_new[n] / s[n])
        up = want > budget
        # Whole currency units, rounded towards the current budget so caps are never exceeded.
        new = int(math.floor(want / 100.0) * 100) if up else int(math.ceil(want / 100.0) * 100)
        cap = min(int(budget * max_fraction), st.budget_max_step_cents)
        new = min(max(new, budget - cap), budget + cap)
        new = max(new, int(mins[n])) if new < budget else new
        if abs(new - budget) < max(st.budget_min_change_fraction * budget, 100):
            continue
        conf = float(p_below[n]) if new > budget else 1.0 - float(p_below[n])
        if conf < st.budget_probability:
            continue
        moves.append(Move(n, budget, new, conf))
    if theta.kind == "held":
        # Money freed by ad sets this run pauses is money to move, like a cut.
        freed = int(h.budget[h.paused].sum())
        moves = _within_total(moves, freed, st.budget_min_change_fraction)
    blend: tuple[Blend, Blend] | None = None
    if aim is not None:
        moves, before, after = _keep_blend_under_target(frame, c, h, moves, aim)
        blend = (before, after)
    return [_proposal(frame, h, c, m, theta, max_fraction, blend, aim) for m in moves]


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


def goal_clause(frame: Frame) -> str:
    """How a rationale names the goal budgets are judged against."""
    assert frame.goal is not None
    cur = frame.inp.currency
    if is_value_goal(frame):
        return f"goal: conversions worth {money(frame.goal.cents, cur)} each"
    if frame.goal_stated:
        return f"goal: a blended CPA at or under the {money(frame.goal.cents, cur)} target"
    return "goal: no target stated, so the account's total budget is held"


def _aim_phrase(frame: Frame, aim: Aim) -> str:
    cur = frame.inp.currency
    return (
        f"{money(aim.cents, cur)}, {percent(aim.margin)} under the target for what "
        f"{aim.conversions:.0f} conversions cannot show"
    )


def _threshold_clause(frame: Frame, theta: Threshold, up: bool, p: float, aim: Aim | None) -> str:
    cur = frame.inp.currency
    side = "under" if up else "over"
    bar = money(theta.cents, cur)
    if theta.kind == "value":
        why = f"the {bar} a conversion is worth"
    elif theta.kind == "target" and aim is not None:
        why = (
            f"the {bar} at which the account's projected blended CPA lands on "
            f"{_aim_phrase(frame, aim)}"
        )
    elif theta.kind == "target_step" and aim is not None:
        why = (
            f"the {bar} one run may move towards the marginal cost at which the account's "
            f"blended CPA would land on {_aim_phrase(frame, aim)}"
        )
    elif theta.kind == "target_band" and aim is not None:
        why = (
            f"the {bar} that keeps the account's total budget where it is, since its blended CPA "
            f"is under the target but not under {_aim_phrase(frame, aim)}"
        )
    else:
        why = f"the {bar} that keeps the account's total budget where it is"
    return f"{percent(p)} likely {side} {why}"


def _proposal(
    frame: Frame,
    h: Holders,
    c: Curves,
    m: Move,
    theta: Threshold,
    max_fraction: float,
    blend: tuple[Blend, Blend] | None,
    aim: Aim | None,
) -> Proposal:
    cur, target, w = frame.inp.currency, frame.target, frame.window
    assert target is not None and frame.goal is not None
    n, budget, new = m.holder, m.budget, m.new
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
    conf = prob(m.confidence)
    change = (new - budget) / budget
    verb = "Raise" if m.up else "Lower"
    marginal = float(c.marginal(c.s)[n])
    marginal_new = c.marginal_at(n, _new_spend(c, m))
    safe = frame.settings.learning_safe_budget_step.get(frame.inp.platform)
    learning = (
        f"the step stays within the {100 * safe:g}% that would restart the platform's learning, "
        f"so it costs no learning"
        if safe is not None and max_fraction <= safe
        else "no learning phase to restart"
    )
    projected = ""
    if blend is not None:
        projected = (
            f"; the account's projected blended CPA after this run's budget moves is "
            f"{money(blend[1].cpa, cur)} ({money(blend[0].cpa, cur)} before)"
        )
    rationale = (
        f"{_move_label(est.classes[pos], m.up)} — "
        f"{cpa_phrase(spend, conv, w, cur, target_text(frame))}; {goal_clause(frame)}. "
        f"At today's spend the next conversion costs about {money(marginal, cur)}, and about "
        f"{money(marginal_new, cur)} at the new budget, "
        f"{_threshold_clause(frame, theta, m.up, conf, aim)}"
        f"{projected}; {learning}: {signed_percent(change)} budget."
    )
    evidence: dict[str, object] = {
        "class": est.classes[pos],
        "windowDays": w,
        "spendCents": cents(spend),
        "conversions": conv,
        "impressions": int(ws.get("impressions", w)[pos]),
        "goal": {"type": frame.goal.type, "cents": frame.goal.cents, "stated": frame.goal_stated},
        "targetCpaCents": rounded(target, 2),
        "cpaEstimateCents": rounded(est.cpa_estimate[pos], 2),
        "avgDailySpendCents": rounded(float(c.s[n]), 2),
        "marginalCpaCents": rounded(marginal, 2),
        "marginalCpaAtNewBudgetCents": rounded(marginal_new, 2),
        "thresholdCents": rounded(theta.cents, 2),
        "thresholdKind": theta.kind,
        "balancedMarginalCpaCents": rounded(theta.cents, 2),
        "halfSaturationSpendCents": rounded(float(c.k[n]), 2),
        "changeFraction": rounded(change, 4),
        "learningCostConversions": 0.0,
    }
    if blend is not None:
        evidence["projectedBlendedCpaBeforeCents"] = rounded(blend[0].cpa, 2)
        evidence["projectedBlendedCpaCents"] = rounded(blend[1].cpa, 2)
    if aim is not None:
        evidence["aimCpaCents"] = rounded(aim.cents, 2)
        evidence["targetMargin"] = rounded(aim.margin, 4)
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
        evidence=evidence,
        fingerprint={
            "direction": "up" if m.up else "down",
            "cpa_ratio": float(est.cpa_estimate[pos] / target),
        },
    )
