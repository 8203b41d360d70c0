"""The Meta adapter: one ad account through the Graph API, as an `AdPlatform`.

A sync overlaps its reads: the account, campaigns, ad sets and ads listings, the ad-level
daily insights and the two ad-set breakdowns run at once, each paging with large pages. The
insights go async when the first ads page says the account is large (`summary.total_count`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal

from adpilot.config import Settings
from adpilot.kit.clock import utcnow
from adpilot.platforms.base import (
    AccountInfo,
    AccountSnapshot,
    BreakdownMetric,
    EntityState,
    EntityType,
    PlatformAuthError,
    PlatformDeferred,
    PlatformName,
    PlatformRejected,
    PlatformTransientError,
    WriteRequest,
    WriteResult,
    dropped_breakdown,
)
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.meta import convert
from adpilot.platforms.meta import requests as meta_requests
from adpilot.platforms.meta.budget_limit import PROCESS_STORE, BudgetChanges
from adpilot.platforms.meta.client import GraphClient, GraphThrottled
from adpilot.platforms.meta.insights import PAGE_LIMIT, InsightsReader, time_range
from adpilot.platforms.registry import LiveAccount

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = "id,account_id,name,currency,timezone_name,account_status"
CAMPAIGN_FIELDS = "id,name,status,effective_status,daily_budget,lifetime_budget,created_time"
ADSET_FIELDS = (
    "id,name,campaign_id,status,effective_status,daily_budget,lifetime_budget,targeting,"
    "pacing_type,adset_schedule,learning_stage_info,created_time"
)
AD_FIELDS = "id,name,adset_id,campaign_id,status,effective_status,creative{id},created_time"
AD_STATE_FIELDS = "id,status,effective_status,creative{id}"
DAILY_FIELDS = "campaign_id,adset_id,ad_id,spend,impressions,clicks,frequency,actions"
BREAKDOWN_FIELDS = "adset_id,spend,impressions,clicks,actions"
# Listings ask for every effective status: paused, archived and deleted objects must reach the
# local store too (Meta leaves deleted and archived ones out unless asked).
_COMMON = ["ACTIVE", "PAUSED", "DELETED", "ARCHIVED", "IN_PROCESS", "WITH_ISSUES"]
EVERY_STATUS: dict[str, list[str]] = {
    "campaigns": _COMMON,
    "adsets": [*_COMMON, "CAMPAIGN_PAUSED"],
    "ads": [
        *_COMMON,
        "ADSET_PAUSED",
        "CAMPAIGN_PAUSED",
        "DISAPPROVED",
        "PENDING_REVIEW",
        "PREAPPROVED",
        "PENDING_BILLING_INFO",
    ],
}
BUDGET_LOCK_SEC = 3600.0
SYNC_WORKERS = 8


class MetaPlatform:
    """One Meta ad account (`act_<id>`) through a Graph client."""

    platform: PlatformName = "meta"

    def __init__(
        self,
        client: GraphClient,
        account_id: str,
        *,
        currency: str | None = None,
        timezone: str | None = None,
        conversion_event: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        budget_changes: BudgetChanges | None = None,
    ) -> None:
        self.client = client
        self.account = meta_requests.account_node(account_id)
        self.currency = currency
        self.timezone = timezone
        self.action_type = convert.action_type_for(conversion_event)
        self.clock = clock
        # The shared limits store when the client has one (settings), else the process's.
        shared = client.http.options.limits
        self.budget_changes = budget_changes or BudgetChanges(
            shared.store if shared is not None else PROCESS_STORE
        )
        self.insights = InsightsReader(client, self.account)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ reads

    def validate(self) -> AccountInfo:
        info = self._account_info()
        self.currency, self.timezone = info.currency, info.timezone
        return info

    def _account_info(self) -> AccountInfo:
        body = self.client.get(self.account, {"fields": ACCOUNT_FIELDS})
        return AccountInfo(
            external_id=self.account,
            name=str(body.get("name") or self.account),
            currency=str(body.get("currency") or "USD").upper(),
            timezone=str(body.get("timezone_name") or "UTC"),
        )

    def _currency(self) -> str:
        if self.currency is None:
            self.validate()
        assert self.currency is not None
        return self.currency

    def _listing(self, edge: str, fields: str) -> dict[str, Any]:
        return {"fields": fields, "effective_status": EVERY_STATUS[edge], "limit": PAGE_LIMIT}

    def fetch_snapshot(self, since: dt.date, until: dt.date) -> AccountSnapshot:
        days = (until - since).days + 1
        with ThreadPoolExecutor(max_workers=SYNC_WORKERS, thread_name_prefix="meta-sync") as ex:
            account = ex.submit(self._account_info)
            campaigns = ex.submit(
                self.client.all,
                f"{self.account}/campaigns",
                self._listing("campaigns", CAMPAIGN_FIELDS),
            )
            adsets = ex.submit(
                self.client.all, f"{self.account}/adsets", self._listing("adsets", ADSET_FIELDS)
            )
            first_ads = ex.submit(
                self.client.get,
                f"{self.account}/ads",
                {**self._listing("ads", AD_FIELDS), "summary": "true"},
            )
            ads = ex.submit(lambda: self.client.rows_after(first_ads.result()))
            daily = ex.submit(self._daily_rows, since, until, days, first_ads)
            countries = ex.submit(self._breakdown, since, until, "country")
            hours = ex.submit(self._breakdown, since, until, "hour")
            info = account.result()
            currency = info.currency
            snapshot = AccountSnapshot(
                account=info,
                campaigns=[convert.campaign_data(c, currency) for c in campaigns.result()],
                adsets=[convert.adset_data(s, currency) for s in adsets.result()],
                ads=[convert.ad_data(a) for a in ads.result()],
                metrics=[convert.daily_metric(r, self.action_type) for r in daily.result()],
                breakdowns=countries.result()[0] + hours.result()[0],
                dropped=[note for _, note in (countries.result(), hours.result()) if note],
            )
        self.currency, self.timezone = info.currency, info.timezone
        return snapshot

    def _daily_rows(
        self, since: dt.date, until: dt.date, days: int, first_ads: Future[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        total = (first_ads.result().get("summary") or {}).get("total_count")
        estimated = int(total) * days if total is not None else 0
        params = {
            "level": "ad",
            "fields": DAILY_FIELDS,
            "time_increment": "1",
            "action_breakdowns": ["action_type"],
            "use_unified_attribution_setting": "true",
        }
        return self.insights.daily_rows(params, since, until, estimated_rows=estimated)

    def _breakdown(
        self, since: dt.date, until: dt.date, dimension: Literal["country", "hour"]
    ) -> tuple[list[BreakdownMetric], str | None]:
        """Ad-set totals over the window by country or hour of day. These only feed targeting
        and schedule proposals, so a refusal (an unsupported breakdown) leaves them out rather
        than failing the whole sync; transient and auth failures still go up."""
        params = {
            "level": "adset",
            "fields": BREAKDOWN_FIELDS,
            "breakdowns": "country" if dimension == "country" else convert.HOURLY,
            "time_range": time_range(since, until),
            "action_breakdowns": ["action_type"],
            "use_unified_attribution_setting": "true",
        }
        try:
            rows = self.insights.rows(params)
        except PlatformRejected as exc:
            log.warning("meta %s: %s breakdown unavailable: %s", self.account, dimension, exc)
            return [], dropped_breakdown(dimension, exc)
        return [convert.breakdown_metric(r, dimension, self.action_type) for r in rows], None

    def read_state(self, entity_type: EntityType, external_id: str) -> EntityState:
        if entity_type == "campaign":
            body = self.client.get(
                external_id, {"fields": "id,status,effective_status,daily_budget,lifetime_budget"}
            )
            return convert.campaign_state(body, self._currency())
        if entity_type == "adset":
            body = self.client.get(
                external_id,
                {
                    "fields": "id,status,effective_status,daily_budget,lifetime_budget,"
                    "targeting,pacing_type,adset_schedule"
                },
            )
            # Meta leaves deleted and archived ads out of this edge by default.
            ads = self.client.all(
                f"{external_id}/ads", {"fields": AD_STATE_FIELDS, "limit": PAGE_LIMIT}
            )
            return convert.adset_state(body, ads, self._currency())
        if entity_type == "ad":
            return convert.ad_state(self.client.get(external_id, {"fields": AD_STATE_FIELDS}))
        raise PlatformRejected(f"unknown entity type {entity_type!r}", platform_code="100")

    # ------------------------------------------------------------------ writes

    def _enrich(self, write: WriteRequest) -> WriteRequest:
        """What the request builder needs beyond the write: the new ad's name and, for a
        targeting change, the ad set's current spec (Meta replaces the whole spec, so every
        part but the countries is sent back as it is now)."""
        ctx = dict(write.context)
        if write.action_type == "push_creative" and ctx.get("creativeName"):
            ctx.setdefault("adName", ctx["creativeName"])
        if write.action_type == "update_targeting" and "targetingSpec" not in ctx:
            body = self.client.get(write.entity_external_id, {"fields": "targeting"})
            ctx["targetingSpec"] = body.get("targeting") or {}
        return replace(write, context=ctx)

    def build_request(self, write: WriteRequest) -> dict[str, Any]:
        try:
            return meta_requests.build_request(
                self._enrich(write),
                api_version=self.client.version,
                ad_account_id=self.account,
                currency=self._currency(),
            )
        except ValueError as exc:
            raise PlatformRejected(str(exc), platform_code="100") from None

    def apply(self, write: WriteRequest) -> WriteResult:
        budget = write.action_type == "update_budget"
        key = f"{self.client.base} {self.account} {write.entity_external_id}"
        token = self._take_budget_change(key, write) if budget else None
        request = self.build_request(write)
        try:
            body = self.client.write(
                request["method"],
                request["path"],
                request["params"],
                # Code 17 on a budget change locks that budget for an hour: no quick retry.
                retry_throttled=lambda exc: not (budget and _is_17(exc)),
            )
        except GraphThrottled as exc:
            if token is not None:
                # Throttled means not run: the change does not count, and 17 is a lock.
                self.budget_changes.forget(key, token)
                if _is_17(exc):
                    self.budget_changes.lock(key, self._now(), BUDGET_LOCK_SEC)
                    raise PlatformTransientError(
                        exc.message, platform_code=exc.platform_code, retry_after=BUDGET_LOCK_SEC
                    ) from None
            raise
        except PlatformRejected:
            if token is not None:
                self.budget_changes.forget(key, token)
            raise
        # Any other failure may have landed: the change keeps its place in the count.
        if isinstance(body, dict) and body.get("success") is False:
            raise PlatformRejected(
                f"Graph API did not apply {write.action_type} to {write.entity_external_id}",
                platform_code="100",
            )
        created = body.get("id") if write.action_type == "push_creative" else None
        return WriteResult(created_external_id=str(created) if created else None)

    def _now(self) -> float:
        return self.clock().timestamp()

    def _take_budget_change(self, key: str, write: WriteRequest) -> str:
        """A place in the shared count of this holder's budget changes, or a deferral."""
        now = self._now()
        taken = self.budget_changes.take(key, now)
        if taken.token is not None:
            return taken.token
        wait = max(1.0, taken.free_at - now)
        limit = self.budget_changes.limit
        raise PlatformDeferred(
            f"not sent: {write.entity_type} {write.entity_external_id} already had {limit} "
            f"budget changes in the last hour or is locked by Meta (Meta allows {limit} an "
            f"hour); the change is deferred {wait:.0f} s",
            platform_code="17",
            retry_after=wait,
        )


def _is_17(exc: GraphThrottled) -> bool:
    return (exc.platform_code or "").split("/")[0] == "17"


def open_live(settings: Settings, account: LiveAccount, options: HttpOptions) -> MetaPlatform:
    """The adapter for a live account (`registry.LiveAccount`): credentials
    `{accessToken, appSecret?}`, external id `act_<digits>`."""
    credentials = account.credentials or {}
    token = credentials.get("accessToken")
    if not token:
        raise PlatformAuthError("the Meta credentials have no accessToken", token_status="invalid")
    client = GraphClient(
        settings.meta_base_url,
        settings.meta_api_version,
        str(token),
        app_secret=credentials.get("appSecret") or None,
        options=options,
        # Usage headers speak for the ad account: every client of it slows down together.
        pace_key=f"meta {settings.meta_base_url.rstrip('/')} {account.external_id}",
    )
    return MetaPlatform(
        client,
        account.external_id,
        currency=account.currency,
        timezone=account.timezone,
        conversion_event=account.conversion_event,
    )
