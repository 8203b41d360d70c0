"""Frozen input and output types of the decision engine (no database, clock or network types)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from adpilot.platforms.base import ActionType, EntityType, PlatformName

AdClass = Literal[
    "TOO_YOUNG",
    "LEARNING_PHASE",
    "TOP_PERFORMER",
    "HEALTHY",
    "UNDERPERFORMING",
    "FATIGUED",
    "CRITICAL",
]
AD_CLASSES: tuple[AdClass, ...] = (
    "TOO_YOUNG",
    "LEARNING_PHASE",
    "TOP_PERFORMER",
    "HEALTHY",
    "UNDERPERFORMING",
    "FATIGUED",
    "CRITICAL",
)
# Classes that may never be paused: the "never" rows of SPEC §4.2. Guardrail 3 names the top
# performers and healthy ads; young and learning ads are never paused either.
PROTECTED_CLASSES: frozenset[str] = frozenset(
    {"TOO_YOUNG", "LEARNING_PHASE", "TOP_PERFORMER", "HEALTHY"}
)
PAUSABLE_CLASSES: frozenset[str] = frozenset({"UNDERPERFORMING", "FATIGUED", "CRITICAL"})

Axis = Literal["structural", "tactical", "creative"]
ACTION_AXIS: Mapping[str, Axis] = {
    "pause_ad": "structural",
    "pause_adset": "structural",
    "update_budget": "tactical",
    "push_creative": "creative",
    "replace_creative": "creative",
    "prune_creative": "creative",
    "update_targeting": "tactical",
    "update_schedule": "tactical",
}
HistoryStatus = Literal["pending", "approved", "dispatched", "dispatch_failed", "rejected"]
BreakdownDimension = Literal["country", "hour"]
CreativeOverride = Literal["include", "exclude"]

FloatArray = npt.NDArray[np.float64]


def _default_min_budgets() -> dict[str, dict[str, int]]:
    # Platform minimum daily budgets in account-currency cents, by budget holder type.
    return {
        "meta": {"campaign": 100, "adset": 100},
        "tiktok": {"campaign": 5000, "adset": 2000},
        "apple": {"campaign": 100, "adset": 100},
    }


def _default_learning_safe_steps() -> dict[str, float]:
    # The largest budget change (fraction) that is not a "significant edit" restarting the
    # platform's learning phase. Apple Ads has no learning phase.
    return {"meta": 0.2, "tiktok": 0.2}


def _default_learning_events() -> dict[str, int]:
    # Optimisation events a platform's learning phase needs to settle (Apple Ads has none).
    return {"meta": 50, "tiktok": 25}


@dataclass(frozen=True)
class EngineSettings:
    """Every threshold of the engine; the first block are the layer settings of SPEC §4."""

    # Classes (SPEC §4.2).
    too_young_days: float = 3.0
    top_score: float = 80.0
    healthy_score: float = 50.0
    critical_spend_cents: int = 5000
    critical_window_days: int = 7
    critical_cpa_multiple: float = 2.5
    # Guardrails (SPEC §4.4).
    min_impressions_for_budget: int = 100
    min_spend_for_pause_cents: int = 500
    budget_max_step_fraction: float = 0.5
    budget_max_step_cents: int = 10_000
    max_actions_per_run: int = 40
    max_pauses_per_run: int = 20
    cooldown_structural_hours: float = 48.0
    cooldown_budget_hours: float = 48.0
    cooldown_bid_hours: float = 24.0
    min_confidence: float = 0.5
    rejection_memory_days: float = 7.0
    # A rejected proposal comes back early only if a number in its evidence fingerprint moved by
    # more than this fraction (or a categorical part of it changed).
    rejection_material_change: float = 0.25
    min_daily_budget_cents: Mapping[str, Mapping[str, int]] = field(
        default_factory=_default_min_budgets
    )
    meta_max_budget_changes_per_hour: int = 4
    learning_safe_budget_step: Mapping[str, float] = field(
        default_factory=_default_learning_safe_steps
    )
    # The learning phase an edit restarts: until this many events or days, at this efficiency.
    learning_events: Mapping[str, int] = field(default_factory=_default_learning_events)
    learning_days: float = 7.0
    learning_efficiency: float = 0.825
    # Weeks over which an edit's gain is counted against the learning it costs.
    edit_horizon_days: float = 28.0
    creative_quality_cv_min: float = 0.35
    # Creatives (SPEC §4.3).
    creative_slots: int = 4
    organic_score_threshold: float = 4.0
    # One run places a creative without its own evidence in at most this many ad sets (its
    # placements of the last `learning_days` still waiting for evidence count): stagger, and
    # learn from the first.
    max_untested_creative_adsets: int = 1
    # A creative has its own evidence once its ads spent this many target CPAs in the window.
    creative_evidence_spend_multiple: float = 1.0
    # A learning phase adpilot's own edit started protects the ad set's ads from pauses until
    # the platform has seen `learning_events` conversions since, or this many days passed
    # (a phase that never gets its events ends "limited", and waiting longer learns nothing).
    learning_protect_max_days: float = 14.0
    # A creative placed by a push or replace within this many days is not paused elsewhere on
    # the evidence it was placed on.
    placement_memory_days: float = 14.0

    # Estimation and proposal tuning (engine-internal defaults).
    evaluation_window_days: int = 14
    credible_probability: float = 0.8
    pause_probability: float = 0.9
    pause_min_spend_multiple: float = 1.0
    pause_sibling_margin: float = 0.1
    adset_pause_cpa_multiple: float = 1.5
    adset_pause_min_spend_multiple: float = 3.0
    budget_probability: float = 0.6
    budget_min_change_fraction: float = 0.1
    under_delivery_fraction: float = 0.8
    response_prior_ratio: float = 1.5
    response_prior_log_sd: float = 0.7
    response_pool_log_sd: float = 0.5  # hyperprior on the account's pooled K / s centre
    budget_target_drift: float = 1.25
    # Under a target CPA, budgets aim the projected blended CPA this far under the target: a
    # fixed share for drift the window cannot show (fatigue, seasonality), plus z / √N for the
    # noise in the N (lag-adjusted) conversions the projection is read from, capped.
    target_cpa_margin: float = 0.05
    target_cpa_margin_z: float = 1.0
    target_cpa_margin_max: float = 0.3
    exploration_budget_share: float = 0.05
    # Hold the account's total daily budget even when a target is stated: budgets only move
    # between holders (an advertiser with a fixed budget; the quality benchmark's protocol).
    budget_hold_total: bool = False
    fatigue_min_spend_multiple: float = 3.0
    fatigue_min_worsening: float = 0.2
    fatigue_frequency: float = 3.0
    fatigue_ctr_drop: float = 0.15
    breakdown_min_spend_multiple: float = 2.0
    breakdown_probability: float = 0.9
    min_schedule_hours: int = 6
    # A country or hour is trimmed only when it is also this much dearer than its own ad set:
    # when the whole ad set is above target, the lever is its budget or a pause, not every hour.
    breakdown_relative_margin: float = 1.25
    # At most this many hours leave a schedule in one run (smaller, reversible steps).
    max_schedule_hours_dropped: int = 6
    # Platforms where a daily-budget ad set cannot be dayparted (Meta needs a lifetime budget).
    no_daypart_platforms: frozenset[str] = frozenset({"meta"})
    # Platforms that cap the active ads of an ad set below any layer setting: Apple Ads allows
    # one enabled ad per ad group, so a push only fills an ad group that has none.
    platform_ad_slots: Mapping[str, int] = field(default_factory=lambda: {"apple": 1})
    prune_idle_days: int = 14
    prune_max_share: float = 0.01
    attribution_lag_correction: bool = True
    attribution_lag_days: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 7.0, 14.0, 28.0)
    attribution_lag_share: tuple[float, ...] = (0.5, 0.8, 0.87, 0.9, 0.95, 0.98, 1.0)
    prior_shape_min: float = 2.0
    prior_shape_max: float = 20.0
    # Beta–Binomial CTR: the ad-level prior's strength (impressions) is estimated inside these
    # bounds; a window's CTR is judged with a weak prior centred on the ad's pooled CTR.
    ctr_prior_strength_min: float = 100.0
    ctr_prior_strength_max: float = 100_000.0
    ctr_window_prior_impressions: float = 200.0

    def min_daily_budget(self, platform: str, entity_type: str) -> int:
        """The platform's minimum daily budget (cents) for a campaign or ad set budget."""
        return int(self.min_daily_budget_cents.get(platform, {}).get(entity_type, 100))


