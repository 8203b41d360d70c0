"""Layer settings (SPEC §7, §3.6) and optimizer write classes (SPEC §5.4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from croniter import croniter
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.layers.models import Layer
from adpilot.runs.stages import engine_settings
from tests.conftest import Api

ALL_CLASSES = (
    "pause_ad",
    "pause_adset",
    "update_budget",
    "push_creative",
    "replace_creative",
    "prune_creative",
    "update_targeting",
    "update_schedule",
)


def parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def layer_path(boot: dict[str, Any], platform: str = "meta_ads") -> str:
    return f"/v1/layers/{boot['layers'][platform]}"


def field_of(response: Any) -> str:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION"
    field: str = response.json()["error"]["details"]["fields"][0]["field"]
    return field


# --- settings ------------------------------------------------------------------------------------


def test_a_new_layer_has_default_settings_and_runs_every_six_hours(
    partner: Api, boot: dict[str, Any]
) -> None:
    r = partner.get(layer_path(boot))
    assert r.status_code == 200
    body = r.json()
    assert body["layerId"] == boot["layers"]["meta_ads"]
    assert body["projectId"] == boot["projectId"]
    assert body["platform"] == "meta_ads"
    assert body["adAccountId"].startswith("aac_")
    assert body["killSwitchActive"] is False
    assert body["targetCpaCents"] is None
    assert body["conversionEvent"] is None
    assert body["schedule"] is None
    assert body["creativeSlots"] == 4
    assert body["guardrailOverrides"] == {}
    # The first scheduled run comes a full interval after the layer was created.
    gap = parse(body["nextScheduledRunAt"]) - parse(body["createdAt"])
    assert abs(gap - dt.timedelta(hours=6)) <= dt.timedelta(seconds=1)


def test_patching_settings_persists_them(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.patch(
        layer_path(boot),
        json={"targetCpaCents": 700, "conversionEvent": "purchase", "creativeSlots": 6},
    )
    assert r.status_code == 200, r.text
    got = partner.get(layer_path(boot)).json()
    assert (got["targetCpaCents"], got["conversionEvent"], got["creativeSlots"]) == (
        700,
        "purchase",
        6,
    )
    # null clears a setting back to its default; absent fields are left alone.
    r = partner.patch(layer_path(boot), json={"targetCpaCents": None})
    assert r.json()["targetCpaCents"] is None
    assert r.json()["conversionEvent"] == "purchase"


def test_a_cron_schedule_replans_the_next_run(partner: Api, boot: dict[str, Any]) -> None:
    before = dt.datetime.now(dt.UTC)
    r = partner.patch(layer_path(boot), json={"schedule": "30 3 * * *"})
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == "30 3 * * *"
    expected = croniter("30 3 * * *", before).get_next(dt.datetime)
    assert parse(r.json()["nextScheduledRunAt"]) == expected

    r = partner.patch(layer_path(boot), json={"schedule": "off"})
    assert r.json()["schedule"] == "off"
    assert r.json()["nextScheduledRunAt"] is None

    r = partner.patch(layer_path(boot), json={"schedule": None})
    assert r.json()["schedule"] is None
    gap = parse(r.json()["nextScheduledRunAt"]) - before
    # Responses carry whole seconds, hence the one-second slack.
    assert dt.timedelta(hours=6, seconds=-1) <= gap <= dt.timedelta(hours=6, minutes=1)


def test_unusable_schedules_are_refused(partner: Api, boot: dict[str, Any]) -> None:
    for schedule in ("0 3 * *", "0 3 * * * *", "61 3 * * *", "@daily", "every day", "* * * * *"):
        r = partner.patch(layer_path(boot), json={"schedule": schedule})
        assert field_of(r) == "schedule", schedule
    assert partner.get(layer_path(boot)).json()["schedule"] is None


def test_out_of_range_settings_are_422(partner: Api, boot: dict[str, Any]) -> None:
    cases = [
        ({"targetCpaCents": 0}, "targetCpaCents"),
        ({"targetCpaCents": "700"}, "targetCpaCents"),
        ({"targetCpaCents": 7.5}, "targetCpaCents"),
        ({"creativeSlots": 0}, "creativeSlots"),
        ({"creativeSlots": 11}, "creativeSlots"),
        ({"creativeSlots": None}, "creativeSlots"),
        ({"conversionEvent": ""}, "conversionEvent"),
        ({"layerId": "lyr_x"}, "layerId"),
        ({"killSwitchActive": True}, "killSwitchActive"),
    ]
    for body, field in cases:
        assert field_of(partner.patch(layer_path(boot), json=body)) == field, body


def test_a_patch_with_one_bad_field_changes_nothing(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.patch(layer_path(boot), json={"targetCpaCents": 900, "schedule": "nonsense"})
    assert field_of(r) == "schedule"
    assert partner.get(layer_path(boot)).json()["targetCpaCents"] is None


def test_guardrail_overrides_within_safe_bounds_reach_the_engine(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    r = partner.patch(
        layer_path(boot),
        json={"guardrailOverrides": {"minConfidence": 0.8, "cooldownBudgetHours": 72}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["guardrailOverrides"] == {"cooldownBudgetHours": 72, "minConfidence": 0.8}
    with session_factory() as session:
        layer = session.get(Layer, boot["layers"]["meta_ads"])
        assert layer is not None
        tuned = engine_settings(layer)
    assert tuned.min_confidence == 0.8
    assert tuned.cooldown_budget_hours == 72

    # Overrides merge; null drops one; a null map drops them all.
    r = partner.patch(
        layer_path(boot), json={"guardrailOverrides": {"minConfidence": None, "maxPausesPerRun": 5}}
    )
    assert r.json()["guardrailOverrides"] == {"cooldownBudgetHours": 72, "maxPausesPerRun": 5}
    r = partner.patch(layer_path(boot), json={"guardrailOverrides": None})
    assert r.json()["guardrailOverrides"] == {}


def test_guardrail_overrides_looser_than_the_safe_bounds_are_refused(
    partner: Api, boot: dict[str, Any]
) -> None:
    cases = {
        "minConfidence": 0.3,
        "cooldownStructuralHours": 12,
        "cooldownBudgetHours": 1,
        "budgetMaxStepFraction": 0.8,
        "budgetMaxStepCents": 50_000,
        "maxActionsPerRun": 500,
        "minSpendForPauseCents": 100,
        "tooYoungDays": 1,
    }
    for name, value in cases.items():
        r = partner.patch(layer_path(boot), json={"guardrailOverrides": {name: value}})
        assert field_of(r) == f"guardrailOverrides.{name}"
    r = partner.patch(layer_path(boot), json={"guardrailOverrides": {"skipGuardrails": True}})
    assert field_of(r) == "guardrailOverrides.skipGuardrails"
    assert partner.get(layer_path(boot)).json()["guardrailOverrides"] == {}


def test_another_orgs_layer_is_not_found(
    partner: Api,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    other = bootstrap_org(settings, session_factory, name="Someone else")
    for path in (
        f"/v1/layers/{other['layers']['meta_ads']}",
        f"/v1/layers/{other['layers']['meta_ads']}/optimizer/write-classes",
    ):
        assert partner.get(path).status_code == 404
        r = partner.patch(path, json={"targetCpaCents": 1})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "NOT_FOUND"
    assert partner.get("/v1/layers/lyr_00000000-0000-0000-0000-000000000000").status_code == 404


def test_reading_settings_needs_ads_read_and_changing_them_ads_write_policy(
    client: Any,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        reader = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
        )
    api = Api(client, reader.key)
    assert api.get(layer_path(boot)).status_code == 200
    r = api.patch(layer_path(boot), json={"creativeSlots": 2})
    assert r.status_code == 403
    assert r.json()["error"]["details"]["requiredScope"] == "ads:write:policy"


# --- write classes -------------------------------------------------------------------------------


def write_classes_path(boot: dict[str, Any], platform: str = "meta_ads") -> str:
    return f"{layer_path(boot, platform)}/optimizer/write-classes"


def test_every_write_class_starts_enabled(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.get(write_classes_path(boot, "tiktok_ads"))
    assert r.status_code == 200
    body = r.json()
    assert body["layerId"] == boot["layers"]["tiktok_ads"]
    assert body["platform"] == "tiktok_ads"
    assert body["writeClasses"] == dict.fromkeys(ALL_CLASSES, True)
    assert body["lastModifiedBy"] is None


def test_a_partial_map_switches_only_the_named_classes(partner: Api, boot: dict[str, Any]) -> None:
    r = partner.patch(
        write_classes_path(boot), json={"writeClasses": {"pause_ad": False, "update_budget": False}}
    )
    assert r.status_code == 200, r.text
    expected = {**dict.fromkeys(ALL_CLASSES, True), "pause_ad": False, "update_budget": False}
    assert r.json()["writeClasses"] == expected
    assert r.json()["lastModifiedBy"]["actorType"] == "partner"

    r = partner.patch(write_classes_path(boot), json={"writeClasses": {"pause_ad": True}})
    assert r.json()["writeClasses"] == {**expected, "pause_ad": True}
    assert partner.get(write_classes_path(boot)).json()["writeClasses"] == {
        **expected,
        "pause_ad": True,
    }
    # Other layers keep their own flags.
    other = partner.get(write_classes_path(boot, "apple_ads")).json()["writeClasses"]
    assert all(other.values())


def test_unknown_write_classes_and_non_booleans_are_422(partner: Api, boot: dict[str, Any]) -> None:
    cases = [
        ({"writeClasses": {"pause_campaign": False}}, "writeClasses.pause_campaign"),
        ({"writeClasses": {"pauseAd": False}}, "writeClasses.pauseAd"),
        ({"writeClasses": {"pause_ad": "false"}}, "writeClasses.pause_ad"),
        ({"writeClasses": {"pause_ad": 0}}, "writeClasses.pause_ad"),
        ({"writeClasses": {"pause_ad": None}}, "writeClasses.pause_ad"),
        ({"pause_ad": False}, "writeClasses"),
    ]
    for body, field in cases:
        assert field_of(partner.patch(write_classes_path(boot), json=body)) == field, body
    assert all(partner.get(write_classes_path(boot)).json()["writeClasses"].values())


# --- goal ----------------------------------------------------------------------------------------


def test_a_new_layer_has_a_target_cpa_goal_at_the_accounts_own_cpa(
    partner: Api, boot: dict[str, Any]
) -> None:
    body = partner.get(layer_path(boot)).json()
    assert body["goal"] == {"type": "target_cpa", "targetCpaCents": None}


def test_a_conversion_value_goal_is_stored_shown_and_replaced_by_a_target_cpa(
    partner: Api, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    r = partner.patch(
        layer_path(boot), json={"goal": {"type": "conversion_value", "valueCents": 4500}}
    )
    assert r.status_code == 200, r.text
    got = partner.get(layer_path(boot)).json()
    assert got["goal"] == {"type": "conversion_value", "valueCents": 4500}
    assert got["targetCpaCents"] is None
    # `targetCpaCents` alone keeps meaning a target CPA goal, and the two always agree.
    r = partner.patch(layer_path(boot), json={"targetCpaCents": 3800})
    assert r.json()["goal"] == {"type": "target_cpa", "targetCpaCents": 3800}
    assert r.json()["targetCpaCents"] == 3800
    r = partner.patch(
        layer_path(boot), json={"goal": {"type": "target_cpa", "targetCpaCents": 4200}}
    )
    assert (r.json()["goal"]["targetCpaCents"], r.json()["targetCpaCents"]) == (4200, 4200)
    # null returns to the default goal: a target CPA at the account's own CPA.
    r = partner.patch(layer_path(boot), json={"goal": None})
    assert r.json()["goal"] == {"type": "target_cpa", "targetCpaCents": None}
    with transaction(session_factory) as session:
        layer = session.get(Layer, boot["layers"]["meta_ads"])
        assert layer is not None
        assert (layer.target_cpa_cents, layer.conversion_value_cents) == (None, None)


def test_a_goal_is_validated_strictly_naming_the_field(partner: Api, boot: dict[str, Any]) -> None:
    cases = [
        ({"goal": {"type": "roas", "valueCents": 100}}, "goal.type"),
        ({"goal": {"valueCents": 100}}, "goal.type"),
        ({"goal": {"type": "conversion_value"}}, "goal.valueCents"),
        ({"goal": {"type": "conversion_value", "valueCents": 0}}, "goal.valueCents"),
        ({"goal": {"type": "conversion_value", "valueCents": "4500"}}, "goal.valueCents"),
        ({"goal": {"type": "conversion_value", "valueCents": 45.5}}, "goal.valueCents"),
        (
            {"goal": {"type": "conversion_value", "valueCents": 4500, "targetCpaCents": 10}},
            "goal.targetCpaCents",
        ),
        ({"goal": {"type": "target_cpa"}}, "goal.targetCpaCents"),
        ({"goal": {"type": "target_cpa", "targetCpaCents": -1}}, "goal.targetCpaCents"),
        (
            {"goal": {"type": "target_cpa", "targetCpaCents": 900, "valueCents": 900}},
            "goal.valueCents",
        ),
        ({"goal": {"type": "target_cpa", "targetCpaCents": 900, "value": 1}}, "goal.value"),
        (
            {"goal": {"type": "target_cpa", "targetCpaCents": 900}, "targetCpaCents": 800},
            "targetCpaCents",
        ),
        (
            {"goal": {"type": "conversion_value", "valueCents": 900}, "targetCpaCents": 800},
            "targetCpaCents",
        ),
        ({"goal": "target_cpa"}, "goal"),
    ]
    for body, field in cases:
        assert field_of(partner.patch(layer_path(boot), json=body)) == field, body
    assert partner.get(layer_path(boot)).json()["goal"] == {
        "type": "target_cpa",
        "targetCpaCents": None,
    }
    # Both sent and agreeing is fine.
    r = partner.patch(
        layer_path(boot),
        json={"goal": {"type": "target_cpa", "targetCpaCents": 900}, "targetCpaCents": 900},
    )
    assert r.status_code == 200 and r.json()["goal"]["targetCpaCents"] == 900
