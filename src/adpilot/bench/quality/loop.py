"""The cycle loop: observe, propose, guardrails, apply, simulate a week; one policy, one seed."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from adpilot.bench.quality.apply import (
    PAUSES,
    Ledger,
    audit_and_apply,
    count_resets,
    learning_marks,
)
from adpilot.bench.quality.observe import observe, reported_window, run_time
from adpilot.bench.quality.policies import CycleView, Policy
from adpilot.bench.quality.truth import ad_true_cpa_cents, adset_true_cpa_cents, adset_truth
from adpilot.engine.guardrails import apply_guardrails
from adpilot.engine.types import EngineSettings, Goal
from adpilot.sim.market import Market

CYCLE_DAYS = 7


def bench_settings() -> EngineSettings:
    """Engine defaults: under a goal the account's total may move (see `run_policy`)."""
    return EngineSettings()


@dataclass
class Trace:
    """One policy's run on one seed."""

    conversions: list[float] = field(default_factory=list)  # expected true conversions per cycle
    spend: list[float] = field(default_factory=list)  # dollars per cycle
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def total_conversions(self) -> float:
        return float(sum(self.conversions))

    @property
    def total_spend(self) -> float:
        return float(sum(self.spend))


def warmup_target_cpa(m: Market) -> int:
    """The layer's target CPA: the account's reported CPA over its warm-up, in cents."""
    mx = reported_window(m)
    conv = int(mx.conversions.sum())
    return max(round(int(mx.spend.sum()) / max(conv, 1)), 1)


def _false_pauses(m: Market, applied: list, target: float) -> int:
    """Pauses of entities whose true CPA right now is under the goal's number (the target CPA,
    or the value of a conversion: an entity that buys conversions for less than they are worth)."""
    pauses = [p for p in applied if p.action_type in PAUSES]
    if not pauses:
        return 0
    t = adset_truth(m)
    ad_cpa = ad_true_cpa_cents(m, t)
    set_cpa = adset_true_cpa_cents(m, t)
    n = 0
    for p in pauses:
        if p.action_type == "pause_ad":
            n += bool(ad_cpa[m.index_of("ad", p.entity_id)] < target)
        else:
            n += bool(set_cpa[m.index_of("adset", p.entity_id)] < target)
    return n


def run_policy(
    base: Market,
    policy: Policy,
    *,
    cycles: int,
    goal: Goal,
    settings: EngineSettings,
) -> Trace:
    """One policy under one goal on a copy of the seed's account.

    Spend moves only by the policy's own budget writes and pauses (inside the guardrails' step
    limits): under a goal the total is the policy's to set, and the goal's score says whether the
    money was well spent. Doing nothing keeps the starting budgets.
    """
    m = copy.deepcopy(base)
    trace = Trace()
    ledger = trace.ledger
    for cycle in range(cycles):
        at = run_time(m)
        inp = observe(m, goal=goal, settings=settings, history=ledger.history)
        view = CycleView(m, inp, goal, settings, ledger.history, cycle, cycles)
        proposals, context = policy.propose(view)
        if proposals:
            guarded = apply_guardrails(proposals, context)
            applied = [g.proposal for g in guarded if not g.held]
            ledger.false_pauses += _false_pauses(m, applied, float(goal.cents))
            marks = learning_marks(m)
            audit_and_apply(m, applied, ledger, settings, at)
            ledger.resets += count_resets(m, marks)
        start = (m.through + dt.timedelta(days=1)).toordinal()
        m.advance_to(dt.date.fromordinal(start + CYCLE_DAYS - 1))
        week = [e for e in m.expected_days if e[0] >= start]
        trace.conversions.append(sum(e[1] for e in week))
        trace.spend.append(sum(e[2] for e in week))
    return trace