GoalType = Literal["target_cpa", "conversion_value"]
GOAL_TYPES: tuple[GoalType, ...] = ("target_cpa", "conversion_value")


@dataclass(frozen=True)
class Goal:
    """What the customer buys with the budget; the engine judges every budget move against it.

    - `target_cpa`: maximise conversions while the blended CPA over the evaluation window stays at
      or under `cents` (the target CPA).
    - `conversion_value`: maximise conversions × `cents` − spend, so a budget grows only while the
      marginal cost of a conversion is under its value, and shrinks where it is over.
    """

    type: GoalType
    cents: int  # the target CPA or the value of one conversion, in the account's minor unit

    @classmethod
    def target_cpa(cls, cents: int) -> Goal:
        return cls("target_cpa", int(cents))

    @classmethod
    def conversion_value(cls, cents: int) -> Goal:
        return cls("conversion_value", int(cents))


@dataclass(frozen=True)
class CampaignInput:
    id: str
    name: str
    status: str
    created_at: dt.datetime
    budget_mode: Literal["campaign", "adset"]
    daily_budget_cents: int | None = None  # set when budget_mode == "campaign"


@dataclass(frozen=True)
class AdSetInput:
    id: str
    campaign_id: str
    name: str
    status: str
    created_at: dt.datetime
    daily_budget_cents: int | None = None  # set when the campaign's budget_mode == "adset"
    targeting: Mapping[str, Any] = field(default_factory=dict)  # {"geo": ["US", ...]}
    schedule: Mapping[str, Any] = field(default_factory=dict)  # {"dayparts": [0..23]}
    learning: str | None = None  # "learning" | "learned" | "limited" | None


