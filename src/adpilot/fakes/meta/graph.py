"""Graph API conventions the fake shares: the error envelope, `fields` selection, JSON-encoded
parameters, and cursor paging with absolute `next` URLs."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


class GraphFault(Exception):
    """An answer other than success: an HTTP status, a body and extra headers."""

    def __init__(
        self, status: int, body: Any, headers: dict[str, str] | None = None, *, text: str = ""
    ) -> None:
        super().__init__(text or json.dumps(body))
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.text = text


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
    status: int | None = None,
    user_title: str | None = None,
    user_msg: str | None = None,
    transient: bool = False,
    headers: dict[str, str] | None = None,
) -> GraphFault:
    """Graph's envelope. HTTP status as Graph tends to answer: 5xx for codes 1/2, 403 for
    permissions, 400 for the rest (clients must key on `code`, not on the status)."""
    if status is None:
        status = 500 if code in (1, 2) else 403 if code in (10, 200) else 400
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(9),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_title:
        error["error_user_title"] = user_title
    if user_msg:
        error["error_user_msg"] = user_msg
    error["is_transient"] = transient
    return GraphFault(status, {"error": error}, headers)


def unknown_object(node: str, method: str = "get") -> GraphFault:
    return graph_error(
        100,
        f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind="GraphMethodException",
    )


def invalid_param(message: str, *, subcode: int | None = None) -> GraphFault:
    return graph_error(100, f"(#100) {message}", subcode=subcode)


def json_param(params: dict[str, str], name: str, default: Any = None) -> Any:
    """A JSON-encoded parameter (lists may also come comma-separated)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except ValueError:
        if "," in raw or raw.replace("_", "").isalnum():
            return [part.strip() for part in raw.split(",") if part.strip()]
        raise invalid_param(f"Param {name} must be a valid JSON value") from None


# --- fields ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    sub: tuple[FieldSpec, ...] = field(default=())


def parse_fields(text: str | None) -> list[FieldSpec]:
    """`id,name,creative{id,name}` → specs (field expansion modifiers are not simulated)."""
    if not text:
        return []
    specs, depth, start = [], 0, 0
    items = []
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    for item in (x.strip() for x in items):
        if not item:
            continue
        if "{" in item:
            name, _, rest = item.partition("{")
            specs.append(FieldSpec(name.strip(), tuple(parse_fields(rest.rstrip("}")))))
        elif "." in item or "(" in item:
            raise invalid_param(f"Field expansion '{item}' is not simulated by this fake")
        else:
            specs.append(FieldSpec(item))
    return specs


def select(obj: dict[str, Any], specs: Sequence[FieldSpec], node_type: str, known: set[str]) -> Any:
    """The requested fields of `obj` (Graph omits fields without a value); `id` by default."""
    if not specs:
        specs = [FieldSpec("id")]
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in known:
            raise invalid_param(
                f"Tried accessing nonexisting field ({spec.name}) on node type ({node_type})"
            )
        value = obj.get(spec.name)
        if value is None:
            continue
        if spec.sub and isinstance(value, dict):
            value = {s.name: value[s.name] for s in spec.sub if value.get(s.name) is not None}
        out[spec.name] = value
    if "id" in obj and "id" not in out and any(s.name == "id" for s in specs):
        out["id"] = obj["id"]
    return out


# --- paging ---------------------------------------------------------------------------------


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"fakecursor:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, offset = text.partition(":")
        if prefix != "fakecursor":
            raise ValueError
        return max(int(offset), 0)
    except (ValueError, UnicodeDecodeError):
        raise invalid_param("Invalid cursor", subcode=1357046) from None


def page_limit(params: dict[str, str], default: int, maximum: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_param("Param limit must be an integer") from None
    if limit < 1:
        raise invalid_param("Param limit must be a positive integer")
    return min(limit, maximum)


def paged(
    items: Sequence[Any],
    url: str,
    query: dict[str, str],
    *,
    default_limit: int,
    max_limit: int,
    empty: bool = False,
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of `items` from the `after` cursor. `next` repeats the request's query (with
    its access_token, if it came in the query) with the new cursor; it is absent on the last
    page. `empty` answers a page with no rows that still points at the same rows next."""
    limit = page_limit(query, default_limit, max_limit)
    offset = decode_cursor(query["after"]) if query.get("after") else 0
    chunk = [] if empty else list(items[offset : offset + limit])
    body: dict[str, Any] = {"data": chunk}
    following = offset if empty else offset + limit
    paging: dict[str, Any] = {}
    if chunk or empty:
        paging["cursors"] = {"before": encode_cursor(offset), "after": encode_cursor(following)}
    base = {k: v for k, v in query.items() if k not in ("after", "before")}
    base["limit"] = str(limit)
    if following < len(items):
        paging["next"] = f"{url}?{urlencode({**base, 'after': encode_cursor(following)})}"
    if offset > 0 and not empty:
        before = encode_cursor(max(offset - limit, 0))
        paging["previous"] = f"{url}?{urlencode({**base, 'before': before})}"
    if paging:
        body["paging"] = paging
    if summary is not None:
        body["summary"] = summary
    return body
