"""One error type and one envelope: every 4xx/5xx body is {"error": {code, message, …}}."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
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
    return ApiError(404, "NOT_FOUND", f"{what} was not found.")


def validation(field: str, problem: str, *more: tuple[str, str]) -> ApiError:
    fields = [{"field": field, "problem": problem}] + [{"field": f, "problem": p} for f, p in more]
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
