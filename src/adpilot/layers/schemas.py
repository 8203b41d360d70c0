"""Request bodies of the layers routes: write classes, layer settings and ad accounts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from adpilot.kit.body import PartialBody, StrictBody

PlatformSpelling = Literal["meta_ads", "tiktok_ads", "apple_ads", "meta", "tiktok", "apple"]


class WriteClassFlags(PartialBody):
    """A partial map of the eight action types; names are the SPEC's, so no camelCase here."""

    pause_ad: bool | None = None
    pause_adset: bool | None = None
    update_budget: bool | None = None
    push_creative: bool | None = None
    replace_creative: bool | None = None
    prune_creative: bool | None = None
    update_targeting: bool | None = None
    update_schedule: bool | None = None


class WriteClassesPatch(StrictBody):
    model_config = ConfigDict(alias_generator=to_camel)

    write_classes: WriteClassFlags


# Guardrail overrides and their safe bounds (SPEC §4.4). A layer may tighten a guardrail, or
# loosen it only as far as these bounds; the names are the engine's settings, in camelCase here.
GUARDRAIL_BOUNDS: dict[str, tuple[float, float]] = {
    "min_confidence": (0.5, 0.95),
    "cooldown_structural_hours": (24, 720),
    "cooldown_budget_hours": (24, 720),
    "cooldown_bid_hours": (24, 720),
    "budget_max_step_fraction": (0.05, 0.5),
    "budget_max_step_cents": (100, 10_000),
    "max_actions_per_run": (1, 40),
    "max_pauses_per_run": (0, 20),
    "min_spend_for_pause_cents": (500, 10_000_000),
    "min_impressions_for_budget": (100, 100_000_000),
    "too_young_days": (3, 30),
    "rejection_memory_days": (7, 90),
}


def _bounded(name: str) -> Any:
    low, high = GUARDRAIL_BOUNDS[name]
    return Field(None, ge=low, le=high)


class GuardrailOverridesPatch(PartialBody):
    """Partial overrides: a number sets one guardrail, `null` returns it to the default."""

    model_config = ConfigDict(alias_generator=to_camel)
    nullable = frozenset(GUARDRAIL_BOUNDS)

    min_confidence: float | None = _bounded("min_confidence")
    cooldown_structural_hours: float | None = _bounded("cooldown_structural_hours")
    cooldown_budget_hours: float | None = _bounded("cooldown_budget_hours")
    cooldown_bid_hours: float | None = _bounded("cooldown_bid_hours")
    budget_max_step_fraction: float | None = _bounded("budget_max_step_fraction")
    budget_max_step_cents: int | None = _bounded("budget_max_step_cents")
    max_actions_per_run: int | None = _bounded("max_actions_per_run")
    max_pauses_per_run: int | None = _bounded("max_pauses_per_run")
    min_spend_for_pause_cents: int | None = _bounded("min_spend_for_pause_cents")
    min_impressions_for_budget: int | None = _bounded("min_impressions_for_budget")
    too_young_days: float | None = _bounded("too_young_days")
    rejection_memory_days: float | None = _bounded("rejection_memory_days")


class GoalBody(StrictBody):
    """A layer's goal: `target_cpa` with `targetCpaCents`, or `conversion_value` with
    `valueCents`; which of the two amounts a type needs is checked by the service."""

    model_config = ConfigDict(alias_generator=to_camel)

    type: Literal["target_cpa", "conversion_value"]
    target_cpa_cents: int | None = Field(None, ge=1, le=100_000_000)
    value_cents: int | None = Field(None, ge=1, le=100_000_000)


class LayerSettingsPatch(PartialBody):
    """`PATCH /v1/layers/{layerId}`; `null` clears a setting back to its default."""

    model_config = ConfigDict(alias_generator=to_camel)
    nullable = frozenset(
        {
            "target_cpa_cents",
            "goal",
            "conversion_event",
            "schedule",
            "sync_schedule",
            "guardrail_overrides",
        }
    )

    target_cpa_cents: int | None = Field(None, ge=1, le=100_000_000)
    # `null` returns the layer to the default goal: a target CPA at the pool's own CPA.
    goal: GoalBody | None = None
    conversion_event: str | None = Field(None, min_length=1, max_length=100)
    # A 5-field cron expression (UTC) or "off"; checked by the service, which also plans the run.
    schedule: str | None = Field(None, min_length=1, max_length=100)
    # When entities and metrics are synced between runs: cron (UTC) or "off"; null: every 6 h.
    sync_schedule: str | None = Field(None, min_length=1, max_length=100)
    creative_slots: int | None = Field(None, ge=1, le=10)
    guardrail_overrides: GuardrailOverridesPatch | None = None
    # Share of eligible budget holders held out to measure adpilot (0 = off; at most a half).
    holdout_share: float | None = Field(None, ge=0.0, le=0.5)


class AdAccountCreate(StrictBody):
    """`POST …/ads/ad-accounts`; `credentials` are checked per platform by the service."""

    model_config = ConfigDict(alias_generator=to_camel)

    platform: PlatformSpelling
    external_id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=200)
    credentials: dict[str, Any] | None = None
    mode: Literal["live", "sandbox"] = "live"
    replace: bool = False


class MetaCredentials(StrictBody):
    model_config = ConfigDict(alias_generator=to_camel)

    access_token: str = Field(min_length=1)
    app_secret: str | None = Field(None, min_length=1)


class TikTokCredentials(StrictBody):
    model_config = ConfigDict(alias_generator=to_camel)

    access_token: str = Field(min_length=1)


class AppleCredentials(StrictBody):
    model_config = ConfigDict(alias_generator=to_camel)

    client_id: str = Field(min_length=1)
    team_id: str = Field(min_length=1)
    key_id: str = Field(min_length=1)
    private_key_pem: str = Field(min_length=1)


CREDENTIALS_MODELS: dict[str, type[StrictBody]] = {
    "meta": MetaCredentials,
    "tiktok": TikTokCredentials,
    "apple": AppleCredentials,
}
