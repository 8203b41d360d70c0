"""update_targeting and update_schedule from country and hour breakdowns of each ad set.

Each (ad set, country) or (ad set, hour) cell gets a Gamma posterior centred on its ad set's
posterior rate, with a strength estimated across all cells of that dimension; a cell is dropped
only when it is credibly above target, credibly dearer than its own ad set, and has spent enough
to have been given a fair chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adpilot.engine.estimates import GammaPosterior, moment_shape
from adpilot.engine.frame import Frame
from adpilot.engine.plan import (
    RunPlan,
    cents,
    make_proposal,
    prob,
    rounded,
    target_label,
    target_text,
)
from adpilot.engine.text import (
    cpa_phrase,
    entity_ref,
    hour_ranges,
    join_words,
    percent,
    plural,
)
from adpilot.engine.types import BreakdownDimension, Proposal


@dataclass(frozen=True)
class Cell:
    key: str
    spend_cents: float
    conversions: int
    impressions: int
    p_above: float


def _bad_cells(frame: Frame, dimension: BreakdownDimension) -> dict[int, list[Cell]]:
    """Per ad set: cells credibly above target with enough spend, most certain first."""
    st, target = frame.settings, frame.target
    if target is None:
        return {}
    pos = {a.id: j for j, a in enumerate(frame.adsets)}
    rows = [r for r in frame.inp.breakdowns if r.dimension == dimension and r.adset_id in pos]
    if not rows:
        return {}
    # One pass over the rows: at 10k ads there are tens of thousands of cells.
    table = np.array(
        [(pos[r.adset_id], r.spend_cents, r.conversions) for r in rows], dtype=np.float64
    )
    adset = table[:, 0].astype(np.intp)
    spend, conv = table[:, 1], table[:, 2]
    # Breakdowns have no dates: scale exposure by the ad set's lag-adjusted share of the window.
    full = max(frame.n_days, 1)
    set_spend = frame.adset_w.get("spend", full)
    set_exp = frame.adset_w.get("exposure", full)
    lag = np.where(set_spend > 0, set_exp / np.maximum(set_spend, 1e-9), 1.0)
    exposure = spend * lag[adset]
    parent = frame.hier.adset.mean_rate()[adset]
    a = moment_shape(conv, exposure, parent, st.prior_shape_min, st.prior_shape_max)
    post = GammaPosterior(np.full(len(rows), a), a / parent).update(conv, exposure)
    # Credibly above target *and* credibly dearer than the cell's own ad set: a cell is a
    # trimming candidate for what sets it apart, not for sharing its ad set's high CPA.
    p_above = post.p_cpa_above(target)
    p_dearer = post.p_cpa_above(st.breakdown_relative_margin / parent)
    bad = (
        (spend >= st.breakdown_min_spend_multiple * target)
        & (p_above >= st.breakdown_probability)
        & (p_dearer >= st.breakdown_probability)
    )
    out: dict[int, list[Cell]] = {}
    for n in np.flatnonzero(bad).tolist():
        r = rows[n]
        out.setdefault(int(adset[n]), []).append(
            Cell(
                r.key,
                float(r.spend_cents),
                int(r.conversions),
                int(r.impressions),
                float(p_above[n]),
            )
        )
    for cells in out.values():
        cells.sort(key=lambda c: (-c.p_above, c.key))
    return out


def _eligible_sets(frame: Frame, plan: RunPlan) -> list[int]:
    live = frame.adset_live & ~frame.adset_learning
    return [j for j in np.flatnonzero(live).tolist() if j not in plan.paused_adsets]


def _cell_text(frame: Frame, cell: Cell, label: str, days: int) -> str:
    return (
        f"{label}: {cpa_phrase(cell.spend_cents, cell.conversions, days, frame.inp.currency)}, "
        f"{percent(cell.p_above)} likely above {target_label(frame)}"
    )


def _cell_evidence(cell: Cell) -> dict[str, object]:
    return {
        "key": cell.key,
        "spendCents": cents(cell.spend_cents),
        "conversions": cell.conversions,
        "impressions": cell.impressions,
        "pAboveTarget": rounded(cell.p_above, 3),
    }


def propose_targeting(frame: Frame, plan: RunPlan) -> list[Proposal]:
    """Drop countries credibly above target; never the last country."""
    bad = _bad_cells(frame, "country")
    out: list[Proposal] = []
    days = max(frame.n_days, 1)
    for j in _eligible_sets(frame, plan):
        if j not in bad:
            continue
        adset = frame.adsets[j]
        geo = [str(g) for g in (adset.targeting.get("geo") or [])]
        targeted = {g.upper() for g in geo}
        drop = [c for c in bad[j] if c.key.upper() in targeted]
        dropped = {c.key.upper() for c in drop}
        keep = [g for g in geo if g.upper() not in dropped]
        if not drop or not keep:
            continue
        conf = prob(min(c.p_above for c in drop))
        names = [c.key.upper() for c in drop]
        out.append(
            make_proposal(
                action_type="update_targeting",
                entity_type="adset",
                entity_id=adset.id,
                entity_name=adset.name,
                campaign_id=adset.campaign_id,
                adset_id=adset.id,
                current={"geo": geo},
                new={"geo": keep},
                summary=(
                    f"Stop targeting {join_words(names)} in {entity_ref('adset', adset.name)} "
                    f"(keeps {join_words(keep)})"
                ),
                rationale=(
                    "; ".join(_cell_text(frame, c, c.key.upper(), days) for c in drop)
                    + f" ({target_text(frame)})."
                ),
                confidence=conf,
                evidence={
                    "breakdownDays": days,
                    "targetCpaCents": rounded(frame.target or 0.0, 2),
                    "removed": [_cell_evidence(c) for c in drop],
                },
                fingerprint={"remove": names},
            )
        )
    return out


def propose_schedules(frame: Frame, plan: RunPlan) -> list[Proposal]:
    """Drop hours credibly above target, keeping at least `min_schedule_hours` hours."""
    st = frame.settings
    if frame.inp.platform in st.no_daypart_platforms:
        return []
    bad = _bad_cells(frame, "hour")
    out: list[Proposal] = []
    days = max(frame.n_days, 1)
    cur = frame.inp.currency
    for j in _eligible_sets(frame, plan):
        if j not in bad:
            continue
        adset = frame.adsets[j]
        # The current value is the schedule exactly as the platform reported it (the dispatcher
        # compares it with the live value); no dayparts means all 24 hours.
        parts = [int(h) for h in (adset.schedule.get("dayparts") or range(24))]
        hours = sorted(set(parts))
        allowed = min(len(hours) - st.min_schedule_hours, st.max_schedule_hours_dropped)
        drop: list[Cell] = []
        for c in bad[j]:
            if c.key.isdigit() and int(c.key) in hours and len(drop) < allowed:
                drop.append(c)
        if not drop:
            continue
        gone = {int(c.key) for c in drop}
        keep = [h for h in parts if h not in gone]
        conf = prob(min(c.p_above for c in drop))
        spend = sum(c.spend_cents for c in drop)
        conv = sum(c.conversions for c in drop)
        ranges = hour_ranges(sorted(gone))
        out.append(
            make_proposal(
                action_type="update_schedule",
                entity_type="adset",
                entity_id=adset.id,
                entity_name=adset.name,
                campaign_id=adset.campaign_id,
                adset_id=adset.id,
                current={"dayparts": parts},
                new={"dayparts": keep},
                summary=(
                    f"Stop delivery of {entity_ref('adset', adset.name)} during "
                    f"{join_words(ranges)} (keeps {plural(len(set(keep)), 'hour')} a day)"
                ),
                rationale=(
                    f"Hours {join_words(ranges)}: "
                    f"{cpa_phrase(spend, conv, days, cur, target_text(frame))}; each of these "
                    f"hours is at least {percent(conf)} likely above {target_label(frame)}."
                ),
                confidence=conf,
                evidence={
                    "breakdownDays": days,
                    "targetCpaCents": rounded(frame.target or 0.0, 2),
                    "spendCents": cents(spend),
                    "conversions": conv,
                    "removed": [_cell_evidence(c) for c in drop],
                },
                fingerprint={"remove": sorted(gone)},
            )
        )
    return out
