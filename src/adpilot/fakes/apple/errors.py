"""Apple v1 error answers: `{"error": {"code", "message", "details"}}`, or the older
`{"error": {"errors": [{"code", "message"}]}}` the docs still show for not-found."""

from __future__ import annotations

from typing import Any

from adpilot.sim.market import SimError


class ApiFailure(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        *,
        legacy: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.legacy = legacy
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        if self.legacy:
            items = self.details or [{"code": self.code, "message": self.message}]
            return {"error": {"errors": items}}
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str, detail_code: str = "INVALID_VALUE", field: str = "") -> ApiFailure:
    detail = {"code": detail_code, "message": message}
    if field:
        detail["field"] = field
    return ApiFailure(400, "VALIDATION_ERROR", "Validation errors found", [detail])


def not_found(kind: str, entity_id: str) -> ApiFailure:
    label = {"adgroup": "AdGroup", "adaccount": "AdAccount"}.get(kind, kind.capitalize())
    return ApiFailure(
        404,
        "not_found",
        f"{label} with id '{entity_id}' not found.",
        [
            {
                "code": f"{kind.upper()}_NOT_FOUND",
                "message": f"{label} with id '{entity_id}' not found.",
            }
        ],
        legacy=True,
    )


def from_sim(exc: SimError) -> ApiFailure:
    if exc.kind == "not_found":
        return ApiFailure(404, "not_found", exc.message, legacy=True)
    return invalid(exc.message, "INVALID_STATE" if exc.kind == "invalid_state" else "INVALID_VALUE")
