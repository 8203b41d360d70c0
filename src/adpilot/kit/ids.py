"""Prefixed identifiers: `org_<ULID>`, `lyr_<UUID>`, … (SPEC §1)."""

from __future__ import annotations

import uuid

from ulid import ULID


def new_id(prefix: str) -> str:
    """A prefixed ULID: sortable by creation time, so keyset pagination ties break sensibly."""
    return f"{prefix}_{ULID()}"


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_layer_id() -> str:
    return f"lyr_{uuid.uuid4()}"
