"""Shared helpers for proposal builders: this run's plan so far and the Proposal factory."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adpilot.engine.fingerprint import make_fingerprint
from adpilot.engine.frame import Frame
from adpilot.engine.history import OwnHistory
from adpilot.engine.text import money
from adpilot.engine.types import ACTION_AXIS, Proposal
from adpilot.platforms.base import ActionType, EntityType


@dataclass
class RunPlan:
    """What earlier builders of this run decided, so later ones stay consistent with it."""

    paused_adsets: set[int] = field(default_factory=set)
    removed_ads: dict[int, int] = field(default_factory=dict)  # ad set → ads paused/pruned
    paused_per_campaign: dict[int, int] = field(default_factory=dict)
    creatives_used: dict[int, set[str]] = field(default_factory=dict)  # ad set → creatives
    touched_ads: set[int] = field(default_factory=set)
    # Ad sets whose learning phase an edit of this run already restarts: a second edit there must
    # clearly pay for both.
    relearning: set[int] = field(default_factory=set)
    # What adpilot's own recent actions mean for this run (None: no history).
    own: OwnHistory | None = None
    paused_creatives: set[str] = field(default_factory=set)  # creatives of ads this run pauses
    placed: dict[str, set[int]] = field(default_factory=dict)  # creative → ad sets, this run

    def place(self, adset: int, creative_id: str) -> None:
        self.creatives_used.setdefault(adset, set()).add(creative_id)
        self.placed.setdefault(creative_id, set()).add(adset)
        self.relearning.add(adset)

    def adpilot_learning(self, adset: int) -> bool:
        """The ad set is in a learning phase one of adpilot's own recent edits started."""
        return self.own is not None and bool(self.own.relearning[adset])

    def placed_elsewhere(self, creative_id: str | None, adset: int) -> bool:
        """This run, or a recent one, placed the creative in another ad set."""
        if not creative_id:
            return False
        if self.placed.get(creative_id, set()) - {adset}:
            return True
        return self.own is not None and self.own.placed_elsewhere(creative_id, adset)

    def remaining_ads(self, frame: Frame, adset: int) -> int:
        return int(frame.active_ads[adset]) - self.removed_ads.get(adset, 0)

    def remove_ad(self, adset: int, ad: int) -> None:
        self.removed_ads[adset] = self.removed_ads.get(adset, 0) + 1
        self.touched_ads.add(ad)

    def weigh(self, frame: Frame, adset: int, gain: float, cost: float) -> Weighing:
        """An edit of `adset` expected to win `gain` conversions, whose new learning phase would
        cost `cost`; a second edit of the same ad set in this run must pay for both."""
        return Weighing(gain, cost, frame.settings.edit_horizon_days, adset in self.relearning)


@dataclass(frozen=True)
class Weighing:
    """An edit's expected gain against the learning it costs, in conversions over the horizon."""

    gain: float
    cost: float
    horizon: float
    relearning: bool  # another change of this run already restarts the ad set's learning

    @property
    def repays(self) -> bool:
        # One learning-restarting edit per ad set per run, unless the second clearly pays for
        # both: changes landing together confound each other and stretch the phase.
        return self.gain > (2.0 if self.relearning else 1.0) * self.cost

    def evidence(self) -> dict[str, object]:
        return {
            "expectedGainConversions": rounded(self.gain, 2),
            "learningCostConversions": rounded(self.cost, 2),
            "horizonDays": self.horizon,
            "secondEditThisRun": self.relearning,
        }

    def clause(self) -> str:
        """The rationale's weighing of the gain against the learning cost."""
        text = f"about {self.gain:.1f} more conversions expected over {self.horizon:g} days"
        if self.relearning:
            text += (
                f", against about {self.cost:.1f} lost while the ad set re-learns — as a second "
                f"change to the ad set this run it has to win at least twice that"
            )
        elif self.cost > 0:
            text += f", against about {self.cost:.1f} lost while the ad set re-learns"
        return text


def cents(value: float) -> int:
    return round(float(value))


def rounded(value: float, digits: int = 4) -> float | None:
    return round(float(value), digits) if math.isfinite(value) else None


def prob(p: float) -> float:
    """A confidence: rounded to 3 places and kept inside [0.001, 0.999] (never certainty)."""
    return round(min(0.999, max(0.001, float(p))), 3) if math.isfinite(p) else 0.0


def target_label(frame: Frame) -> str:
    """How the rationale names the CPA it compares against."""
    if not frame.goal_stated:
        return "pool average"
    return "conversion value" if is_value_goal(frame) else "target"


def is_value_goal(frame: Frame) -> bool:
    return frame.goal is not None and frame.goal.type == "conversion_value"


def target_text(frame: Frame) -> str:
    assert frame.target is not None
    return f"{target_label(frame)} {money(frame.target, frame.inp.currency)}"


def make_proposal(
    *,
    action_type: ActionType,
    entity_type: EntityType,
    entity_id: str,
    entity_name: str,
    campaign_id: str | None,
    adset_id: str | None,
    current: Mapping[str, Any],
    new: Mapping[str, Any],
    summary: str,
    rationale: str,
    confidence: float,
    evidence: Mapping[str, Any],
    fingerprint: Mapping[str, object],
) -> Proposal:
    return Proposal(
        action_type=action_type,
        entity_type=entity_type,
        entity_id=entity_id,
        entity_name=entity_name,
        campaign_id=campaign_id,
        adset_id=adset_id,
        axis=ACTION_AXIS[action_type],
        current_value=dict(current),
        new_value=dict(new),
        summary=summary,
        rationale=rationale,
        confidence=prob(confidence),
        evidence=dict(evidence),
        evidence_fingerprint=make_fingerprint(action_type, **fingerprint),
    )
