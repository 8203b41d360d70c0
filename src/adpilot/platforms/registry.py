"""Open the AdPlatform adapter for a connected ad account (sandbox or live)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.kit.crypto import CredentialsUnreadable, decrypt_json
from adpilot.layers.models import AdAccount
from adpilot.platforms.base import AdPlatform, PlatformAuthError, PlatformName
from adpilot.platforms.http import HttpOptions
from adpilot.platforms.sandbox.adapter import SandboxPlatform
from adpilot.platforms.sandbox.models import SandboxMarket


@dataclass(frozen=True)
class LiveAccount:
    """What a live adapter needs to reach one account: who it is and how to authenticate.

    `currency` and `timezone` are None before the first validation (the adapter reads them).
    `conversion_event` is the layer's setting (None: the adapter's default conversion).
    """

    platform: PlatformName
    external_id: str
    credentials: dict[str, Any]
    currency: str | None = None
    timezone: str | None = None
    conversion_event: str | None = None


class DbSandboxStore:
    """Sandbox market state in a database row, changed under a row lock (one writer at a time)."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    @contextmanager
    def transaction(self, account_key: str) -> Iterator[dict[str, Any]]:
        with transaction(self._factory) as session:
            row = session.scalars(
                select(SandboxMarket)
                .where(SandboxMarket.account_key == account_key)
                .with_for_update()
            ).first()
            if row is None:
                raise LookupError(f"no sandbox market {account_key}")
            state = dict(row.state)
            yield state
            row.state = state
            row.updated_at = utcnow()


def save_market_state(session: Session, account_key: str, state: dict[str, Any]) -> None:
    session.merge(SandboxMarket(account_key=account_key, state=state, updated_at=utcnow()))


def open_live(
    settings: Settings, account: LiveAccount, options: HttpOptions | None = None
) -> AdPlatform:
    """The real HTTP adapter of `account.platform` (`adpilot.platforms.<name>.adapter`)."""
    module = importlib.import_module(f"adpilot.platforms.{account.platform}.adapter")
    platform: AdPlatform = module.open_live(
        settings, account, options or HttpOptions.from_settings(settings)
    )
    return platform


def open_platform(
    settings: Settings,
    session_factory: sessionmaker[Session],
    account: AdAccount,
    *,
    conversion_event: str | None = None,
) -> AdPlatform:
    """The adapter for `account`. `conversion_event` (the layer's setting) matters to reads only:
    the sync passes it; writes need not."""
    if account.mode == "sandbox":
        return SandboxPlatform(
            account.platform,  # type: ignore[arg-type]
            DbSandboxStore(session_factory),
            account.id,
            utcnow,
        )
    if account.credentials_encrypted is None:
        raise PlatformAuthError("the account has no stored credentials", token_status="invalid")
    try:
        credentials = decrypt_json(settings.secret_key, account.credentials_encrypted)
    except CredentialsUnreadable as exc:
        raise PlatformAuthError(str(exc), token_status="invalid") from None
    return open_live(
        settings,
        LiveAccount(
            platform=account.platform,  # type: ignore[arg-type]
            external_id=account.external_id,
            credentials=credentials,
            currency=account.currency,
            timezone=account.timezone,
            conversion_event=conversion_event,
        ),
    )
