"""Per-campaign authority: pin, change, unpin, and the partner's ceiling (SPEC §5.3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.entities.models import Campaign
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from tests.conftest import Api

DRAFT = {"creative": "draft", "tactical": "draft", "structural": "draft"}


def add_campaign(
    factory: sessionmaker[Session], boot: dict[str, Any], platform: str, name: str = "Prospecting"
) -> str:
    now = utcnow()
    campaign_id = new_id("cmp")
    with transaction(factory) as session:
        session.add(
            Campaign(
                id=campaign_id,
                layer_id=boot["layers"][f"{platform}_ads"],
                project_id=boot["projectId"],
                platform=platform,
                external_id=f"ext-{campaign_id}",
                name=name,
                status="active",
                budget_mode="campaign",
                daily_budget_cents=5000,
                created_at=now,
                synced_at=now,
            )
        )
    return campaign_id


def authority_path(boot: dict[str, Any], campaign_id: str, platform: str = "meta") -> str:
    return f"/v1/projects/{boot['projectId']}/ads/{platform}/campaigns/{campaign_id}/authority"


def defaults_path(boot: dict[str, Any]) -> str:
    return f"/v1/projects/{boot['projectId']}/ads/meta/defaults"


def test_an_unpinned_campaign_follows_the_layer_defaults(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    r = partner.get(authority_path(boot, campaign))
    assert r.status_code == 200
    body = r.json()
    assert body["campaignId"] == campaign
    assert body["platform"] == "meta"
    assert body["authority"] == DRAFT
    assert body["source"] == "layer_defaults"

    partner.patch(defaults_path(boot), json={"defaults": {"creative": "auto"}})
    body = partner.get(authority_path(boot, campaign)).json()
    assert body["authority"] == {**DRAFT, "creative": "auto"}
    assert body["source"] == "layer_defaults"
    assert body["lastModifiedBy"]["actorType"] == "partner"


def test_pinning_copies_the_defaults_and_overlays_the_given_axes(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    partner.patch(defaults_path(boot), json={"defaults": {"creative": "off"}})

    r = partner.patch(authority_path(boot, campaign), json={"authority": {"tactical": "auto"}})
    assert r.status_code == 200, r.text
    pinned = {"creative": "off", "tactical": "auto", "structural": "draft"}
    assert r.json()["authority"] == pinned
    assert r.json()["source"] == "per_campaign"
    me = partner.get("/v1/whoami").json()
    assert r.json()["lastModifiedBy"]["actorApiKeyId"] == me["apiKeyId"]

    # A pinned campaign no longer follows later changes of the defaults.
    partner.patch(defaults_path(boot), json={"defaults": {"creative": "auto", "tactical": "off"}})
    assert partner.get(authority_path(boot, campaign)).json()["authority"] == pinned

    # On a pinned campaign only the given axes change.
    r = partner.patch(authority_path(boot, campaign), json={"authority": {"structural": "off"}})
    assert r.json()["authority"] == {**pinned, "structural": "off"}


def test_null_unpins_back_to_the_current_defaults(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    partner.patch(authority_path(boot, campaign), json={"authority": {"tactical": "off"}})
    partner.patch(defaults_path(boot), json={"defaults": {"structural": "auto"}})

    r = partner.patch(authority_path(boot, campaign), json={"authority": None})
    assert r.status_code == 200
    assert r.json()["source"] == "layer_defaults"
    assert r.json()["authority"] == {**DRAFT, "structural": "auto"}
    # Unpinning an unpinned campaign is harmless.
    again = partner.patch(authority_path(boot, campaign), json={"authority": None})
    assert again.status_code == 200
    assert again.json()["source"] == "layer_defaults"


def test_pins_are_per_campaign(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    pinned = add_campaign(session_factory, boot, "meta", "Pinned")
    other = add_campaign(session_factory, boot, "meta", "Other")
    partner.patch(authority_path(boot, pinned), json={"authority": {"creative": "auto"}})
    assert partner.get(authority_path(boot, other)).json()["source"] == "layer_defaults"
    assert partner.get(authority_path(boot, other)).json()["authority"] == DRAFT


def test_a_partner_cannot_pin_above_the_ceiling(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    customer.patch(defaults_path(boot), json={"ceiling": {"structural": "draft"}})

    r = partner.patch(authority_path(boot, campaign), json={"authority": {"structural": "auto"}})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "AUTHORITY_DENIED"
    assert r.json()["error"]["details"]["reason"] == "above_ceiling"
    # Nothing was pinned.
    assert partner.get(authority_path(boot, campaign)).json()["source"] == "layer_defaults"

    # The customer is not bound by its own ceiling.
    r = customer.patch(authority_path(boot, campaign), json={"authority": {"structural": "auto"}})
    assert r.status_code == 200
    assert r.json()["authority"]["structural"] == "auto"


def test_axes_carried_over_from_the_defaults_are_not_the_partners_doing(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    # The customer runs tactical on auto, and allows partners no more than draft.
    customer.patch(
        defaults_path(boot),
        json={"defaults": {"tactical": "auto"}, "ceiling": {"tactical": "draft"}},
    )
    r = partner.patch(authority_path(boot, campaign), json={"authority": {"creative": "off"}})
    assert r.status_code == 200
    assert r.json()["authority"] == {"creative": "off", "tactical": "auto", "structural": "draft"}


def test_a_campaign_under_another_platforms_path_is_not_found(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    tiktok_campaign = add_campaign(session_factory, boot, "tiktok")
    assert partner.get(authority_path(boot, tiktok_campaign, "tiktok")).status_code == 200
    r = partner.get(authority_path(boot, tiktok_campaign, "meta"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"
    r = partner.patch(
        authority_path(boot, tiktok_campaign, "meta"), json={"authority": {"tactical": "off"}}
    )
    assert r.status_code == 404
    assert partner.get(authority_path(boot, "cmp_01NOSUCHCAMPAIGN")).status_code == 404


def test_bad_authority_bodies_are_422(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    campaign = add_campaign(session_factory, boot, "meta")
    for body, field in [
        ({}, "authority"),
        ({"authority": {"tactical": "yes"}}, "authority.tactical"),
        ({"authority": "auto"}, "authority"),
        ({"authority": {"tactical": "auto"}, "note": "x"}, "note"),
    ]:
        r = partner.patch(authority_path(boot, campaign), json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["details"]["fields"][0]["field"] == field
    r = partner.get(authority_path(boot, campaign, "myspace"))
    assert r.status_code == 422
    assert partner.get(authority_path(boot, campaign)).json()["source"] == "layer_defaults"
