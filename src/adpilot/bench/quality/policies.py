"""The policies compared: do-nothing, the ±20% rule set, adpilot's engine, and the oracle.

Each returns proposals plus the guardrail context to judge them with; the cycle loop runs every
policy's proposals through the production guardrails (`engine.guardrails.apply_guardrails`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from adpilot.engine.guardrails import GuardrailContext, build_context, split_write_classes
from adpilot.engine.plan import make_proposal
from adpilot.engine.run import evaluate
from adpilot.engine.text import entity_ref, money
from adpilot.engine.types import EngineInput, EngineSettings, Goal, HistoryEntry, Proposal
from adpilot.engine.windows import entity_totals
from adpilot.sim.market import Market

RULE_WINDOW_DAYS = 7


@dataclass(frozen=True)
class CycleView:
    """What the loop hands a policy each cycle."""

    market: Market  # only the oracle may look inside
    inp: EngineInput  # what a sync shows: reported rows, entities, history
    goal: Goal
    settings: EngineSettings
    history: Sequence[HistoryEntry]
    cycle: int
    cycles: int


class Policy(Protocol):
    name: str

    def propose(self, view: CycleView) -> tuple[list[Proposal], GuardrailContext]: ...


class DoNothing:
    name = "do_nothing"

    def propose(self, view: CycleView) -> tuple[list[Proposal], GuardrailContext]:
        return [], build_context(view.inp)


class Adpilot:
    """adpilot's decision engine, called exactly as the optimizer run's evaluating stage does."""

    name = "adpilot"

    def propose(self, view: CycleView) -> tuple[list[Proposal], GuardrailContext]:
        result = evaluate(view.inp)
        enabled, _held = split_write_classes(result.proposals, {})
        return enabled, build_context(view.inp, result)


def _budget_step(cur: int, fraction: float, st: EngineSettings, up: bool) -> int:
    """`cur` moved by `fraction` in whole currency units, inside the step limits."""
    step = min(cur * fraction, st.budget_max_step_fraction * cur, st.budget_max_step_cents)
    new = math.floor((cur + step) / 100.0) * 100 if up else math.ceil((cur - step) / 100.0) * 100
    return int(new)


class Rules:
    """The rule engines of the market: one look-back window, AND conditions, fixed steps.

    Over the last 7 days of reported rows: pause an ad or ad set whose CPA is above 1.5× target
    once it spent 2× target; raise a budget 20% when its CPA is below 0.8× target, lower it 20%
    when above 1.2× target (after the same spend gate). No statistics, no lag correction.
    """

    name = "rules"
    pause_multiple = 1.5
    spend_gate = 2.0
    raise_below = 0.8
    lower_above = 1.2
    step = 0.2

    def propose(self, view: CycleView) -> tuple[list[Proposal], GuardrailContext]:
        # The goal's number is the rules' target: the target CPA, or what a conversion is worth.
        inp, st, target = view.inp, view.settings, float(view.goal.cents)
        ctx = build_context(inp)
        w = min(RULE_WINDOW_DAYS, len(inp.dates))
        totals = entity_totals(inp, w)

        def sums(entity_id: str) -> tuple[float, float]:
            t = totals.get(entity_id)
            return (t.spend_cents, t.conversions) if t else (0.0, 0.0)

        def cpa(s: float, c: float) -> float:
            return s / c if c > 0 else math.inf

        def losing(s: float, c: float) -> bool:
            return s >= self.spend_gate * target and cpa(s, c) > self.pause_multiple * target

        cur = inp.currency
        out: list[Proposal] = []
        campaigns = {c.id: c for c in inp.campaigns}
        live_camps = {c.id for c in inp.campaigns if c.status == "active"}
        live_sets = {
            s.id for s in inp.adsets if s.status == "active" and s.campaign_id in live_camps
        }
        paused_sets: set[str] = set()
        for s in inp.adsets:
            if s.id in live_sets and losing(*sums(s.id)):
                paused_sets.add(s.id)
                out.append(
                    _rule(
                        "pause_adset",
                        "adset",
                        s.id,
                        s.name,
                        s.campaign_id,
                        s.id,
                        {"status": "active"},
                        {"status": "paused"},
                        f"Pause {entity_ref('adset', s.name)}",
                        f"CPA over {w} days above {self.pause_multiple:g}× target "
                        f"{money(target, cur)}",
                    )
                )
        for ad in inp.ads:
            if (
                ad.status == "active"
                and ad.adset_id in live_sets
                and ad.adset_id not in paused_sets
                and losing(*sums(ad.id))
            ):
                out.append(
                    _rule(
                        "pause_ad",
                        "ad",
                        ad.id,
                        ad.name,
                        ad.campaign_id,
                        ad.adset_id,
                        {"status": "active"},
                        {"status": "paused"},
                        f"Pause {entity_ref('ad', ad.name)}",
                        f"CPA over {w} days above {self.pause_multiple:g}× target",
                    )
                )
        holders: list[tuple[str, str, str, str, str | None, int, float, float]] = []
        for c in inp.campaigns:
            if c.id in live_camps and c.budget_mode == "campaign" and c.daily_budget_cents:
                holders.append(
                    (
                        "campaign",
                        c.id,
                        c.name,
                        c.id,
                        None,
                        c.daily_budget_cents,
                        *sums(c.id),
                    )
                )
        for s in inp.adsets:
            camp = campaigns.get(s.campaign_id)
            if (
                s.id in live_sets
                and s.id not in paused_sets
                and camp is not None
                and camp.budget_mode == "adset"
                and s.daily_budget_cents
            ):
                holders.append(
                    (
                        "adset",
                        s.id,
                        s.name,
                        s.campaign_id,
                        s.id,
                        s.daily_budget_cents,
                        *sums(s.id),
                    )
                )
        for kind, entity_id, name, campaign_id, adset_id, budget, s_, c_ in holders:
            holder_cpa = cpa(s_, c_)
            if c_ > 0 and holder_cpa < self.raise_below * target:
                new = _budget_step(budget, self.step, st, up=True)
            elif s_ >= self.spend_gate * target and holder_cpa > self.lower_above * target:
                new = _budget_step(budget, self.step, st, up=False)
                new = max(new, st.min_daily_budget(inp.platform, kind))
            else:
                continue
            if new == budget:
                continue
            out.append(
                _rule(
                    "update_budget",
                    kind,
                    entity_id,
                    name,
                    campaign_id,
                    adset_id,
                    {"dailyBudgetCents": budget},
                    {"dailyBudgetCents": new},
                    f"Change the daily budget of {entity_ref(kind, name)} to {money(new, cur)}",
                    f"CPA over {w} days vs target {money(target, cur)}",
                )
            )
        return out, ctx


def _rule(
    action: str,
    entity_type: str,
    entity_id: str,
    name: str,
    campaign_id: str | None,
    adset_id: str | None,
    current: dict[str, object],
    new: dict[str, object],
    summary: str,
    rationale: str,
    confidence: float = 0.999,
) -> Proposal:
    return make_proposal(
        action_type=action,  # type: ignore[arg-type]
        entity_type=entity_type,  # type: ignore[arg-type]
        entity_id=entity_id,
        entity_name=name,
        campaign_id=campaign_id,
        adset_id=adset_id,
        current=current,
        new=new,
        summary=summary,
        rationale=rationale,
        confidence=confidence,
        evidence={},
        fingerprint={"rule": action},
    )
