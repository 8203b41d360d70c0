"""Open the AdPlatform adapter for a connected ad account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import utcnow
from adpilot.layers.models import AdAccount
from adpilot.platforms.base import AdPlatform
from adpilot.platforms.sandbox.adapter import SandboxPlatform
from adpilot.platforms.sandbox.models import SandboxMarket


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


def open_platform(
    settings: Settings, session_factory: sessionmaker[Session], account: AdAccount
) -> AdPlatform:
    if account.mode == "sandbox":
        return SandboxPlatform(
            account.platform,  # type: ignore[arg-type]
            DbSandboxStore(session_factory),
            account.id,
            utcnow,
        )
    raise NotImplementedError(f"live {account.platform} accounts need the platform's HTTP adapter")
