"""Opaque keyset cursors bound to the list's path and filters, and multi-value filters."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from adpilot import errors

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _filters_digest(scope: str, filters: dict[str, Any]) -> str:
    canonical = json.dumps({"scope": scope, "filters": filters}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(secret: str, scope: str, filters: dict[str, Any], key: Sequence[Any]) -> str:
    """`key` is the last row's sort key, e.g. (createdAt ISO, id)."""
    payload = json.dumps(
        {"k": list(key), "f": _filters_digest(scope, filters)}, separators=(",", ":")
    ).encode()
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(payload + sig).decode().rstrip("=")


def decode_cursor(secret: str, scope: str, filters: dict[str, Any], cursor: str) -> list[Any]:
    bad = errors.validation("cursor", "malformed or does not belong to this list and its filters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise bad from None
    if len(raw) < 13:
        raise bad
    payload, sig = raw[:-12], raw[-12:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:12]
    if not hmac.compare_digest(sig, expected):
        raise bad
    try:
        data = json.loads(payload)
    except ValueError:
        raise bad from None
    if not isinstance(data, dict) or data.get("f") != _filters_digest(scope, filters):
        raise bad
    key = data.get("k")
    if not isinstance(key, list):
        raise bad
    return key


def multi_values(
    raw: Iterable[str] | None, field: str, allowed: Iterable[str] | None = None
) -> list[str]:
    """`a=x&a=y` and `a=x,y` mean the same; unknown values are a 422 naming the field."""
    values: list[str] = []
    for item in raw or []:
        values.extend(v.strip() for v in item.split(",") if v.strip())
    if allowed is not None:
        allowed_set = set(allowed)
        unknown = [v for v in values if v not in allowed_set]
        if unknown:
            raise errors.validation(
                field,
                f"unknown value {errors.quote(unknown[0])}; expected one of {', '.join(allowed)}",
            )
    # De-duplicate but keep order, so cursors bound to filters are stable.
    return sorted(set(values))


def check_limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > MAX_LIMIT:
        raise errors.validation("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "nextCursor": self.next_cursor}


@dataclass(frozen=True)
class ListQuery:
    """One page request of a keyset list; its cursor is bound to `scope` and `filters`."""

    secret: str
    scope: str
    filters: dict[str, Any]
    cursor: str | None
    limit: int


def newest_first_page(
    session: Session,
    query: ListQuery,
    stmt: Select[Any],
    time_column: InstrumentedAttribute[dt.datetime],
    id_column: InstrumentedAttribute[str],
    view: Callable[[Any], dict[str, Any]],
) -> Page:
    """Rows of `stmt` (a select of one entity) newest first, ties by id descending, after the
    cursor's row. Keyset, so pages stay stable while rows are inserted."""
    if query.cursor is not None:
        key = decode_cursor(query.secret, query.scope, query.filters, query.cursor)
        try:
            last_time = dt.datetime.fromisoformat(key[0])
            last_id = key[1]
            if len(key) != 2 or last_time.tzinfo is None or not isinstance(last_id, str):
                raise ValueError
        except (ValueError, TypeError, IndexError):
            raise errors.validation("cursor", "malformed or does not belong to this list") from None
        stmt = stmt.where(
            or_(time_column < last_time, and_(time_column == last_time, id_column < last_id))
        )
    stmt = stmt.order_by(time_column.desc(), id_column.desc()).limit(query.limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        position = [getattr(last, time_column.key).isoformat(), getattr(last, id_column.key)]
        next_cursor = encode_cursor(query.secret, query.scope, query.filters, position)
    return Page([view(row) for row in rows], next_cursor)
