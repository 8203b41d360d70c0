"""Test helpers for pending actions: runs to hang rows on, rows, and synced sandbox entities."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.entities.models import Ad, AdSet, Campaign
from adpilot.entities.sync import store_snapshot
from adpilot.gate.policy import ACTION_AXIS
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id
from adpilot.layers import service as layers_service
from adpilot.layers.models import AdAccount, Layer
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.platforms.base import EntityType, WriteRequest
from adpilot.platforms.registry import open_platform
from adpilot.platforms.sandbox.adapter import SandboxPlatform
from adpilot.runs.models import Job, OptimizerRun


def layer_and_account(session: Session, layer_id: str) -> tuple[Layer, AdAccount]:
    layer = session.get(Layer, layer_id)
    assert layer is not None
    account = layers_service.current_account(session, layer_id)
    assert account is not None
    return layer, account


def make_run(session_factory: sessionmaker[Session], layer_id: str) -> str:
    """A completed optimizer run of the layer (pending rows must belong to a run)."""
    now = utcnow()
    with transaction(session_factory) as session:
        layer, account = layer_and_account(session, layer_id)
        job = Job(
            id=new_id("job"),
            organization_id=layer.organization_id,
            project_id=layer.project_id,
            kind="ads_optimizer_run",
            status="completed",
            run_id=None,
            started_at=now,
            finished_at=now,
            updated_at=now,
        )
        run = OptimizerRun(
            id=new_id("run"),
            job_id=job.id,
            organization_id=layer.organization_id,
            project_id=layer.project_id,
            layer_id=layer.id,
            ad_account_id=account.id,
            platform=layer.platform,
            dry_run=False,
            trigger="api",
            status="completed",
            stage="done",
            progress=1.0,
            stages=[],
            summary={},
            changes=[],
            proposals=[],
            cancel_requested=False,
            started_at=now,
            finished_at=now,
        )
        job.run_id = run.id
        session.add(job)
        session.flush()
        session.add(run)
    return run.id


def add_action(
    session_factory: sessionmaker[Session],
    layer_id: str,
    *,
    run_id: str | None = None,
    origin: str = "queued",
    action_type: str = "update_budget",
    entity_type: str = "campaign",
    entity_id: str | None = None,
    entity_external_id: str = "120210000000000100",
    entity_name: str = "Q3 prospecting",
    campaign_id: str | None = None,
    adset_id: str | None = None,
    current: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    write_context: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> str:
    """One row made the way a run makes it (through `pending.service.create_action`)."""
    run_id = run_id or make_run(session_factory, layer_id)
    with transaction(session_factory) as session:
        layer, account = layer_and_account(session, layer_id)
        row = pending_service.create_action(
            session,
            run_id=run_id,
            layer=layer,
            account=account,
            origin=origin,
            action_type=action_type,
            entity_type=entity_type,
            entity_id=entity_id or new_id("cmp"),
            entity_external_id=entity_external_id,
            entity_name=entity_name,
            campaign_id=campaign_id,
            adset_id=adset_id,
            axis=ACTION_AXIS[action_type],
            current_value=current if current is not None else {"dailyBudgetCents": 5000},
            new_value=new if new is not None else {"dailyBudgetCents": 7500},
            summary="Raise the daily budget of campaign “Q3 prospecting” from $50.00 to $75.00",
            rationale="Top performer — CPA is $4.20 vs target $7.00 over 14 days.",
            confidence=0.91,
            proposed_action={"detail": detail or {"method": "POST", "path": "/v26.0/1"}},
            write_context=write_context or {},
            evidence_fingerprint=None,
            now=now or utcnow(),
        )
        return row.id


def set_row(session_factory: sessionmaker[Session], pending_id: str, **values: Any) -> None:
    with transaction(session_factory) as session:
        row = session.get(PendingAction, pending_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def get_row(session_factory: sessionmaker[Session], pending_id: str) -> PendingAction:
    with session_factory() as session:
        row = session.get(PendingAction, pending_id)
        assert row is not None
        return row


# --- a real sandbox account, synced into the local entity tables ----------------------------


@dataclass
class Sandbox:
    settings: Settings
    session_factory: sessionmaker[Session]
    layer_id: str
    account: AdAccount

    def platform(self) -> SandboxPlatform:
        platform = open_platform(self.settings, self.session_factory, self.account)
        assert isinstance(platform, SandboxPlatform)
        return platform


def sync_sandbox(
    settings: Settings, session_factory: sessionmaker[Session], layer_id: str
) -> Sandbox:
    """Read the sandbox account's snapshot into campaigns/adsets/ads, as a run's sync would."""
    with session_factory() as session:
        _layer, account = layer_and_account(session, layer_id)
    # The sandbox keeps its market in the database: read it before opening our own transaction.
    until = utcnow().date() - dt.timedelta(days=1)
    since = until - dt.timedelta(days=29)
    snapshot = open_platform(settings, session_factory, account).fetch_snapshot(since, until)
    with transaction(session_factory) as session:
        layer, account = layer_and_account(session, layer_id)
        store_snapshot(session, layer, account, snapshot, since, until, utcnow())
    return Sandbox(settings, session_factory, layer_id, account)


def budget_holder(sandbox: Sandbox) -> tuple[EntityType, str, str, str, int]:
    """(entity type, our id, external id, name, daily budget) of an active budget holder."""
    with sandbox.session_factory() as session:
        campaign = session.scalars(
            select(Campaign)
            .where(
                Campaign.layer_id == sandbox.layer_id,
                Campaign.status == "active",
                Campaign.daily_budget_cents.is_not(None),
            )
            .order_by(Campaign.id)
        ).first()
        if campaign is not None and campaign.daily_budget_cents:
            return (
                "campaign",
                campaign.id,
                campaign.external_id,
                campaign.name,
                campaign.daily_budget_cents,
            )
        adset = session.scalars(
            select(AdSet)
            .where(
                AdSet.layer_id == sandbox.layer_id,
                AdSet.status == "active",
                AdSet.daily_budget_cents.is_not(None),
            )
            .order_by(AdSet.id)
        ).first()
        assert adset is not None and adset.daily_budget_cents
        return "adset", adset.id, adset.external_id, adset.name, adset.daily_budget_cents


def active_ad(sandbox: Sandbox) -> Ad:
    with sandbox.session_factory() as session:
        ad = session.scalars(
            select(Ad).where(Ad.layer_id == sandbox.layer_id, Ad.status == "active").order_by(Ad.id)
        ).first()
        assert ad is not None
        return ad


def budget_action(
    sandbox: Sandbox, *, origin: str = "auto", new_cents: int | None = None, approve: bool = False
) -> tuple[str, int, int]:
    """A budget raise on a live budget holder; returns (pending id, current, new cents).

    `origin="queued", approve=True` makes it a row a person approved, ready to dispatch.
    """
    kind, entity_id, external_id, name, cents = budget_holder(sandbox)
    target = new_cents or cents + max(100, cents // 4)
    current, new = {"dailyBudgetCents": cents}, {"dailyBudgetCents": target}
    write = WriteRequest("update_budget", kind, external_id, current, new, "")
    pending_id = add_action(
        sandbox.session_factory,
        sandbox.layer_id,
        origin=origin,
        action_type="update_budget",
        entity_type=kind,
        entity_id=entity_id,
        entity_external_id=external_id,
        entity_name=name,
        current=current,
        new=new,
        detail=sandbox.platform().build_request(write),
    )
    if approve:
        set_row(sandbox.session_factory, pending_id, status="approved")
    return pending_id, cents, target
