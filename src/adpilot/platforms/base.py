"""The AdPlatform protocol: what every platform adapter (sandbox, meta, tiktok, apple) offers.

Adapters speak in normalised types with money in integer cents; conversion to a platform's own
units happens inside the adapter and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

PlatformName = Literal["meta", "tiktok", "apple"]
EntityType = Literal["campaign", "adset", "ad"]
ActionType = Literal[
    "pause_ad",
    "pause_adset",
    "update_budget",
    "push_creative",
    "replace_creative",
    "prune_creative",
    "update_targeting",
    "update_schedule",
    "update_status",
]
ACTION_TYPES: tuple[ActionType, ...] = (
    "pause_ad",
    "pause_adset",
    "update_budget",
    "push_creative",
    "replace_creative",
    "prune_creative",
    "update_targeting",
    "update_schedule",
)
# Which entities each action may target (SPEC §4.3); a platform may narrow it (Apple budgets live
# on campaigns only).
ACTION_ENTITY_TYPES: dict[str, tuple[EntityType, ...]] = {
    "pause_ad": ("ad",),
    "pause_adset": ("adset",),
    "update_budget": ("campaign", "adset"),
    "push_creative": ("adset",),
    "replace_creative": ("ad",),
    "prune_creative": ("ad",),
    "update_targeting": ("adset",),
    "update_schedule": ("adset",),
    # A person's pause, resume or (soft) delete of any entity; never proposed by the optimizer.
    "update_status": ("campaign", "adset", "ad"),
}
# Writes only a person makes (direct writes over the API), beyond the optimizer's eight.
DIRECT_ACTION_TYPES: tuple[ActionType, ...] = ("update_status",)
# The status values `update_status` sets, and each platform's word for them.
SETTABLE_STATUSES = ("active", "paused", "deleted")
# Entity status vocabulary shared by every adapter (SPEC §7).
EntityStatus = Literal["active", "paused", "archived", "deleted", "in_review", "rejected"]


@dataclass(frozen=True)
class AccountInfo:
    external_id: str
    name: str
    currency: str  # ISO 4217, e.g. "USD"
    timezone: str  # IANA, e.g. "America/New_York"


@dataclass(frozen=True)
class CampaignData:
    external_id: str
    name: str
    status: str
    budget_mode: Literal["campaign", "adset"]
    daily_budget_cents: int | None  # set when budget_mode == "campaign"
    created_at: dt.datetime


@dataclass(frozen=True)
class AdSetData:
    external_id: str
    campaign_external_id: str
    name: str
    status: str
    daily_budget_cents: int | None  # set when the campaign's budget_mode == "adset"
    targeting: dict[str, Any]  # at least {"geo": ["US", ...]}
    schedule: dict[str, Any]  # {"dayparts": [0..23 hours]}; all 24 hours when unrestricted
    learning: str | None  # "learning" | "learned" | "limited" | None when not reported
    created_at: dt.datetime


@dataclass(frozen=True)
class AdData:
    external_id: str
    adset_external_id: str
    campaign_external_id: str
    name: str
    status: str
    creative_external_id: str | None
    created_at: dt.datetime


@dataclass(frozen=True)
class DailyMetric:
    """One ad's delivery on one day (account time zone)."""

    ad_external_id: str
    date: dt.date
    spend_cents: int
    impressions: int
    clicks: int
    conversions: int
    frequency: float | None = None


@dataclass(frozen=True)
class BreakdownMetric:
    """One ad set's delivery over the whole window, split by country or by hour of day."""

    adset_external_id: str
    dimension: Literal["country", "hour"]
    key: str  # "US" or "0".."23"
    spend_cents: int
    impressions: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class AccountSnapshot:
    account: AccountInfo
    campaigns: list[CampaignData]
    adsets: list[AdSetData]
    ads: list[AdData]
    metrics: list[DailyMetric]
    breakdowns: list[BreakdownMetric] = field(default_factory=list)
    # Why a part of the read was left out (a breakdown the platform refused), for the run.
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EntityState:
    """The live values of one entity, read just before a write (staleness and replay checks)."""

    entity_type: EntityType
    external_id: str
    status: str
    daily_budget_cents: int | None = None
    creative_external_id: str | None = None  # ads
    active_ads: int | None = None  # ad sets
    active_creative_external_ids: tuple[str, ...] = ()  # ad sets: creatives running in it
    targeting: dict[str, Any] | None = None  # ad sets
    schedule: dict[str, Any] | None = None  # ad sets


@dataclass(frozen=True)
class WriteRequest:
    """One of the eight writes, in normalised form.

    `idempotency_key` is derived from our own ids (the pending action id), so a repeated step can
    be recognised by adapters that support client tokens.
    """

    action_type: ActionType
    entity_type: EntityType
    entity_external_id: str
    current_value: dict[str, Any]
    new_value: dict[str, Any]
    idempotency_key: str
    # Extra context some writes need: the campaign/ad set external ids of the entity, and for
    # creative writes the creative's platform asset ref (e.g. {"creativeExternalId": "..."}).
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteResult:
    # For push_creative, the external id of the ad that was created.
    created_external_id: str | None = None


def dropped_breakdown(dimension: str, exc: PlatformError) -> str:
    """The run's note for a breakdown report the platform refused."""
    code = f" (code {exc.platform_code})" if exc.platform_code else ""
    return f"{dimension} breakdown refused by the platform{code}: {exc.message}"


class PlatformError(Exception):
    """Base of every platform failure."""

    def __init__(self, message: str, *, platform_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.platform_code = platform_code


class PlatformAuthError(PlatformError):
    """The token is expired or invalid; `token_status` says which."""

    def __init__(
        self,
        message: str,
        *,
        platform_code: str | None = None,
        token_status: Literal["expired", "invalid"] = "invalid",
    ) -> None:
        super().__init__(message, platform_code=platform_code)
        self.token_status = token_status


class PlatformRejected(PlatformError):
    """A permanent refusal of a request (bad value, policy): never retried."""


class PlatformTransientError(PlatformError):
    """Rate limited, 5xx or unreachable: safe to retry after `retry_after` seconds."""

    def __init__(
        self, message: str, *, platform_code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, platform_code=platform_code)
        self.retry_after = retry_after


class PlatformDeferred(PlatformTransientError):
    """Not sent: adpilot's own count of a platform limit says the send would be refused now.
    Nothing reached the platform; try again after `retry_after` seconds."""


class AdPlatform(Protocol):
    """One connected ad account on one platform."""

    platform: PlatformName

    def validate(self) -> AccountInfo:
        """A cheap read proving the credentials work; raises PlatformAuthError if not."""
        ...

    def fetch_snapshot(self, since: dt.date, until: dt.date) -> AccountSnapshot:
        """Entities plus daily ad metrics for [since, until] (inclusive, account time zone)."""
        ...

    def read_state(self, entity_type: EntityType, external_id: str) -> EntityState:
        """The live values of one entity (for staleness checks and read-before-retry)."""
        ...

    def build_request(self, write: WriteRequest) -> dict[str, Any]:
        """The exact platform request `apply` will send (shown as proposedAction.detail)."""
        ...

    def apply(self, write: WriteRequest) -> WriteResult:
        """Send the write. Raises PlatformRejected / PlatformTransientError / PlatformAuthError."""
        ...
