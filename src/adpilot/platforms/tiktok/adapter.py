"""TikTokPlatform: the AdPlatform adapter for one TikTok advertiser, over the real HTTP API."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adpilot.config import Settings
from adpilot.platforms.base import (
    AccountInfo,
    AccountSnapshot,
    AdData,
    BreakdownMetric,
    DailyMetric,
    EntityState,
    EntityType,
    PlatformAuthError,
    PlatformName,
    PlatformRejected,
    WriteRequest,
    WriteResult,
    dropped_breakdown,
)
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.registry import LiveAccount
from adpilot.platforms.tiktok import mapping
from adpilot.platforms.tiktok import requests as tiktok_requests
from adpilot.platforms.tiktok.client import PARTIAL_SUCCESS, TikTokClient, parallel
from adpilot.platforms.tiktok.reports import ReportSpec, Row, fetch_all, jobs_for, status_filter

# What counts as a conversion: TikTok's `conversion` is the ad group's optimisation event
# (installs for app-install ad groups). `app_install` and `real_time_app_install` also work.
CONVERSION_METRIC = "conversion"
# Hour-of-day breakdowns: TikTok gives hourly rows one day per request, so they cover the last
# days of the window only.
HOURLY_DAYS = 7
# Fields copied from an ad group's existing ad into a new one: TikTok validates the whole
# creative, and a pushed video keeps the ad group's identity, text and call to action.
CREATIVE_FIELDS = (
    "identity_type",
    "identity_id",
    "identity_authorized_bc_id",
    "ad_text",
    "call_to_action",
    "landing_page_url",
    "display_name",
)
EVERYTHING = {"primary_status": "STATUS_ALL"}  # listings include paused and deleted entities


class TikTokPlatform:
    """One advertiser (`advertiser_id`) reached with one access token."""

    platform: PlatformName = "tiktok"

    def __init__(
        self,
        client: TikTokClient,
        advertiser_id: str,
        *,
        conversion_metric: str = CONVERSION_METRIC,
        hourly_days: int = HOURLY_DAYS,
    ) -> None:
        self.client = client
        self.advertiser_id = str(advertiser_id)
        self.conversion_metric = conversion_metric
        self.hourly_days = hourly_days

    # ---------------------------------------------------------------- reads

    def _list(self, entity: str, filtering: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        params = {
            "advertiser_id": self.advertiser_id,
            "filtering": {**EVERYTHING, **(filtering or {})},
        }
        return self.client.get_all(f"/{entity}/get/", params)

    def validate(self) -> AccountInfo:
        data = self.client.get(
            "/advertiser/info/",
            {
                "advertiser_ids": [self.advertiser_id],
                "fields": ["advertiser_id", "name", "currency", "timezone", "display_timezone"],
            },
        )
        for item in data.get("list") or []:
            if str(item.get("advertiser_id")) == self.advertiser_id:
                return AccountInfo(
                    external_id=self.advertiser_id,
                    name=str(item.get("name") or self.advertiser_id),
                    currency=str(item.get("currency") or "USD").upper(),
                    timezone=_zone(item.get("timezone"), item.get("display_timezone")),
                )
        raise PlatformRejected(
            f"advertiser {self.advertiser_id} was not found for this token", platform_code="40300"
        )

    def fetch_snapshot(self, since: dt.date, until: dt.date) -> AccountSnapshot:
        listed: dict[str, list[dict[str, Any]]] = {}
        accounts: list[AccountInfo] = []

        def listing(entity: str, key: str) -> None:
            listed[entity] = _unique(self._list(entity), key)

        calls: list[Callable[[], None]] = [
            lambda: accounts.append(self.validate()),
            functools.partial(listing, "campaign", "campaign_id"),
            functools.partial(listing, "adgroup", "adgroup_id"),
            functools.partial(listing, "ad", "ad_id"),
        ]
        parallel(calls)
        campaigns, adgroups, ads = listed["campaign"], listed["adgroup"], listed["ad"]
        # Expected rows per day of each report, to size its pages before asking.
        live_groups = [g for g in adgroups if g.get("operation_status") != "DELETE"]
        located = sum(max(1, len(g.get("location_ids") or [])) for g in live_groups)
        hourly_since = max(since, until - dt.timedelta(days=self.hourly_days - 1))
        daily = jobs_for(self._daily_spec(), since, until, len(ads))
        country = jobs_for(self._country_spec(), since, until, located)
        hourly = jobs_for(self._hour_spec(), hourly_since, until, 24 * len(live_groups))
        breakdown_jobs = {id(job) for job in [*country, *hourly]}
        results = fetch_all(
            self.client,
            self.advertiser_id,
            [*daily, *country, *hourly],
            refusable=lambda job: id(job) in breakdown_jobs,
        )
        by_kind = iter(results)
        dropped: list[str] = []

        def rows(n: int, dimension: str) -> list[Row]:
            # A breakdown the platform refuses is left out whole, with the reason for the run.
            answers = [next(by_kind) for _ in range(n)]
            refusal = next((a for a in answers if isinstance(a, PlatformRejected)), None)
            if refusal is not None:
                dropped.append(dropped_breakdown(dimension, refusal))
                return []
            return [
                row for answer in answers if not isinstance(answer, Exception) for row in answer
            ]

        daily_rows, country_rows, hour_rows = (
            rows(len(daily), "daily"),
            rows(len(country), "country"),
            rows(len(hourly), "hour"),
        )
        campaign_rows = [mapping.campaign_data(c) for c in campaigns]
        cbo = {c.external_id for c in campaign_rows if c.budget_mode == "campaign"}
        return AccountSnapshot(
            account=accounts[0],
            campaigns=campaign_rows,
            adsets=[mapping.adset_data(s, cbo) for s in adgroups],
            ads=[mapping.ad_data(a) for a in ads],
            metrics=self._daily_metrics(daily_rows),
            breakdowns=self._country_rows(country_rows) + self._hour_rows(hour_rows),
            dropped=dropped,
        )

    # ------------------------------------------------------------- reports

    def _metrics(self) -> tuple[str, ...]:
        return ("spend", "impressions", "clicks", self.conversion_metric)

    def _daily_spec(self) -> ReportSpec:
        return ReportSpec(
            "BASIC",
            "AUCTION_AD",
            ("ad_id", "stat_time_day"),
            (*self._metrics(), "frequency"),
            # Deleted ads delivered in the window too: their days belong in the history.
            [status_filter("ad_status")],
        )

    def _country_spec(self) -> ReportSpec:
        return ReportSpec(
            "AUDIENCE", "AUCTION_ADGROUP", ("adgroup_id", "country_code"), self._metrics()
        )

    def _hour_spec(self) -> ReportSpec:
        return ReportSpec(
            "BASIC", "AUCTION_ADGROUP", ("adgroup_id", "stat_time_hour"), self._metrics()
        )

    def _daily_metrics(self, rows: list[Row]) -> list[DailyMetric]:
        found: dict[tuple[str, dt.date], DailyMetric] = {}
        for r in rows:
            if not r.get("ad_id") or not r.get("stat_time_day"):
                continue
            metric = DailyMetric(
                ad_external_id=str(r["ad_id"]),
                date=mapping.report_date(r["stat_time_day"]),
                spend_cents=mapping.cents(r.get("spend")),
                impressions=mapping.count(r.get("impressions")),
                clicks=mapping.count(r.get("clicks")),
                conversions=mapping.count(r.get(self.conversion_metric)),
                frequency=mapping.ratio(r.get("frequency")),
            )
            # Reports are live: a row seen twice across pages keeps its latest values.
            found[(metric.ad_external_id, metric.date)] = metric
        return sorted(found.values(), key=lambda m: (m.date, m.ad_external_id))

    def _breakdown(self, adset: str, dimension: str, key: str, t: list[int]) -> BreakdownMetric:
        return BreakdownMetric(adset, dimension, key, t[0], t[1], t[2], t[3])  # type: ignore[arg-type]

    def _totals(
        self, rows: list[Row], key: Callable[[Row], str]
    ) -> dict[tuple[str, str], list[int]]:
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for r in rows:
            if not r.get("adgroup_id"):
                continue
            t = totals[(str(r["adgroup_id"]), key(r))]
            t[0] += mapping.cents(r.get("spend"))
            t[1] += mapping.count(r.get("impressions"))
            t[2] += mapping.count(r.get("clicks"))
            t[3] += mapping.count(r.get(self.conversion_metric))
        return totals

    def _country_rows(self, rows: list[Row]) -> list[BreakdownMetric]:
        totals = self._totals(rows, lambda r: str(r.get("country_code") or "").upper())
        return [
            self._breakdown(adset, "country", country, t)
            for (adset, country), t in sorted(totals.items())
            if country and country != "-" and t[1] > 0
        ]

    def _hour_rows(self, rows: list[Row]) -> list[BreakdownMetric]:
        totals = self._totals(rows, lambda r: str(int(str(r.get("stat_time_hour"))[11:13])))
        return [
            self._breakdown(adset, "hour", hour, t)
            for (adset, hour), t in sorted(totals.items(), key=lambda i: (i[0][0], int(i[0][1])))
            if t[1] > 0
        ]

    # ----------------------------------------------------------------- state

    def _one(self, entity: str, external_id: str) -> dict[str, Any]:
        items = self._list(entity, {f"{entity}_ids": [external_id]})
        for item in items:
            if str(item.get(f"{entity}_id")) == external_id:
                return item
        raise PlatformRejected(f"{entity} {external_id} does not exist", platform_code="40007")

    def read_state(self, entity_type: EntityType, external_id: str) -> EntityState:
        if entity_type == "campaign":
            c = mapping.campaign_data(self._one("campaign", external_id))
            return EntityState("campaign", external_id, c.status, c.daily_budget_cents)
        if entity_type == "ad":
            ad = mapping.ad_data(self._one("ad", external_id))
            return EntityState(
                "ad", external_id, ad.status, creative_external_id=ad.creative_external_id
            )
        if entity_type != "adset":
            raise PlatformRejected(f"unknown entity type {entity_type!r}", platform_code="40002")
        item: dict[str, Any] = {}
        ads: list[dict[str, Any]] = []

        def read_adgroup() -> None:
            item.update(self._one("adgroup", external_id))

        def read_ads() -> None:
            ads.extend(self._list("ad", {"adgroup_ids": [external_id]}))

        parallel([read_adgroup, read_ads])
        under_cbo = False
        if mapping.holds_budget(item) and item.get("campaign_id"):
            campaign = self._one("campaign", str(item["campaign_id"]))
            under_cbo = bool(campaign.get("budget_optimize_on"))
        live: list[AdData] = [
            a for a in map(mapping.ad_data, _unique(ads, "ad_id")) if a.status == "active"
        ]
        return EntityState(
            "adset",
            external_id,
            mapping.status(item.get("operation_status"), item.get("secondary_status")),
            daily_budget_cents=mapping.adset_budget_cents(item, under_cbo),
            active_ads=len(live),
            active_creative_external_ids=tuple(
                sorted({a.creative_external_id for a in live if a.creative_external_id})
            ),
            targeting=mapping.targeting(item),
            schedule=mapping.schedule(item),
        )

    # ---------------------------------------------------------------- writes

    def _creative_spec(self, adgroup_id: str) -> dict[str, Any]:
        """The creative fields of the ad group's oldest ad (identity, text, call to action)."""
        ads = self._list("ad", {"adgroup_ids": [adgroup_id]})
        if not ads:
            return {}
        oldest = min(ads, key=lambda a: (str(a.get("create_time") or ""), str(a.get("ad_id"))))
        return {k: oldest[k] for k in CREATIVE_FIELDS if oldest.get(k) not in (None, "", [])}

    def _enrich(self, write: WriteRequest) -> WriteRequest:
        ctx = dict(write.context)
        if write.action_type in ("push_creative", "replace_creative"):
            ref = ctx.get("creativeExternalId") or write.new_value.get("creativeExternalId")
            if ref:
                ctx["creativeExternalId"] = str(ref)
        if write.action_type == "push_creative":
            if ctx.get("creativeName"):
                ctx.setdefault("adName", ctx["creativeName"])
            if "creativeSpec" not in ctx:
                ctx["creativeSpec"] = self._creative_spec(write.entity_external_id)
        if write.action_type == "replace_creative" and not ctx.get("adsetExternalId"):
            ctx["adsetExternalId"] = str(self._one("ad", write.entity_external_id)["adgroup_id"])
        return replace(write, context=ctx)

    def build_request(self, write: WriteRequest) -> dict[str, Any]:
        try:
            return tiktok_requests.build_request(
                self._enrich(write), advertiser_id=self.advertiser_id
            )
        except ValueError as exc:
            raise PlatformRejected(str(exc), platform_code="40002") from None

    def apply(self, write: WriteRequest) -> WriteResult:
        request = self.build_request(write)
        path = str(request["path"]).removeprefix(tiktok_requests.API_PREFIX)
        creates = write.action_type == "push_creative"
        envelope = self.client.post(path, request["body"], repeatable=not creates)
        if envelope.code == PARTIAL_SUCCESS or envelope.data.get("error_list"):
            for item in envelope.data.get("error_list") or []:
                ids = {str(v) for k, v in item.items() if k.endswith("_id")}
                if creates or write.entity_external_id in ids:
                    raise PlatformRejected(
                        str(item.get("error_message") or envelope.message or "refused"),
                        platform_code=str(item.get("code") or PARTIAL_SUCCESS),
                    )
        if not creates:
            return WriteResult()
        created = envelope.data.get("ad_ids") or []
        if not created:
            raise PlatformRejected("TikTok created no ad", platform_code=str(envelope.code))
        return WriteResult(created_external_id=str(created[0]))


def _unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Items by id, last one wins (listings are live: an item can move across pages)."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.get(key) is not None:
            found[str(item[key])] = item
    return list(found.values())


def _zone(*candidates: Any) -> str:
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return str(name)
    return "UTC"


def open_live(settings: Settings, account: LiveAccount, options: HttpOptions) -> TikTokPlatform:
    token = str(account.credentials.get("accessToken") or "")
    if not token:
        raise PlatformAuthError("no TikTok access token", platform_code="40104")
    client = TikTokClient(
        settings.tiktok_base_url, token, options, advertiser_id=str(account.external_id)
    )
    return TikTokPlatform(client, account.external_id)
