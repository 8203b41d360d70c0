"""The audit log: every API write leaves an event, listed newest first per org (SPEC §2.6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from tests.conftest import Api

ROW_KEYS = {
    "eventId",
    "eventType",
    "occurredAt",
    "requestId",
    "organizationId",
    "projectId",
    "apiKeyId",
    "actorType",
    "data",
}


def defaults_path(boot: dict[str, Any], platform: str = "meta") -> str:
    return f"/v1/projects/{boot['projectId']}/ads/{platform}/defaults"


def events(api: Api, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/v1/audit-log", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_write_is_recorded_with_who_when_and_which_request(
    partner: Api, boot: dict[str, Any]
) -> None:
    me = partner.get("/v1/whoami").json()
    r = partner.patch(defaults_path(boot), json={"defaults": {"tactical": "auto"}})
    assert r.status_code == 200

    [event] = events(partner, eventType="layer.defaults.updated")
    assert set(event) == ROW_KEYS
    assert event["eventId"].startswith("aud_")
    assert event["requestId"] == r.headers["X-Request-Id"]
    assert event["organizationId"] == boot["organizationId"]
    assert event["projectId"] == boot["projectId"]
    assert event["apiKeyId"] == me["apiKeyId"]
    assert event["actorType"] == "partner"
    assert event["occurredAt"].endswith("Z")
    assert event["data"]["layerId"] == boot["layers"]["meta_ads"]
    assert event["data"]["before"]["defaults"]["tactical"] == "draft"
    assert event["data"]["after"]["defaults"]["tactical"] == "auto"


def test_every_kind_of_write_leaves_an_event(partner: Api, boot: dict[str, Any]) -> None:
    layer = boot["layers"]["meta_ads"]
    partner.patch(f"/v1/layers/{layer}", json={"creativeSlots": 3})
    partner.patch(
        f"/v1/layers/{layer}/optimizer/write-classes", json={"writeClasses": {"pause_ad": False}}
    )
    created = partner.post(f"/v1/projects/{boot['projectId']}/ads-content", json={"name": "A"})
    partner.patch(
        f"/v1/projects/{boot['projectId']}/ads-content/{created.json()['adsContentId']}",
        json={"override": "exclude"},
    )
    accounts = f"/v1/projects/{boot['projectId']}/ads/ad-accounts"
    apple = next(a for a in partner.get(accounts).json()["items"] if a["platform"] == "apple_ads")
    partner.delete(f"{accounts}/{apple['adAccountId']}")
    partner.post(
        accounts, json={"platform": "apple_ads", "externalId": "4000002", "mode": "sandbox"}
    )

    kinds = [e["eventType"] for e in events(partner)]
    # Newest first.
    assert kinds[:6] == [
        "ad_account.connected",
        "ad_account.disconnected",
        "ads_content.updated",
        "ads_content.created",
        "layer.write_classes.updated",
        "layer.settings.updated",
    ]


def test_a_refused_write_leaves_no_event(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.patch(defaults_path(boot), json={"killSwitchActive": True})
    assert r.status_code == 403
    assert events(partner, eventType="layer.defaults.updated") == []


def test_filters_and_pages(partner: Api, boot: dict[str, Any]) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for platform, mode in (("meta", "auto"), ("tiktok", "off"), ("apple", "auto")):
        partner.patch(defaults_path(boot, platform), json={"defaults": {"creative": mode}})
    partner.patch(f"/v1/layers/{boot['layers']['meta_ads']}", json={"creativeSlots": 2})

    assert len(events(partner, eventType="layer.defaults.updated")) == 3
    both = events(partner, eventType="layer.defaults.updated,layer.settings.updated")
    assert len(both) == 4
    repeated = events(partner, eventType=["layer.defaults.updated", "layer.settings.updated"])
    assert [e["eventId"] for e in repeated] == [e["eventId"] for e in both]
    assert len(events(partner, projectId=boot["projectId"])) >= 4
    assert events(partner, projectId="00000000-0000-0000-0000-000000000000") == []

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert events(partner, since=future) == []
    assert len(events(partner, since=start.isoformat(), eventType="layer.defaults.updated")) == 3
    assert events(partner, until=start.isoformat()) == []
    today = dt.datetime.now(dt.UTC).date().isoformat()
    # A bare date covers that whole day.
    assert len(events(partner, since=today, until=today, eventType="layer.defaults.updated")) == 3

    first = partner.get("/v1/audit-log", params={"limit": 2}).json()
    second = partner.get("/v1/audit-log", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert {e["eventId"] for e in first["items"]}.isdisjoint(e["eventId"] for e in second["items"])
    assert first["items"][-1]["occurredAt"] >= second["items"][0]["occurredAt"]
    r = partner.get("/v1/audit-log", params={"cursor": first["nextCursor"], "eventType": "x.y"})
    assert r.status_code == 422
    r = partner.get("/v1/audit-log", params={"since": "yesterday"})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "since"


def test_the_log_shows_only_the_callers_org(
    client: Any,
    partner: Api,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    partner.patch(defaults_path(boot), json={"defaults": {"tactical": "off"}})
    other_boot = bootstrap_org(settings, session_factory, name="Other")
    other = Api(client, other_boot["partnerKey"])
    assert events(other) == []
    assert events(other, projectId=boot["projectId"]) == []
    assert all(e["organizationId"] == boot["organizationId"] for e in events(partner))


def test_reading_the_log_needs_audit_read(
    client: Any, boot: dict[str, Any], settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        key = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
        )
    r = Api(client, key.key).get("/v1/audit-log")
    assert r.status_code == 403
    assert r.json()["error"]["details"]["requiredScope"] == "audit:read"
