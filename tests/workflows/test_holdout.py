"""The holdout: proposals within held-out budget holders are recorded, never sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.db import transaction
from adpilot.entities.models import Ad, AdSet, Campaign
from adpilot.holdout.assign import period_start
from adpilot.holdout.models import HoldoutAssignment
from adpilot.kit.clock import utcnow
from adpilot.platforms.registry import open_platform
from adpilot.platforms.sandbox import writelog
from adpilot.runs.models import OptimizerRun
from tests.conftest import Api
from tests.helpers_pending import layer_and_account
from tests.workflows.test_runs import run_to_end

AUTO = {"creative": "auto", "tactical": "auto", "structural": "auto"}


def _holders(session: Session, layer_id: str) -> dict[str, tuple[str, set[str]]]:
    """Holder id → (entity type, the platform ids of it and everything under it)."""
    campaigns = list(session.scalars(select(Campaign).where(Campaign.layer_id == layer_id)))
    adsets = list(session.scalars(select(AdSet).where(AdSet.layer_id == layer_id)))
    ads = list(session.scalars(select(Ad).where(Ad.layer_id == layer_id)))
    out: dict[str, tuple[str, set[str]]] = {}
    for c in campaigns:
        if c.budget_mode == "campaign":
            ids = {c.external_id} | {s.external_id for s in adsets if s.campaign_id == c.id}
            ids |= {a.external_id for a in ads if a.campaign_id == c.id}
            out[c.id] = ("campaign", ids)
    modes = {c.id: c.budget_mode for c in campaigns}
    for s in adsets:
        if modes.get(s.campaign_id) == "adset":
            ids = {s.external_id} | {a.external_id for a in ads if a.adset_id == s.id}
            out[s.id] = ("adset", ids)
    return out


def _holder_of(proposal: dict[str, Any], holders: dict[str, Any]) -> str:
    for key in (proposal["campaignId"], proposal["adsetId"], proposal["entityId"]):
        if key in holders:
            return str(key)
    raise AssertionError(f"no holder for {proposal}")


def test_a_held_out_budget_holder_never_receives_a_write_even_under_auto_authority(
    partner: Api,
    customer: Api,
    boot: dict[str, Any],
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    settings: Any,
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    # A dry run shows which holders the engine wants to change; hold out the busiest one.
    dry = run_to_end(partner, boot, job_runtime, dryRun=True)
    with session_factory() as session:
        holders = _holders(session, layer_id)
        proposals = session.get(OptimizerRun, dry["runId"]).proposals  # type: ignore[union-attr]
    by_holder: dict[str, int] = {}
    for p in proposals:
        h = _holder_of(p, holders)
        by_holder[h] = by_holder.get(h, 0) + 1
    assert len(by_holder) >= 2, "the sandbox account should want changes in several holders"
    target = max(by_holder, key=lambda h: by_holder[h])
    # This period's arms, as a draw would have recorded them: only `target` is held out.
    now = utcnow()
    with transaction(session_factory) as session:
        for holder_id, (kind, _ids) in holders.items():
            session.add(
                HoldoutAssignment(
                    layer_id=layer_id,
                    period_start=period_start(now.date()),
                    entity_id=holder_id,
                    entity_type=kind,
                    held=holder_id == target,
                    share=0.2,
                    assigned_at=now,
                )
            )
    layer = partner.patch(f"/v1/layers/{layer_id}", json={"holdoutShare": 0.2})
    assert layer.status_code == 200 and layer.json()["holdoutShare"] == 0.2
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    assert customer.patch(defaults, json={"defaults": AUTO}).status_code == 200

    run = run_to_end(partner, boot, job_runtime)

    assert run["status"] == "completed"
    with session_factory() as session:
        evaluated = session.get(OptimizerRun, run["runId"]).proposals  # type: ignore[union-attr]
        _layer, account = layer_and_account(session, layer_id)
    in_target = [i for i, p in enumerate(evaluated) if _holder_of(p, holders) == target]
    assert in_target
    for i in in_target:
        assert run["changes"][i]["outcome"] == "held"
        assert run["changes"][i]["reason"] == "holdout"
    assert run["summary"]["dispatched"] > 0, "the treated holders are still optimised"
    sent = writelog.entries(open_platform(settings, session_factory, account).state())  # type: ignore[attr-defined]
    assert sent
    touched = {e["entity"]["external_id"] for e in sent}
    assert not touched & holders[target][1]


def test_holdout_share_is_validated_and_off_by_default(partner: Api, boot: dict[str, Any]) -> None:
    layer_id = boot["layers"]["meta_ads"]
    assert partner.get(f"/v1/layers/{layer_id}").json()["holdoutShare"] == 0.0
    bad = partner.patch(f"/v1/layers/{layer_id}", json={"holdoutShare": 0.9})
    assert bad.status_code == 422
    assert "holdoutShare" in bad.text


def test_the_holdout_report_says_not_enough_data_yet_before_any_period_has_run(
    partner: Api, boot: dict[str, Any]
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    body = partner.get(f"/v1/layers/{layer_id}/holdout").json()
    assert body["holdoutShare"] == 0.0 and body["cadenceDays"] == 28
    assert body["currentPeriod"]["heldOut"] == []
    report = body["incrementality"]
    assert report["enoughData"] is False and report["conversionLiftPct"] is None
    assert report["message"].startswith("Not enough data yet")
