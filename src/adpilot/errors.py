"""One error type and one envelope: every 4xx/5xx body is {"error": {code, message, …}}."""

from __future__ import annotations

from typing import Any

# Errors quote what a caller sent so it can be recognised, never all of it: a 60 KB query value
# must not come back as a 120 KB error.
QUOTE_CHARS = 64
FIELD_CHARS = 100
PROBLEM_CHARS = 1000
MESSAGE_CHARS = 2000


def clip(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and an ellipsis."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def quote(value: Any) -> str:
    """A short quotation of a caller's value for an error message."""
    shown = str(value)
    if len(shown) <= QUOTE_CHARS:
        return repr(shown)
    return f"{shown[:QUOTE_CHARS]!r}… ({len(shown)} characters)"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = clip(message, MESSAGE_CHARS)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def unauthenticated(message: str = "A valid API key is required.") -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


def forbidden_scope(scope: str) -> ApiError:
    return ApiError(
        403,
        "FORBIDDEN_SCOPE",
        f"This API key lacks the scope {scope!r} required by this route.",
        {"requiredScope": scope},
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{clip(what, FIELD_CHARS)} was not found.")


def validation(field: str, problem: str, *more: tuple[str, str]) -> ApiError:
    pairs = [(clip(f, FIELD_CHARS), clip(p, PROBLEM_CHARS)) for f, p in ((field, problem), *more)]
    fields = [{"field": f, "problem": p} for f, p in pairs]
    field, problem = pairs[0]
    return ApiError(422, "VALIDATION", f"Invalid {field}: {problem}.", {"fields": fields})


def conflict(subcode: str, message: str, **details: Any) -> ApiError:
    return ApiError(409, "CONFLICT", message, {"subcode": subcode, **details})


def authority_denied(reason: str, message: str) -> ApiError:
    return ApiError(403, "AUTHORITY_DENIED", message, {"reason": reason})


def kill_switch(scope: str) -> ApiError:
    what = "API key has been killed" if scope == "key" else "organization is suspended"
    return ApiError(503, "KILL_SWITCH", f"This {what}.", {"scope": scope})


def platform_rejected(message: str, platform_code: str | None) -> ApiError:
    return ApiError(
        422,
        "PLATFORM_REJECTED",
        f"The platform refused the request: {message}",
        {"platformCode": platform_code},
    )


def platform_error(message: str) -> ApiError:
    return ApiError(502, "PLATFORM_ERROR", f"The platform failed or was unreachable: {message}")
