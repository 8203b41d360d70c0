"""Fault injection for sandbox accounts: queued failures kept in the state, across processes."""

from __future__ import annotations

from typing import Any, Literal

from adpilot.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformName,
    PlatformRejected,
    PlatformTransientError,
)
from adpilot.platforms.sandbox.store import SandboxStore

FaultKind = Literal[
    "transient",  # 5xx-like failure before anything changed
    "rate_limited",  # throttled before anything changed
    "rejected",  # permanent refusal
    "lost_response",  # the write is applied, but the caller sees a transient error
    "auth_expired",
    "auth_invalid",
]
FaultOp = Literal["apply", "read", "any"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "transient",
    "rate_limited",
    "rejected",
    "lost_response",
    "auth_expired",
    "auth_invalid",
)

# Each platform's own code for the failure, so callers see what the real API would send.
_CODES: dict[FaultKind, dict[PlatformName, str]] = {
    "transient": {"meta": "2", "tiktok": "50000", "apple": "internal_server_error"},
    "rate_limited": {"meta": "17", "tiktok": "40100", "apple": "rate_limit_exceeded"},
    "rejected": {"meta": "100", "tiktok": "40002", "apple": "VALIDATION_ERROR"},
    "lost_response": {"meta": "2", "tiktok": "50000", "apple": "internal_server_error"},
    "auth_expired": {"meta": "190/463", "tiktok": "40102", "apple": "unauthorized"},
    "auth_invalid": {"meta": "190/467", "tiktok": "40105", "apple": "unauthorized"},
}
_MESSAGES: dict[FaultKind, str] = {
    "transient": "An unexpected error has occurred. Please retry your request later.",
    "rate_limited": "Requests made too frequently. Please try again later.",
    "rejected": "Invalid parameter",
    "lost_response": "The request timed out before a response was received.",
    "auth_expired": "Error validating access token: Session has expired.",
    "auth_invalid": "Invalid OAuth access token.",
}


def add_fault(
    state: dict[str, Any],
    kind: FaultKind,
    count: int = 1,
    *,
    op: FaultOp = "apply",
    code: str | None = None,
    message: str | None = None,
    retry_after: float | None = None,
) -> None:
    """Queue `count` failures of `kind` for the next matching calls (`op`: apply, read or any)."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}")
    if count < 1:
        raise ValueError("count must be at least 1")
    entry = {
        "kind": kind,
        "op": op,
        "remaining": int(count),
        "code": code,
        "message": message,
        "retry_after": retry_after,
    }
    # Replace, never mutate in place: stores may hand out shallow copies.
    state["faults"] = [*state.get("faults", []), entry]


def inject_fault(
    store: SandboxStore,
    account_key: str,
    kind: FaultKind,
    count: int = 1,
    *,
    op: FaultOp = "apply",
    code: str | None = None,
    message: str | None = None,
    retry_after: float | None = None,
) -> None:
    """`add_fault` in its own store transaction (what a test or another process calls)."""
    with store.transaction(account_key) as state:
        add_fault(state, kind, count, op=op, code=code, message=message, retry_after=retry_after)


def clear_faults(state: dict[str, Any]) -> None:
    state["faults"] = []


def pending_faults(state: dict[str, Any]) -> int:
    return sum(int(f["remaining"]) for f in state.get("faults", []))


def take_fault(state: dict[str, Any], op: Literal["apply", "read"]) -> dict[str, Any] | None:
    """Consume one queued fault matching `op` (oldest first), or None."""
    queue = [dict(f) for f in state.get("faults", [])]
    for fault in queue:
        if fault["op"] in (op, "any"):
            taken = dict(fault)
            fault["remaining"] = int(fault["remaining"]) - 1
            state["faults"] = [f for f in queue if int(f["remaining"]) > 0]
            return taken
    return None


def fault_error(fault: dict[str, Any], platform: PlatformName) -> PlatformError:
    """The exception a queued fault raises, with the platform's code for it."""
    kind: FaultKind = fault["kind"]
    code = fault.get("code") or _CODES[kind][platform]
    message = fault.get("message") or _MESSAGES[kind]
    if kind in ("transient", "rate_limited", "lost_response"):
        retry_after = fault.get("retry_after")
        if retry_after is None and kind == "rate_limited":
            retry_after = 60.0
        return PlatformTransientError(message, platform_code=code, retry_after=retry_after)
    if kind == "rejected":
        return PlatformRejected(message, platform_code=code)
    return PlatformAuthError(
        message,
        platform_code=code,
        token_status="expired" if kind == "auth_expired" else "invalid",
    )
