"""The eight writes on Apple: build the exact requests, then send them so a repeat is safe.

PUTs (status, budget, targeting, schedule) are partial updates and idempotent: retried as they
are. Creating an ad and deleting one are not: before any retry the live state is read, and a
create or delete that already happened is not sent again. Replacing a creative is two calls
(ads are immutable apart from name and status): the old ad is deleted, then an ad with the new
creative is created. Apple runs one ENABLED ad per ad group, so the pair is checked first (the
old ad, its ad group's enabled ads, the new creative) and refused before any change when it
could only half-happen; a repeat after a partial failure picks up where the first left off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from adpilot.platforms.apple import requests as apple_requests
from adpilot.platforms.apple.client import PAGE_SIZE, AppleClient
from adpilot.platforms.apple.geo import GeoBook
from adpilot.platforms.base import PlatformRejected, WriteRequest, WriteResult


def build(
    write: WriteRequest, *, ad_account_id: str, currency: str, geo: GeoBook
) -> dict[str, Any]:
    """The Apple request(s) for `write` (PlatformRejected when it cannot be expressed)."""
    ctx = dict(write.context)
    if write.action_type in ("push_creative", "replace_creative"):
        ref = ctx.get("creativeExternalId") or write.new_value.get("creativeExternalId")
        if ref:
            ctx["creativeExternalId"] = str(ref)
        if ctx.get("creativeName"):
            # The new ad is named after the creative, as Apple's own UI names it.
            ctx.setdefault("adName", ctx["creativeName"])
    country_ids: dict[str, str] = {}
    if write.action_type == "update_targeting" and isinstance(write.new_value.get("geo"), list):
        country_ids = geo.ids_for(str(c) for c in write.new_value["geo"])
    try:
        return apple_requests.build_request(
            dataclasses.replace(write, context=ctx),
            ad_account_id=ad_account_id,
            currency=currency,
            country_ids=country_ids,
        )
    except (ValueError, TypeError) as exc:
        raise PlatformRejected(str(exc), platform_code="VALIDATION_ERROR") from None


def enabled_ads(
    client: AppleClient, group: str, *, creative: str | None = None, retry: bool = True
) -> list[dict[str, Any]]:
    """The ad group's ENABLED ads (only those showing `creative`, when given).

    `retry=False` sends one attempt for a caller that runs its own retries.
    """
    filters = [
        {"field": "adGroupId", "operator": "EQUALS", "value": group},
        {"field": "status", "operator": "EQUALS", "value": "ENABLED"},
    ]
    if creative is not None:
        filters.append({"field": "creativeId", "operator": "EQUALS", "value": creative})
    if retry:
        return client.query_all("/v1/ads/query", {"filters": filters})
    # One page is enough: Apple runs at most one enabled ad per ad group.
    paging = {"offset": 0, "pageSize": PAGE_SIZE}
    answer = client.send_once("POST", "/v1/ads/query", {"filters": filters, "pagination": paging})
    return list(answer.get("result") or [])


class Writer:
    """Sends built requests through one account's client."""

    def __init__(self, client: AppleClient) -> None:
        self.client = client

    def apply(self, write: WriteRequest, request: dict[str, Any]) -> WriteResult:
        if "steps" in request:
            return self._replace(write, request["steps"])
        if request["method"] == "POST":
            return WriteResult(created_external_id=self._create_ad(request))
        if request["method"] == "DELETE" and write.entity_type == "ad":
            self._delete_ad(request, write.entity_external_id)
            return WriteResult()
        self._send(request, retry=True)
        return WriteResult()

    # ---------------------------------------------------------------- sending

    def _send(self, step: dict[str, Any], *, retry: bool) -> Any:
        send = self.client.request if retry else self.client.send_once
        return send(step["method"], step["path"], step.get("body"), headers=step.get("headers"))

    def _create_ad(self, step: dict[str, Any]) -> str:
        """POST /v1/ads; a retry first looks for the ad a lost answer may have created."""
        body = step["body"]
        group, creative = str(body["adGroupId"]), str(body["creativeId"])
        sent = False

        def attempt() -> str:
            nonlocal sent
            if sent:
                found = enabled_ads(self.client, group, creative=creative, retry=False)
                if found:
                    return str(found[0]["id"])
            sent = True
            answer = self._send(step, retry=False)
            return str(answer["result"]["id"])

        return self.client.http.call(attempt)

    def _delete_ad(self, step: dict[str, Any], ad_id: str) -> None:
        """DELETE /v1/ads/{id}; a retry first checks whether the ad is already gone."""
        sent = False

        def attempt() -> None:
            nonlocal sent
            if sent and self._ad(ad_id, retry=False).get("deleted"):
                return
            sent = True
            self._send(step, retry=False)

        self.client.http.call(attempt)

    # ---------------------------------------------------------------- reads

    def _ad(self, ad_id: str, *, retry: bool) -> dict[str, Any]:
        send = self.client.request if retry else self.client.send_once
        answer = send("GET", f"/v1/ads/{ad_id}")
        return dict(answer.get("result") or {})

    # ---------------------------------------------------------------- replace

    def _replace(self, write: WriteRequest, steps: list[dict[str, Any]]) -> WriteResult:
        delete_step, create_step = steps
        old_id = write.entity_external_id
        group = str(create_step["body"]["adGroupId"])
        creative = str(create_step["body"]["creativeId"])
        old, live, new_creative = self.client.map(
            lambda read: read(),
            [
                lambda: self._ad(old_id, retry=True),
                lambda: enabled_ads(self.client, group),
                lambda: self.client.request("GET", f"/v1/creatives/{creative}"),
            ],
        )
        successor = next(
            (a for a in live if str(a.get("creativeId")) == creative and str(a["id"]) != old_id),
            None,
        )
        if not old.get("deleted"):
            if str(old.get("adGroupId")) != group:
                raise PlatformRejected(
                    f"ad {old_id} is in ad group {old.get('adGroupId')}, not {group}",
                    platform_code="VALIDATION_ERROR",
                )
            if (new_creative.get("result") or {}).get("deleted"):
                raise PlatformRejected(
                    f"creative {creative} is deleted", platform_code="VALIDATION_ERROR"
                )
            others = sorted(
                str(a["id"])
                for a in live
                if str(a["id"]) != old_id and (successor is None or a is not successor)
            )
            if others:
                raise PlatformRejected(
                    "Apple runs one ENABLED ad per ad group and ad group "
                    f"{group} also runs ad(s) {', '.join(others)}: the new ad could not be "
                    f"enabled after ad {old_id} is deleted, so nothing was changed",
                    platform_code="VALIDATION_ERROR",
                )
            self._delete_ad(delete_step, old_id)
        if successor is not None:
            return WriteResult(created_external_id=str(successor["id"]))
        return WriteResult(created_external_id=self._create_ad(create_step))
