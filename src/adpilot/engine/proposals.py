"""All eight proposal types, built in an order that keeps them consistent within one run.

Ad set pauses come first (their ads then need nothing else), then ad-level removals in order of
confidence (a fatigued ad is refreshed with a new creative when one is available, else paused),
prunes, pushes into ad sets left with free slots, budgets, and finally targeting and schedules.
"""

from __future__ import annotations

import numpy as np

from adpilot.engine.breakdowns import propose_schedules, propose_targeting
from adpilot.engine.budget_moves import propose_budgets
from adpilot.engine.creative_pick import CreativePicker
from adpilot.engine.creatives import (
    propose_prunes,
    propose_pushes,
    propose_replace,
    refresh_weighing,
)
from adpilot.engine.frame import Frame
from adpilot.engine.history import own_history
from adpilot.engine.pauses import (
    ad_pause_candidates,
    pause_weighing,
    propose_ad_pause,
    propose_adset_pauses,
)
from adpilot.engine.plan import RunPlan
from adpilot.engine.types import Proposal


def build_proposals(frame: Frame) -> list[Proposal]:
    plan = RunPlan(own=own_history(frame))
    picker = CreativePicker(frame, plan.own)
    out: list[Proposal] = propose_adset_pauses(frame, plan)

    # Fatigued ads get a fresh creative where one exists, whatever their pause confidence.
    classes = frame.ad.classes
    fatigued = [
        i
        for i in np.flatnonzero(frame.ad_live).tolist()
        if classes[i] == "FATIGUED" and int(frame.ad_adset[i]) not in plan.paused_adsets
    ]
    fatigued.sort(key=lambda i: (-float(frame.fatigue.p_decline[i]), i))
    refresh = refresh_weighing(frame)
    for i in fatigued:
        replaced = propose_replace(frame, plan, picker, i, refresh)
        if replaced is not None:
            out.append(replaced)

    weighing = pause_weighing(frame)
    for i, confidence, p_rest in ad_pause_candidates(frame, plan):
        paused = propose_ad_pause(frame, plan, i, confidence, p_rest, weighing)
        if paused is not None:
            out.append(paused)

    out.extend(propose_prunes(frame, plan))
    out.extend(propose_pushes(frame, plan, picker))
    out.extend(propose_budgets(frame, plan))
    out.extend(propose_targeting(frame, plan))
    out.extend(propose_schedules(frame, plan))
    return out
