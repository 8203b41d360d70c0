"""`adpilot bootstrap`: a new org with a project, sandbox accounts on all platforms, and keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.platform_names import to_long
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer
from adpilot.syncs.service import start_sync

PLATFORMS = ("meta", "tiktok", "apple")
SANDBOX_EXTERNAL_IDS = {"meta": "act_1000000001", "tiktok": "7000000001", "apple": "4000001"}


def bootstrap_org(
    settings: Settings,
    session_factory: sessionmaker[Session],
    name: str = "Sandbox org",
    seed: int | None = None,
    sync: bool = True,
) -> dict[str, Any]:
    """`seed` fixes the sandbox markets (one per platform); by default each account gets its own.
    Each account's entities and metrics are synced by a job started at once (`sync`)."""
    with transaction(session_factory) as session:
        org = auth_service.create_organization(session, name)
        project = layers_service.create_project(session, org.id, f"{name} project")
        layers: dict[str, str] = {}
        for index, platform in enumerate(PLATFORMS):
            account = layers_service.connect_sandbox_account(
                session,
                settings,
                session_factory,
                project,
                platform=platform,
                external_id=SANDBOX_EXTERNAL_IDS[platform],
                name=f"Sandbox {platform} account",
                seed=None if seed is None else seed + index,
            )
            layers[to_long(platform)] = account.layer_id
            if sync:
                layer = session.get(Layer, account.layer_id)
                assert layer is not None
                start_sync(session, layer, account, trigger="connect")
        keys = {
            actor: auth_service.create_api_key(
                session,
                secret_key=settings.secret_key,
                organization_id=org.id,
                # The customer also manages the org's keys over the API (never implied by `*`).
                scopes=["*", "keys:admin"] if actor == "customer" else ["*"],
                actor_type=actor,
                rate_limit_tier="partner",
                name=f"bootstrap {actor} key",
            )
            for actor in ("partner", "customer")
        }
    return {
        "organizationId": org.id,
        "projectId": project.id,
        "layers": layers,
        "partnerKey": keys["partner"].key,
        "customerKey": keys["customer"].key,
    }
