"""Layer defaults: authority defaults, the customer's ceiling and the kill switch (SPEC §5.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.layers import service as layers_service
from tests.conftest import Api

DRAFT = {"creative": "draft", "tactical": "draft", "structural": "draft"}
AUTO = {"creative": "auto", "tactical": "auto", "structural": "auto"}


def defaults_path(boot: dict[str, Any], platform: str = "meta") -> str:
    return f"/v1/projects/{boot['projectId']}/ads/{platform}/defaults"


def denied_reason(response: Any) -> str:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "AUTHORITY_DENIED"
    reason: str = error["details"]["reason"]
    return reason


def test_a_new_layer_is_draft_on_every_axis_under_an_auto_ceiling(
    partner: Api, boot: dict[str, Any]
) -> None:
    r = partner.get(defaults_path(boot))
    assert r.status_code == 200
    body = r.json()
    assert body["layerId"] == boot["layers"]["meta_ads"]
    assert body["platform"] == "meta"
    assert body["defaults"] == DRAFT
    assert body["ceiling"] == AUTO
    assert body["killSwitchActive"] is False
    assert body["lastModifiedAt"].endswith("Z")
    assert body["lastModifiedBy"] is None


def test_either_platform_spelling_names_the_same_layer(partner: Api, boot: dict[str, Any]) -> None:
    short = partner.get(defaults_path(boot, "tiktok")).json()
    long = partner.get(defaults_path(boot, "tiktok_ads")).json()
    assert short["layerId"] == long["layerId"] == boot["layers"]["tiktok_ads"]
    assert long["platform"] == "tiktok"


def test_a_partial_patch_changes_only_the_given_axes_and_records_who(
    partner: Api, boot: dict[str, Any]
) -> None:
    me = partner.get("/v1/whoami").json()
    r = partner.patch(defaults_path(boot), json={"defaults": {"tactical": "auto"}})
    assert r.status_code == 200, r.text
    assert r.json()["defaults"] == {**DRAFT, "tactical": "auto"}
    assert r.json()["lastModifiedBy"] == {
        "actorType": "partner",
        "actorOrganizationId": boot["organizationId"],
        "actorApiKeyId": me["apiKeyId"],
    }
    again = partner.get(defaults_path(boot)).json()
    assert again["defaults"] == {**DRAFT, "tactical": "auto"}
    # Other layers of the project are untouched.
    assert partner.get(defaults_path(boot, "apple")).json()["defaults"] == DRAFT
    # A patch that changes nothing leaves the record of the last change alone.
    audited = {"eventType": "layer.defaults.updated"}
    changes = len(partner.get("/v1/audit-log", params=audited).json()["items"])
    for same in ({"defaults": {}}, {"defaults": {"tactical": "auto"}}):
        unchanged = partner.patch(defaults_path(boot), json=same)
        assert unchanged.status_code == 200
        assert unchanged.json() == again
    assert len(partner.get("/v1/audit-log", params=audited).json()["items"]) == changes == 1


def test_only_a_customer_may_flip_the_kill_switch(
    partner: Api, customer: Api, boot: dict[str, Any]
) -> None:
    r = partner.patch(defaults_path(boot), json={"killSwitchActive": True})
    assert denied_reason(r) == "customer_only"
    assert "killSwitchActive" in r.json()["error"]["message"]
    assert partner.get(defaults_path(boot)).json()["killSwitchActive"] is False

    r = customer.patch(defaults_path(boot), json={"killSwitchActive": True})
    assert r.status_code == 200
    assert r.json()["killSwitchActive"] is True
    assert r.json()["lastModifiedBy"]["actorType"] == "customer"
    assert partner.get(defaults_path(boot)).json()["killSwitchActive"] is True


def test_only_a_customer_may_change_the_ceiling(
    partner: Api, customer: Api, boot: dict[str, Any]
) -> None:
    r = partner.patch(defaults_path(boot), json={"ceiling": {"tactical": "draft"}})
    assert denied_reason(r) == "customer_only"
    assert partner.get(defaults_path(boot)).json()["ceiling"] == AUTO

    r = customer.patch(defaults_path(boot), json={"ceiling": {"tactical": "draft"}})
    assert r.status_code == 200
    assert r.json()["ceiling"] == {**AUTO, "tactical": "draft"}


def test_a_partner_cannot_set_a_default_above_the_ceiling(
    partner: Api, customer: Api, boot: dict[str, Any]
) -> None:
    customer.patch(defaults_path(boot), json={"ceiling": {"tactical": "draft", "creative": "off"}})

    assert (
        denied_reason(partner.patch(defaults_path(boot), json={"defaults": {"tactical": "auto"}}))
        == "above_ceiling"
    )
    assert (
        denied_reason(partner.patch(defaults_path(boot), json={"defaults": {"creative": "draft"}}))
        == "above_ceiling"
    )
    # At or below the ceiling is fine.
    r = partner.patch(
        defaults_path(boot), json={"defaults": {"tactical": "off", "creative": "off"}}
    )
    assert r.status_code == 200
    assert r.json()["defaults"] == {"creative": "off", "tactical": "off", "structural": "draft"}


def test_the_ceiling_binds_partners_only(customer: Api, boot: dict[str, Any]) -> None:
    customer.patch(defaults_path(boot), json={"ceiling": {"structural": "off"}})
    r = customer.patch(defaults_path(boot), json={"defaults": {"structural": "auto"}})
    assert r.status_code == 200
    assert r.json()["defaults"]["structural"] == "auto"


def test_a_refused_patch_writes_nothing(partner: Api, customer: Api, boot: dict[str, Any]) -> None:
    customer.patch(defaults_path(boot), json={"ceiling": {"structural": "draft"}})
    before = partner.get(defaults_path(boot)).json()

    # One permitted part and one refused part: the permitted part must not be applied either.
    r = partner.patch(
        defaults_path(boot), json={"defaults": {"creative": "auto", "structural": "auto"}}
    )
    assert denied_reason(r) == "above_ceiling"
    r = partner.patch(
        defaults_path(boot), json={"defaults": {"creative": "off"}, "killSwitchActive": False}
    )
    assert denied_reason(r) == "customer_only"

    assert partner.get(defaults_path(boot)).json() == before


def test_invalid_bodies_name_the_field(partner: Api, boot: dict[str, Any]) -> None:
    cases = [
        ({"defaults": {"tactical": "full"}}, "defaults.tactical"),
        ({"defaults": {"bidding": "auto"}}, "defaults.bidding"),
        ({"defaults": {"tactical": None}}, "defaults.tactical"),
        ({"killSwitchActive": "true"}, "killSwitchActive"),
        ({"kill_switch_active": True}, "kill_switch_active"),
        ({}, "body"),
    ]
    for body, field in cases:
        r = partner.patch(defaults_path(boot), json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "VALIDATION"
        assert error["details"]["fields"][0]["field"] == field, body
    assert partner.get(defaults_path(boot)).json()["defaults"] == DRAFT


def test_unknown_platform_segment_is_422_and_a_missing_layer_is_404(
    partner: Api,
    boot: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    r = partner.get(defaults_path(boot, "snapchat"))
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "platform"

    with transaction(session_factory) as session:
        bare = layers_service.create_project(session, boot["organizationId"], "No layers yet")
    r = partner.get(f"/v1/projects/{bare.id}/ads/meta/defaults")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "NOT_FOUND"
    r = partner.patch(f"/v1/projects/{bare.id}/ads/meta/defaults", json={"bad": 1})
    assert r.status_code == 404


def test_path_objects_are_checked_before_the_body(partner: Api, boot: dict[str, Any]) -> None:
    # Unknown project beats unknown platform and a bad body.
    r = partner.patch(
        "/v1/projects/00000000-0000-0000-0000-000000000000/ads/snapchat/defaults",
        json={"defaults": {"tactical": "full"}},
    )
    assert r.status_code == 404
    # Unknown platform beats a bad body.
    r = partner.patch(defaults_path(boot, "snapchat"), json={"defaults": {"tactical": "full"}})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "platform"
    # A valid body that would be refused by the gate still loses to a body error.
    r = partner.patch(defaults_path(boot), json={"killSwitchActive": "yes"})
    assert r.status_code == 422
