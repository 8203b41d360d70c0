"""Projects, layers and connected ad accounts."""

from __future__ import annotations

import datetime as dt
import zlib

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors
from adpilot.config import Settings
from adpilot.kit.clock import utcnow
from adpilot.kit.ids import new_id, new_layer_id, new_uuid
from adpilot.layers.models import AdAccount, Layer, Project
from adpilot.platforms.base import ACTION_TYPES
from adpilot.platforms.registry import save_market_state
from adpilot.sim.bootstrap import bootstrap_market

DEFAULT_SCHEDULE_INTERVAL = dt.timedelta(hours=6)


def create_project(session: Session, organization_id: str, name: str) -> Project:
    project = Project(id=new_uuid(), organization_id=organization_id, name=name, created_at=utcnow())
    session.add(project)
    session.flush()
    return project


def get_layer(session: Session, project_id: str, platform: str) -> Layer | None:
    return session.scalars(
        select(Layer).where(Layer.project_id == project_id, Layer.platform == platform)
    ).first()


def get_or_create_layer(session: Session, project: Project, platform: str) -> Layer:
    layer = get_layer(session, project.id, platform)
    if layer is not None:
        return layer
    now = utcnow()
    layer = Layer(
        id=new_layer_id(),
        project_id=project.id,
        organization_id=project.organization_id,
        platform=platform,
        default_creative="draft",
        default_tactical="draft",
        default_structural="draft",
        ceiling_creative="auto",
        ceiling_tactical="auto",
        ceiling_structural="auto",
        kill_switch_active=False,
        defaults_modified_at=now,
        defaults_modified_by=None,
        write_classes={name: True for name in ACTION_TYPES},
        write_classes_modified_at=now,
        write_classes_modified_by=None,
        schedule=None,
        # The first scheduled run comes a full interval after the layer is created.
        next_scheduled_run_at=now + DEFAULT_SCHEDULE_INTERVAL,
        creative_slots=4,
        guardrail_overrides={},
        settings_modified_at=now,
        created_at=now,
    )
    session.add(layer)
    session.flush()
    return layer


def current_account(session: Session, layer_id: str) -> AdAccount | None:
    return session.scalars(
        select(AdAccount).where(AdAccount.layer_id == layer_id, AdAccount.disconnected_at.is_(None))
    ).first()


def connect_sandbox_account(
    session: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    project: Project,
    *,
    platform: str,
    external_id: str,
    name: str | None,
    replace: bool = False,
) -> AdAccount:
    """Connect a simulated account: a seeded market with 30 days of history ending yesterday."""
    layer = get_or_create_layer(session, project, platform)
    existing = current_account(session, layer.id)
    if existing is not None and not replace:
        raise errors.conflict(
            "LAYER_HAS_AD_ACCOUNT",
            f"Layer {layer.id} already has ad account {existing.id}; pass replace: true to swap it.",
            adAccountId=existing.id,
        )
    now = utcnow()
    account_id = new_id("aac")
    seed = zlib.crc32(f"{account_id}:{external_id}".encode())
    market = bootstrap_market(platform, seed, now.date())  # type: ignore[arg-type]
    save_market_state(session, account_id, market.to_state())
    if existing is not None:
        existing.disconnected_at = now
    account = AdAccount(
        id=account_id,
        layer_id=layer.id,
        project_id=project.id,
        platform=platform,
        external_id=external_id,
        name=name or f"Sandbox {platform} account",
        currency="USD",
        timezone="UTC",
        mode="sandbox",
        credentials_encrypted=None,
        token_status="valid",
        token_last_validated_at=now,
        connected_at=now,
    )
    session.add(account)
    session.flush()
    return account
