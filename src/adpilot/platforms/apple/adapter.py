"""The live Apple Ads adapter: the AdPlatform protocol over the Platform API v1 client.

Campaigns ↔ campaigns (they hold the budgets), ad groups ↔ ad sets, ads ↔ ads. Keyword bids are
Apple's bid lever; no adpilot action targets bids yet, so keywords are not read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from adpilot.config import Settings
from adpilot.kit.clock import utcnow
from adpilot.platforms.apple import mapping, sync, writes
from adpilot.platforms.apple.auth import AppleCredentials
from adpilot.platforms.apple.client import AppleClient
from adpilot.platforms.apple.geo import GeoBook
from adpilot.platforms.base import (
    AccountInfo,
    AccountSnapshot,
    EntityState,
    EntityType,
    PlatformName,
    PlatformRejected,
    WriteRequest,
    WriteResult,
)
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.registry import LiveAccount


def open_live(settings: Settings, account: LiveAccount, options: HttpOptions) -> ApplePlatform:
    """The adapter for one connected account (called by `platforms.registry.open_live`)."""
    creds = AppleCredentials.from_camel(account.credentials)
    client = AppleClient(
        settings.apple_base_url, settings.apple_token_url, creds, account.external_id, options
    )
    return ApplePlatform(client, account)


class ApplePlatform:
    platform: PlatformName = "apple"

    def __init__(
        self,
        client: AppleClient,
        account: LiveAccount,
        *,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.client = client
        self.account = account
        self.geo = GeoBook(client)
        self._now = now
        self._writer = writes.Writer(client)
        self._currency = account.currency

    def close(self) -> None:
        self.client.close()

    # ---------------------------------------------------------------- reads

    def validate(self) -> AccountInfo:
        info = sync.account_info(self.client)
        self._currency = info.currency
        return info

    def fetch_snapshot(self, since: dt.date, until: dt.date) -> AccountSnapshot:
        snapshot = sync.fetch_snapshot(self.client, self.geo, since, until, now=self._now)
        self._currency = snapshot.account.currency
        return snapshot

    def read_state(self, entity_type: EntityType, external_id: str) -> EntityState:
        if entity_type == "campaign":
            return mapping.campaign_state(self._get(f"/v1/campaigns/{external_id}"))
        if entity_type == "ad":
            return mapping.ad_state(self._get(f"/v1/ads/{external_id}"))
        if entity_type != "adset":
            raise PlatformRejected(
                f"unknown entity type {entity_type!r}", platform_code="bad_request"
            )
        reads: list[Callable[[], Any]] = [
            lambda: self._get(f"/v1/adgroups/{external_id}"),
            lambda: writes.enabled_ads(self.client, external_id),
        ]
        group, live = self.client.map(lambda read: read(), reads)
        iso_by_id = self.geo.isos_for(mapping.country_ids_of(group))
        return mapping.adset_state(group, live, iso_by_id)

    def _get(self, path: str) -> dict[str, Any]:
        answer = self.client.request("GET", path)
        return dict(answer.get("result") or {})

    # ---------------------------------------------------------------- writes

    def build_request(self, write: WriteRequest) -> dict[str, Any]:
        return writes.build(
            write,
            ad_account_id=self.account.external_id,
            currency=self._account_currency(),
            geo=self.geo,
        )

    def apply(self, write: WriteRequest) -> WriteResult:
        return self._writer.apply(write, self.build_request(write))

    def _account_currency(self) -> str:
        if self._currency is None:
            self._currency = sync.account_info(self.client).currency
        return self._currency
