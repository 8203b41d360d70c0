"""Organizations and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from adpilot.db import Base, JSONType, UTCDateTime


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    # `key_<16-char public id>`; the public id is also embedded in the key string itself.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(8))  # live | test
    secret_hash: Mapped[str] = mapped_column(String(128))
    actor_type: Mapped[str] = mapped_column(String(16))  # partner | customer
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    rate_limit_tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    killed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def describe(self) -> dict[str, Any]:
        return {
            "apiKeyId": self.id,
            "organizationId": self.organization_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "actorType": self.actor_type,
            "rateLimitTier": self.rate_limit_tier,
            "killed": self.killed_at is not None,
            "revoked": self.revoked_at is not None,
        }
