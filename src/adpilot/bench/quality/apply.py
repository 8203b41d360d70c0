"""Applying a cycle's guardrail-approved proposals to the market, and auditing them.

The audit re-checks the hard limits of SPEC §4.4 on what was actually applied, independently of
the guardrail code, so a guardrail bug shows up as a violation instead of a better score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from adpilot.engine.types import EngineSettings, HistoryEntry, Proposal
from adpilot.platforms.base import WriteRequest
from adpilot.platforms.sandbox.adapter import apply_to_market
from adpilot.sim.market import Market, SimError
from adpilot.sim.tables import ACTIVE

PAUSES = frozenset({"pause_ad", "pause_adset"})


@dataclass
class Ledger:
    """What one policy did to one account so far: its action history and its counters."""

    history: list[HistoryEntry] = field(default_factory=list)
    violations: int = 0
    violation_notes: list[str] = field(default_factory=list)
    resets: int = 0
    actions: int = 0
    pauses: int = 0
    false_pauses: int = 0

    def violation(self, note: str) -> None:
        self.violations += 1
        if len(self.violation_notes) < 20:
            self.violation_notes.append(note)


def apply_one(m: Market, p: Proposal, at: dt.datetime) -> None:
    """One proposal as the platform write it stands for, applied to the market exactly as the
    sandbox platform applies a dispatched write (SimError when the market refuses)."""
    # The benchmark's creative library ids are the market's own creative ids.
    creative = p.new_value.get("adsContentId")
    write = WriteRequest(
        p.action_type,
        p.entity_type,
        p.entity_id,
        dict(p.current_value),
        dict(p.new_value),
        idempotency_key="",
        context={"creativeExternalId": creative} if creative else {},
    )
    apply_to_market(m, write, at)


def _created(m: Market, kind: str, row: int) -> int:
    if kind == "campaign":
        return int(m.campaigns.created[row])
    return int(m.adsets.created[row] if kind == "adset" else m.ads.created[row])


def _age_days(m: Market, p: Proposal, at: dt.datetime) -> float | None:
    if not m.has(p.entity_type, p.entity_id):
        return None
    created = _created(m, p.entity_type, m.index_of(p.entity_type, p.entity_id))
    return (at.timestamp() - created) / 86_400.0


def _live_counts(m: Market) -> tuple[np.ndarray, np.ndarray]:
    """Active ads per ad set and active ad sets per campaign."""
    ads = np.bincount(m.ads.adset[m.ads.status == ACTIVE], minlength=len(m.adsets.id))
    sets = np.bincount(m.adsets.campaign[m.adsets.status == ACTIVE], minlength=len(m.campaigns.id))
    return ads, sets


def audit_and_apply(
    m: Market,
    applied: Sequence[Proposal],
    ledger: Ledger,
    settings: EngineSettings,
    at: dt.datetime,
) -> None:
    """Check the approved proposals against the hard limits, then apply them in order."""
    st = settings
    if len(applied) > st.max_actions_per_run:
        ledger.violation(f"{len(applied)} actions in one run")
    if sum(p.action_type in PAUSES for p in applied) > st.max_pauses_per_run:
        ledger.violation("too many pauses in one run")
    ads_before, sets_before = _live_counts(m)
    last: dict[tuple[str, str], dt.datetime] = {}
    for h in ledger.history:
        kind = "budget" if h.action_type == "update_budget" else "structural"
        last[(h.entity_id, kind)] = max(h.at, last.get((h.entity_id, kind), h.at))
    seen: set[tuple[str, str]] = set()
    for p in applied:
        kind = "budget" if p.action_type == "update_budget" else "structural"
        hours = st.cooldown_budget_hours if kind == "budget" else st.cooldown_structural_hours
        prev = last.get((p.entity_id, kind))
        if (p.entity_id, kind) in seen or (
            prev is not None and at - prev < dt.timedelta(hours=hours)
        ):
            ledger.violation(f"cooldown: {p.action_type} on {p.entity_id}")
        seen.add((p.entity_id, kind))
        age = _age_days(m, p, at)
        if p.action_type in PAUSES and (age is None or age < st.too_young_days):
            ledger.violation(f"too young: {p.action_type} on {p.entity_id}")
        if p.action_type == "update_budget":
            cur = int(p.current_value["dailyBudgetCents"])
            new = int(p.new_value["dailyBudgetCents"])
            table = m.campaigns if p.entity_type == "campaign" else m.adsets
            live = int(table.budget[m.index_of(p.entity_type, p.entity_id)])
            step = abs(new - cur)
            minimum = st.min_daily_budget(m.platform, p.entity_type)
            if (
                live != cur
                or step > st.budget_max_step_fraction * cur + 1e-9
                or step > st.budget_max_step_cents
                or new < minimum
            ):
                ledger.violation(f"budget step {cur}→{new} on {p.entity_id}")
        try:
            apply_one(m, p, at)
        except SimError as exc:
            ledger.violation(f"refused: {p.action_type} on {p.entity_id}: {exc.message}")
            continue
        ledger.actions += 1
        ledger.pauses += p.action_type in PAUSES
        ledger.history.append(
            HistoryEntry(p.entity_id, p.action_type, "dispatched", at, p.evidence_fingerprint)
        )
    ads_after, sets_after = _live_counts(m)
    emptied_sets = (ads_before > 0) & (ads_after == 0) & (m.adsets.status == ACTIVE)
    emptied_camps = (sets_before > 0) & (sets_after == 0) & (m.campaigns.status == ACTIVE)
    for _ in range(int(emptied_sets.sum() + emptied_camps.sum())):
        ledger.violation("left an ad set or campaign with nothing active")


def holder_budgets(m: Market) -> tuple[np.ndarray, np.ndarray]:
    """Masks of live budget holders: (campaigns, ad sets)."""
    camp_live = m.campaigns.status == ACTIVE
    set_live = (m.adsets.status == ACTIVE) & camp_live[m.adsets.campaign]
    cbo = m.campaigns.cbo
    return camp_live & cbo, set_live & ~cbo[m.adsets.campaign]


def learning_marks(m: Market) -> np.ndarray:
    """Per ad set, the end of its current learning window (changes when learning restarts)."""
    return m.adsets.learn_until.copy()


def count_resets(m: Market, before: np.ndarray) -> int:
    after = m.adsets.learn_until
    n = min(len(before), len(after))
    return int(np.sum(after[:n] != before[:n]))
