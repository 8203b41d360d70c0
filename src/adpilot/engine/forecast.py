"""Proposal-time forecasts for "no change" and for the change, kept in each proposal's evidence.

An outcome is later judged against these (`engine.outcomes`), so they are made from the same
posteriors the proposal rests on and stored under `evidence["forecast"]`:

    {"judged": {"entityType", "entityId"},          # where the sent change is measured
     "noChange": Forecast, "change": Forecast,      # per day, for the judged entity
     "claim": {"entityType", "entityId", "side", "cpaCents", "noChange": Forecast} | absent}

The judged entity is the budget holder the change redistributes within for budget moves and
pauses (the campaign under campaign budgets, else the ad set) and the ad set for creative,
targeting and schedule changes. The claim is the proposal's premise about its own entity when
nothing changes ("this ad's CPA stays above target"), followed for proposals that are not sent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from adpilot.engine.frame import Frame
from adpilot.engine.outcomes import Claim, Forecast
from adpilot.engine.types import Proposal

_RECENT_DAYS = 7


def _level(frame: Frame, entity_type: str) -> tuple[dict[str, int], Any, Any]:
    if entity_type == "campaign":
        pos = {c.id: i for i, c in enumerate(frame.campaigns)}
        return pos, frame.hier.campaign, frame.campaign_w
    if entity_type == "adset":
        pos = {a.id: i for i, a in enumerate(frame.adsets)}
        return pos, frame.hier.adset, frame.adset_w
    pos = {a.id: i for i, a in enumerate(frame.ads)}
    return pos, frame.hier.ad, frame.ad_w


def no_change(frame: Frame, entity_type: str, entity_id: str) -> Forecast | None:
    """Recent spend per day at the entity's posterior conversions per cent."""
    pos, post, ws = _level(frame, entity_type)
    i = pos.get(entity_id)
    if i is None:
        return None
    days = min(_RECENT_DAYS, max(frame.n_days, 1))
    spend = float(ws.get("spend", days)[i]) / days if frame.n_days else 0.0
    shape, rate = float(post.shape[i]), float(post.rate[i])
    return Forecast(spend, spend * shape / rate, shape)


def judged_entity(frame: Frame, p: Proposal) -> tuple[str, str]:
    """The entity a sent proposal is measured on (see the module docstring)."""
    if p.action_type == "update_budget":
        return p.entity_type, p.entity_id
    campaign_budget = {c.id for c in frame.campaigns if c.budget_mode == "campaign"}
    if p.action_type in ("pause_ad", "pause_adset") and p.campaign_id in campaign_budget:
        return "campaign", p.campaign_id or ""
    if p.adset_id:
        return "adset", p.adset_id
    return p.entity_type, p.entity_id


def _change(p: Proposal, judged: tuple[str, str], base: Forecast) -> Forecast:
    ev = p.evidence
    s0, c0 = base.spend_cents_per_day, base.conversions_per_day
    if p.action_type == "update_budget":
        old = float(p.current_value.get("dailyBudgetCents") or 0)
        new = float(p.new_value.get("dailyBudgetCents") or 0)
        k = float(ev.get("halfSaturationSpendCents") or 0)
        if old <= 0 or k <= 0 or s0 <= 0:
            return base
        s1 = s0 * new / old
        v = c0 / s0 * (k + s0)  # Michaelis–Menten V through the current point
        return Forecast(s1, v * s1 / (k + s1), base.rate_shape)
    if p.action_type == "pause_adset" and judged == ("adset", p.entity_id):
        return Forecast(0.0, 0.0, base.rate_shape)
    gain = ev.get("expectedGainConversions")
    horizon = float(ev.get("horizonDays") or 0)
    if gain is not None and horizon > 0:
        net = float(gain) - float(ev.get("learningCostConversions") or 0.0)
        return Forecast(s0, max(c0 + net / horizon, 0.0), base.rate_shape)
    return base


def _claim(frame: Frame, p: Proposal) -> Claim | None:
    target = frame.target
    if target is None:
        return None
    if p.action_type in ("pause_ad", "pause_adset", "replace_creative"):
        return Claim("above", target)
    if p.action_type == "update_budget":
        ev = p.evidence
        avg, marginal = ev.get("cpaEstimateCents"), ev.get("marginalCpaCents")
        theta = ev.get("balancedMarginalCpaCents")
        if not (avg and marginal and theta):
            return None
        # Marginal = factor × average: the move is right when the average is on the side of θ.
        threshold = float(avg) * float(theta) / float(marginal)
        raise_ = float(p.new_value.get("dailyBudgetCents") or 0) > float(
            p.current_value.get("dailyBudgetCents") or 0
        )
        return Claim("below" if raise_ else "above", threshold)
    return None


def with_forecast(frame: Frame, p: Proposal) -> Proposal:
    """The proposal with `evidence["forecast"]` added (unchanged when it cannot be made)."""
    judged = judged_entity(frame, p)
    base = no_change(frame, *judged)
    if base is None:
        return p
    out: dict[str, Any] = {
        "judged": {"entityType": judged[0], "entityId": judged[1]},
        "noChange": base.to_json(),
        "change": _change(p, judged, base).to_json(),
    }
    claim = _claim(frame, p)
    own = no_change(frame, p.entity_type, p.entity_id)
    if claim is not None and own is not None:
        out["claim"] = {
            "entityType": p.entity_type,
            "entityId": p.entity_id,
            **claim.to_json(),
            "noChange": own.to_json(),
        }
    return dataclasses.replace(p, evidence={**p.evidence, "forecast": out})
