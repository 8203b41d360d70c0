"""Projects, layers, their settings and write classes, and connected ad accounts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zlib
from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import errors
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.config import Settings
from adpilot.entities.models import AdsContent
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.crypto import encrypt_json
from adpilot.kit.ids import new_id, new_layer_id, new_uuid
from adpilot.kit.platform_names import to_long, to_short
from adpilot.layers.goal import goal_from_patch, goal_view
from adpilot.layers.models import AdAccount, Layer, Project
from adpilot.layers.schedule import next_run_after, schedule_problem
from adpilot.layers.schemas import (
    CREDENTIALS_MODELS,
    AdAccountCreate,
    LayerSettingsPatch,
    WriteClassesPatch,
)
from adpilot.platforms.base import (
    ACTION_TYPES,
    AccountInfo,
    PlatformAuthError,
    PlatformError,
    PlatformName,
    PlatformRejected,
)
from adpilot.platforms.registry import LiveAccount, open_live, save_market_state
from adpilot.platforms.sandbox.models import SandboxMarket
from adpilot.sim.bootstrap import bootstrap_market_cached
from adpilot.sim.market import creative_ids_in_state
from adpilot.sim.reports import CreativeRecord, creatives_data
from adpilot.syncs.service import start_sync


def create_project(session: Session, organization_id: str, name: str) -> Project:
    project = Project(
        id=new_uuid(), organization_id=organization_id, name=name, created_at=utcnow()
    )
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
        next_scheduled_run_at=next_run_after(None, now),
        # Likewise the first scheduled sync: connecting an account syncs at once.
        sync_schedule=None,
        next_sync_at=next_run_after(None, now),
        creative_slots=4,
        guardrail_overrides={},
        holdout_share=0.0,
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
    seed: int | None = None,
) -> AdAccount:
    """Connect a simulated account: a seeded market with 30 days of history ending yesterday."""
    layer = get_or_create_layer(session, project, platform)
    existing = current_account(session, layer.id)
    if existing is not None and not replace:
        raise _layer_has_account(existing)
    now = utcnow()
    account_id = new_id("aac")
    if seed is None:
        seed = zlib.crc32(f"{account_id}:{external_id}".encode())
    market = bootstrap_market_cached(
        platform,
        seed,
        now.date(),
        account_external_id=external_id,
    )
    if existing is not None:
        _retire_account(session, existing, now)
    save_market_state(session, account_id, market.to_state())
    seed_creative_library(session, project.id, platform, creatives_data(market), now)
    info = dataclasses.replace(market.account, name=name or f"Sandbox {platform} account")
    return _add_account(session, layer, info, account_id=account_id, mode="sandbox", now=now)


def _add_account(
    session: Session,
    layer: Layer,
    info: AccountInfo,
    *,
    account_id: str,
    mode: str,
    now: dt.datetime,
    credentials_encrypted: bytes | None = None,
) -> AdAccount:
    account = AdAccount(
        id=account_id,
        layer_id=layer.id,
        project_id=layer.project_id,
        platform=layer.platform,
        external_id=info.external_id,
        name=info.name,
        currency=info.currency,
        timezone=info.timezone,
        mode=mode,
        credentials_encrypted=credentials_encrypted,
        token_status="valid",
        token_last_validated_at=now,
        connected_at=now,
    )
    session.add(account)
    session.flush()
    return account


def _layer_has_account(existing: AdAccount) -> errors.ApiError:
    return errors.conflict(
        "LAYER_HAS_AD_ACCOUNT",
        f"Layer {existing.layer_id} already has ad account {existing.id}; "
        "pass replace: true to swap it.",
        adAccountId=existing.id,
    )


@dataclass(frozen=True)
class VerifiedAccount:
    """A live account whose credentials the platform accepted, as it describes the account."""

    info: AccountInfo
    credentials: dict[str, Any]


def verify_connection(settings: Settings, body: AdAccountCreate) -> VerifiedAccount | None:
    """Check a connect request; for a live account, prove the credentials with one cheap read.

    Runs before the write's transaction: a platform can take seconds to answer (or retries),
    and no transaction or row lock should stay open across that. Sandbox accounts need no
    credentials (any sent are ignored, never stored): None.
    """
    platform = to_short(body.platform)
    assert platform is not None  # the schema only admits known spellings
    pattern, problem = EXTERNAL_ID_FORMATS[platform]
    if not pattern.match(body.external_id):
        raise errors.validation("externalId", problem)
    if body.mode != "live":
        return None
    credentials = _check_credentials(platform, body.credentials)
    live = LiveAccount(cast(PlatformName, platform), body.external_id, credentials)
    try:
        info = open_live(settings, live).validate()
    except (PlatformAuthError, PlatformRejected) as exc:
        raise errors.platform_rejected(exc.message, exc.platform_code) from None
    except PlatformError as exc:
        raise errors.platform_error(exc.message) from None
    return VerifiedAccount(dataclasses.replace(info, external_id=body.external_id), credentials)


def connect_live_account(
    session: Session,
    settings: Settings,
    layer: Layer,
    verified: VerifiedAccount,
    *,
    name: str | None,
) -> AdAccount:
    """Store a verified live account on the layer; its credentials encrypted, never returned."""
    now = utcnow()
    existing = current_account(session, layer.id)
    if existing is not None:
        _retire_account(session, existing, now)
    return _add_account(
        session,
        layer,
        dataclasses.replace(verified.info, name=name or verified.info.name),
        account_id=new_id("aac"),
        mode="live",
        now=now,
        credentials_encrypted=encrypt_json(settings.secret_key, verified.credentials),
    )


# --- Lookups -------------------------------------------------------------------------------------


def layer_on_path(session: Session, project: Project, platform: str) -> Layer:
    """The project's layer for a (short) platform name; a project without one answers 404."""
    layer = get_layer(session, project.id, platform)
    if layer is None:
        raise errors.not_found(f"The {platform} layer of project {project.id}")
    return layer