@dataclass(frozen=True)
class AdInput:
    id: str
    adset_id: str
    campaign_id: str
    name: str
    status: str
    created_at: dt.datetime
    ads_content_id: str | None = None
    learning: str | None = None  # only where a platform reports learning per ad


@dataclass(frozen=True, eq=False)
class MetricArrays:
    """Daily ad metrics: each array is [len(ad_ids), len(dates)], columns oldest first."""

    ad_ids: Sequence[str]
    spend_cents: npt.NDArray[Any]
    impressions: npt.NDArray[Any]
    clicks: npt.NDArray[Any]
    conversions: npt.NDArray[Any]
    frequency: npt.NDArray[Any] | None = None  # NaN where unknown


@dataclass(frozen=True)
class BreakdownRow:
    """One ad set's delivery over the window in one country or one hour of day."""

    adset_id: str
    dimension: BreakdownDimension
    key: str  # "US" or "0".."23"
    spend_cents: int
    impressions: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class CreativeInput:
    id: str  # adc_…
    name: str
    organic_score: float | None = None
    override: CreativeOverride | None = None
    safety_failed: bool = False
    pool: str = "manual"  # generated | ugc | manual
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One recent action from our store, for cooldowns and the rejection memory."""

    entity_id: str
    action_type: ActionType
    status: HistoryStatus
    at: dt.datetime  # dispatched time when dispatched, else created (or decided) time
    evidence_fingerprint: str | None = None
    # The ad set the action touched (its own id for ad set actions); None: read from the entity.
    adset_id: str | None = None
    # The creative a push_creative or replace_creative places (its new adsContentId).
    creative_id: str | None = None


@dataclass(frozen=True, eq=False)
class EngineInput:
    now: dt.datetime  # aware, UTC; injected so the engine never reads a clock
    platform: PlatformName
    currency: str
    dates: Sequence[dt.date]  # the evaluation days, oldest first, ending yesterday
    metrics: MetricArrays
    campaigns: Sequence[CampaignInput] = ()
    adsets: Sequence[AdSetInput] = ()
    ads: Sequence[AdInput] = ()
    target_cpa_cents: int | None = None  # None → spend-weighted CPA of the pool over the window
    # The layer's goal; None means `target_cpa` at `target_cpa_cents` (or the pool's CPA).
    goal: Goal | None = None
    settings: EngineSettings = field(default_factory=EngineSettings)
    breakdowns: Sequence[BreakdownRow] = ()
    creatives: Sequence[CreativeInput] = ()
    history: Sequence[HistoryEntry] = ()


@dataclass(frozen=True)
class WindowStats:
    """Sums over the last `days` days."""

    days: int
    spend_cents: int
    impressions: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class Assessment:
    """One entity's estimate and class for this run (ads, and pooled for ad sets and campaigns)."""

    entity_type: EntityType
    entity_id: str
    name: str
    ad_class: AdClass
    score: float  # 0–100, 50 = posterior CPA at target
    # Posterior CPA over the evaluation window: 1 / E[λ], and the 90% credible interval.
    cpa_estimate_cents: float | None
    cpa_low_cents: float | None
    cpa_high_cents: float | None
    p_above_target: float | None  # P(true CPA > target)
    window_days: int  # the evaluation window the posterior is built on
    windows: Mapping[int, WindowStats]
    age_days: float


AdAssessment = Assessment


@dataclass(frozen=True)
class Proposal:
    action_type: ActionType
    entity_type: EntityType
    entity_id: str
    entity_name: str
    campaign_id: str | None
    adset_id: str | None
    axis: Axis
    current_value: Mapping[str, Any]
    new_value: Mapping[str, Any]
    summary: str
    rationale: str
    confidence: float  # a probability in [0, 1]
    evidence: Mapping[str, Any]
    evidence_fingerprint: str


@dataclass(frozen=True)
class EngineResult:
    assessments: Sequence[Assessment]  # one per ad, in input order
    adset_assessments: Sequence[Assessment]
    campaign_assessments: Sequence[Assessment]
    proposals: Sequence[Proposal]
    entities_evaluated: int
    target_cpa_cents: float | None  # the target actually used (given, or the pool's CPA)
