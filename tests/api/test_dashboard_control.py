"""The customer's controls in the dashboard change the same settings, with the same audit and
refusals, as the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from tests.api.test_dashboard_support import form_value, sign_in
from tests.api.test_dashboard_support import run as run  # a fixture, re-exported
from tests.conftest import Api


def layer_url(boot: dict[str, Any]) -> str:
    return f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}"


def defaults(api: Api, boot: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/v1/projects/{boot['projectId']}/ads/meta/defaults").json()
    return body


def test_a_customer_changes_the_layer_defaults_and_the_api_sees_it(
    client: TestClient, boot: dict[str, Any], partner: Api
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=layer_url(boot))
    assert 'id="defaults-form"' in page.text
    done = client.post(
        f"{layer_url(boot)}/settings/defaults",
        data={"csrf": form_value(page.text, "csrf"), "creative": "auto", "tactical": "off"},
    )
    assert "Defaults saved: creative auto, tactical off." in done.text
    shown = defaults(partner, boot)
    assert shown["defaults"] == {"creative": "auto", "tactical": "off", "structural": "draft"}
    assert shown["lastModifiedBy"]["actorType"] == "customer"
    events = partner.get("/v1/audit-log", params={"eventType": "layer.defaults.updated"}).json()
    assert [e["eventType"] for e in events["items"]] == ["layer.defaults.updated"]


def test_the_kill_switch_says_what_it_stops_and_turns_on_and_off(
    client: TestClient, boot: dict[str, Any], partner: Api
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=layer_url(boot))
    assert "This stops every write adpilot makes to Meta" in page.text
    csrf = form_value(page.text, "csrf")
    on = client.post(f"{layer_url(boot)}/settings/kill-switch", data={"csrf": csrf, "active": "on"})
    assert "Kill switch on: adpilot sends nothing to Meta" in on.text
    assert defaults(partner, boot)["killSwitchActive"] is True
    off = client.post(
        f"{layer_url(boot)}/settings/kill-switch", data={"csrf": csrf, "active": "off"}
    )
    assert "Kill switch off" in off.text
    assert defaults(partner, boot)["killSwitchActive"] is False


def test_a_partner_cannot_touch_the_ceiling_and_is_told_why(
    client: TestClient, boot: dict[str, Any], customer: Api
) -> None:
    page = sign_in(client, boot["partnerKey"], next_path=layer_url(boot))
    assert 'id="ceiling-form"' not in page.text and 'id="kill-switch"' not in page.text
    csrf = form_value(page.text, "csrf")
    refused = client.post(
        f"{layer_url(boot)}/settings/ceiling", data={"csrf": csrf, "ceiling_creative": "off"}
    )
    assert "Only a customer key may change ceiling." in refused.text
    # The customer lowers the ceiling; a partner's default above it is refused in words.
    customer.patch(
        f"/v1/projects/{boot['projectId']}/ads/meta/defaults",
        json={"ceiling": {"tactical": "draft"}},
    )
    above = client.post(
        f"{layer_url(boot)}/settings/defaults", data={"csrf": csrf, "tactical": "auto"}
    )
    assert "cannot set an axis above the customer&#39;s ceiling: tactical" in above.text
    assert defaults(customer, boot)["defaults"]["tactical"] == "draft"


def test_write_classes_and_layer_settings_are_saved_from_their_forms(
    client: TestClient, boot: dict[str, Any], partner: Api
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=layer_url(boot))
    csrf = form_value(page.text, "csrf")
    shown = form_value(page.text, "shown")
    ticked = {f"class_{name}": "on" for name in shown.split(",") if name != "update_targeting"}
    done = client.post(
        f"{layer_url(boot)}/settings/write-classes", data={"csrf": csrf, "shown": shown, **ticked}
    )
    assert "Disabled: update targeting." in done.text
    layer_id = boot["layers"]["meta_ads"]
    classes = partner.get(f"/v1/layers/{layer_id}/optimizer/write-classes").json()
    assert classes["writeClasses"]["update_targeting"] is False
    assert classes["writeClasses"]["pause_ad"] is True

    saved = client.post(
        f"{layer_url(boot)}/settings/settings",
        data={"csrf": csrf, "target_cpa": "$12.50", "schedule": "0 6 * * *", "creative_slots": "4"},
    )
    assert "Settings saved." in saved.text
    layer = partner.get(f"/v1/layers/{layer_id}").json()
    assert (layer["targetCpaCents"], layer["schedule"], layer["creativeSlots"]) == (
        1250,
        "0 6 * * *",
        4,
    )
    bad = client.post(
        f"{layer_url(boot)}/settings/settings",
        data={"csrf": csrf, "target_cpa": "twelve", "schedule": "", "creative_slots": "4"},
    )
    assert "Target CPA must be an amount such as 12.50." in bad.text
    too_many = client.post(
        f"{layer_url(boot)}/settings/settings",
        data={"csrf": csrf, "target_cpa": "", "schedule": "", "creative_slots": "11"},
    )
    assert "Creative slots: Input should be less than or equal to 10." in too_many.text
    bad_cron = client.post(
        f"{layer_url(boot)}/settings/settings",
        data={"csrf": csrf, "target_cpa": "", "schedule": "every day", "creative_slots": "4"},
    )
    assert "Schedule:" in bad_cron.text
    assert partner.get(f"/v1/layers/{layer_id}").json()["schedule"] == "0 6 * * *"


def test_a_campaign_is_pinned_changed_and_unpinned(
    client: TestClient, boot: dict[str, Any], partner: Api, run: dict[str, Any]
) -> None:
    campaigns = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"platform": "meta_ads"}
    ).json()["items"]
    campaign_id = campaigns[0]["campaignId"]
    url = f"/app/projects/{boot['projectId']}/campaigns/{campaign_id}"
    api_url = f"/v1/projects/{boot['projectId']}/ads/meta/campaigns/{campaign_id}/authority"
    page = sign_in(client, boot["customerKey"], next_path=url)
    csrf = form_value(page.text, "csrf")
    pinned = client.post(
        f"{url}/authority", data={"csrf": csrf, "action": "pin", "structural": "off"}
    )
    assert "Pinned to this campaign: structural off." in pinned.text
    view = partner.get(api_url).json()
    assert view["source"] == "per_campaign" and view["authority"]["structural"] == "off"
    changed = client.post(
        f"{url}/authority", data={"csrf": csrf, "action": "pin", "creative": "auto"}
    )
    assert "Unpin" in changed.text
    assert partner.get(api_url).json()["authority"] == {
        "creative": "auto",
        "tactical": "draft",
        "structural": "off",
    }
    unpinned = client.post(f"{url}/authority", data={"csrf": csrf, "action": "unpin"})
    assert "follows the layer defaults again" in unpinned.text
    assert partner.get(api_url).json()["source"] == "layer_defaults"


def test_a_read_only_key_sees_no_controls(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
            actor_type="customer",
        )
    page = sign_in(client, issued.key, next_path=layer_url(boot))
    assert 'id="defaults-form"' not in page.text and "<select" not in page.text
    refused = client.post(
        f"{layer_url(boot)}/settings/kill-switch",
        data={"csrf": form_value(page.text, "csrf"), "active": "on"},
    )
    assert "lacks the ads:write:policy scope" in refused.text