def visible_project(session: Session, organization_id: str, project_id: str) -> Project:
    """A project of the caller's org; anyone else's is not found (existence is not revealed)."""
    project = session.get(Project, project_id)
    if project is None or project.organization_id != organization_id:
        raise errors.not_found(f"Project {project_id}")
    return project


def visible_layer(session: Session, organization_id: str, layer_id: str) -> Layer:
    """A layer of the caller's org; anyone else's is not found (existence is not revealed)."""
    layer = session.get(Layer, layer_id)
    if layer is None or layer.organization_id != organization_id:
        raise errors.not_found(f"Layer {layer_id}")
    return layer


def locked_layer(session: Session, layer_id: str) -> Layer:
    """The layer row, locked for this transaction: its settings, write classes and policy are
    read-modify-write (JSON columns among them), so concurrent PATCHes must apply in turn."""
    return session.scalars(select(Layer).where(Layer.id == layer_id).with_for_update()).one()


# --- Write classes (SPEC §5.4) -------------------------------------------------------------------


def write_classes_view(layer: Layer) -> dict[str, Any]:
    stored = layer.write_classes or {}
    return {
        "layerId": layer.id,
        "platform": to_long(layer.platform),
        "writeClasses": {name: bool(stored.get(name, True)) for name in ACTION_TYPES},
        "lastModifiedAt": isoformat(layer.write_classes_modified_at),
        "lastModifiedBy": layer.write_classes_modified_by,
    }


def patch_write_classes(
    session: Session,
    layer_id: str,
    patch: WriteClassesPatch,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    layer = locked_layer(session, layer_id)
    before = write_classes_view(layer)["writeClasses"]
    changes = patch.write_classes.given()
    layer.write_classes = {**before, **changes}
    layer.write_classes_modified_at = utcnow()
    layer.write_classes_modified_by = principal.actor()
    view = write_classes_view(layer)
    audit.record(
        session,
        "layer.write_classes.updated",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={"layerId": layer.id, "before": before, "after": view["writeClasses"]},
    )
    return view


# --- Layer settings (SPEC §7, §3.6) --------------------------------------------------------------


def layer_settings_view(session: Session, layer: Layer) -> dict[str, Any]:
    account = current_account(session, layer.id)
    return {
        "layerId": layer.id,
        "projectId": layer.project_id,
        "platform": to_long(layer.platform),
        "adAccountId": account.id if account else None,
        "killSwitchActive": layer.kill_switch_active,
        "targetCpaCents": layer.target_cpa_cents,
        "goal": goal_view(layer),
        "conversionEvent": layer.conversion_event,
        "schedule": layer.schedule,
        "nextScheduledRunAt": isoformat(layer.next_scheduled_run_at),
        "syncSchedule": layer.sync_schedule,
        "nextSyncAt": isoformat(layer.next_sync_at),
        "creativeSlots": layer.creative_slots,
        "guardrailOverrides": {
            to_camel(name): value
            for name, value in sorted((layer.guardrail_overrides or {}).items())
        },
        "holdoutShare": layer.holdout_share,
        "createdAt": isoformat(layer.created_at),
        "updatedAt": isoformat(layer.settings_modified_at),
    }


def patch_layer_settings(
    session: Session,
    layer_id: str,
    patch: LayerSettingsPatch,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    given = patch.given()
    for name in ("schedule", "sync_schedule"):
        value = given.get(name)
        problem = schedule_problem(value) if value is not None else None
        if problem:
            raise errors.validation(to_camel(name), problem)
    goal = goal_from_patch(patch)
    layer = locked_layer(session, layer_id)
    before = layer_settings_view(session, layer)
    now = utcnow()
    if goal is not None:
        layer.target_cpa_cents = goal.target_cpa_cents
        layer.conversion_value_cents = goal.conversion_value_cents
    if "conversion_event" in given:
        layer.conversion_event = patch.conversion_event
    if patch.creative_slots is not None:
        layer.creative_slots = patch.creative_slots
    if patch.holdout_share is not None:
        layer.holdout_share = patch.holdout_share
    if "schedule" in given and patch.schedule != layer.schedule:
        layer.schedule = patch.schedule
        layer.next_scheduled_run_at = next_run_after(patch.schedule, now)
    if "sync_schedule" in given and patch.sync_schedule != layer.sync_schedule:
        layer.sync_schedule = patch.sync_schedule
        layer.next_sync_at = next_run_after(patch.sync_schedule, now)
    if "guardrail_overrides" in given:
        overrides = patch.guardrail_overrides
        merged = dict(layer.guardrail_overrides or {}) if overrides is not None else {}
        for name, value in (overrides.given() if overrides is not None else {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        layer.guardrail_overrides = merged
    layer.settings_modified_at = now
    view = layer_settings_view(session, layer)
    changed = {
        key: {"from": before[key], "to": view[key]}
        for key in before
        if before[key] != view[key] and key != "updatedAt"
    }
    audit.record(
        session,
        "layer.settings.updated",
        organization_id=layer.organization_id,
        project_id=layer.project_id,
        principal=principal,
        request_id=request_id,
        data={"layerId": layer.id, "changes": changed},
    )
    return view


# --- Ad accounts (SPEC §7, §8) -------------------------------------------------------------------

EXTERNAL_ID_FORMATS = {
    "meta": (re.compile(r"^act_[0-9]+$"), "must be act_ followed by the account's digits"),
    "tiktok": (re.compile(r"^[0-9]+$"), "must be the TikTok advertiser id (digits)"),
    "apple": (re.compile(r"^[0-9]+$"), "must be the Apple Ads account id (digits)"),
}


def account_view(account: AdAccount) -> dict[str, Any]:
    """The account row; credentials never leave the database."""
    return {
        "adAccountId": account.id,
        "layerId": account.layer_id,
        "platform": to_long(account.platform),
        "externalId": account.external_id,
        "name": account.name,
        "currency": account.currency,
        "timezone": account.timezone,
        "mode": account.mode,
        "tokenStatus": account.token_status,
        "tokenLastValidatedAt": isoformat(account.token_last_validated_at),
        "connectedAt": isoformat(account.connected_at),
    }


def _check_credentials(platform: str, credentials: dict[str, Any] | None) -> dict[str, Any]:
    """The credentials, checked for shape (not yet against the platform), in camelCase."""
    if credentials is None:
        raise errors.validation("credentials", f"are required to connect a live {platform} account")
    try:
        parsed = CREDENTIALS_MODELS[platform].model_validate(credentials)
    except ValidationError as exc:
        problems = [
            (
                ".".join(["credentials", *(str(p) for p in e["loc"])]),
                "unknown field"
                if e["type"] == "extra_forbidden"
                else "is required"
                if e["type"] == "missing"
                else str(e["msg"]),
            )
            for e in exc.errors()
        ]
        first, *rest = problems
        raise errors.validation(first[0], first[1], *rest) from None
    pem = getattr(parsed, "private_key_pem", None)
    if pem is not None:
        # Apple signs its client secret with ES256, so the key must be an EC P-256 private key.
        try:
            key = load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise errors.validation(
                "credentials.privateKeyPem", "must be an unencrypted EC P-256 private key in PEM"
            )
    return dict(parsed.model_dump(by_alias=True, exclude_none=True))


def connect_account(
    session: Session,
    settings: Settings,
    session_factory: sessionmaker[Session],
    project: Project,
    body: AdAccountCreate,
    verified: VerifiedAccount | None,
    *,
    principal: Principal,
    request_id: str | None,
) -> AdAccount:
    """Connect an account to the project's layer for its platform (creating the layer if needed).

    `verified` is what `verify_connection` found for a live account (None for a sandbox).
    """
    platform = to_short(body.platform)
    assert platform is not None  # the schema only admits known spellings
    # Two connects racing to create the project's layer would collide on its unique key; the
    # project row lock makes them take turns (the second then sees the first one's account).
    session.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    layer = get_layer(session, project.id, platform)
    previous = current_account(session, layer.id) if layer is not None else None
    if previous is not None and not body.replace:
        raise _layer_has_account(previous)
    if verified is None:
        account = connect_sandbox_account(
            session,
            settings,
            session_factory,
            project,
            platform=platform,
            external_id=body.external_id,
            name=body.name,
            replace=body.replace,
        )
    else:
        layer = get_or_create_layer(session, project, platform)
        account = connect_live_account(session, settings, layer, verified, name=body.name)
    # Entities are listed within seconds, before any run: a sync job starts once this commits.
    connected_layer = session.get(Layer, account.layer_id)
    assert connected_layer is not None
    start_sync(session, connected_layer, account, trigger="connect")
    audit.record(
        session,
        "ad_account.connected",
        organization_id=project.organization_id,
        project_id=project.id,
        principal=principal,
        request_id=request_id,
        data={
            "adAccountId": account.id,
            "layerId": account.layer_id,
            "platform": to_long(platform),
            "externalId": account.external_id,
            "mode": account.mode,
            "replacedAdAccountId": previous.id if previous else None,
        },
    )
    return account


def list_accounts(session: Session, project: Project) -> list[AdAccount]:
    """The project's connected accounts (at most one per platform)."""
    return list(
        session.scalars(
            select(AdAccount)
            .where(AdAccount.project_id == project.id, AdAccount.disconnected_at.is_(None))
            .order_by(AdAccount.connected_at, AdAccount.id)
        )
    )


def find_connected_account(session: Session, project: Project, account_id: str) -> AdAccount:
    account = session.get(AdAccount, account_id)
    if account is None or account.project_id != project.id or account.disconnected_at is not None:
        raise errors.not_found(f"Ad account {account_id}")
    return account


def disconnect_account(
    session: Session,
    project: Project,
    account_id: str,
    *,
    principal: Principal,
    request_id: str | None,
) -> None:
    """Disconnect: the layer keeps its settings and history, and runs need a new account."""
    account = session.scalars(
        select(AdAccount)
        .where(
            AdAccount.id == account_id,
            AdAccount.project_id == project.id,
            AdAccount.disconnected_at.is_(None),
        )
        .with_for_update()
    ).first()
    if account is None:
        raise errors.not_found(f"Ad account {account_id}")
    _retire_account(session, account, utcnow())
    audit.record(
        session,
        "ad_account.disconnected",
        organization_id=project.organization_id,
        project_id=project.id,
        principal=principal,
        request_id=request_id,
        data={
            "adAccountId": account.id,
            "layerId": account.layer_id,
            "platform": to_long(account.platform),
        },
    )


def _retire_account(session: Session, account: AdAccount, now: dt.datetime) -> None:
    """Disconnect an account. A sandbox account's creatives leave the library's asset refs with
    it: they exist only in its simulated market, so the next account of the layer (a live one,
    say) must not be offered them for push or replace."""
    account.disconnected_at = now
    if account.mode != "sandbox":
        return
    stored = session.get(SandboxMarket, account.id)
    gone = creative_ids_in_state(stored.state) if stored is not None else set()
    if not gone:
        return
    rows = session.scalars(select(AdsContent).where(AdsContent.project_id == account.project_id))
    for row in rows:
        refs = dict(row.asset_refs or {})
        if refs.get(account.platform) in gone:
            del refs[account.platform]
            row.asset_refs = refs
            row.updated_at = now


def seed_creative_library(
    session: Session,
    project_id: str,
    platform: str,
    creatives: list[CreativeRecord],
    now: dt.datetime,
) -> None:
    """Make a sandbox account's creatives usable by push/replace: one library entry each."""
    existing = {
        ref
        for row in session.scalars(select(AdsContent).where(AdsContent.project_id == project_id))
        if (ref := (row.asset_refs or {}).get(platform))
    }
    for creative in creatives:
        if creative.external_id in existing:
            continue
        session.add(
            AdsContent(
                id=new_id("adc"),
                project_id=project_id,
                name=creative.name,
                pool=creative.pool,
                organic_score=creative.organic_score,
                safety_failed=creative.safety_failed,
                override=None,
                asset_refs={platform: creative.external_id},
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
