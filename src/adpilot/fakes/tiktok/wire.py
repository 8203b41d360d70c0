"""The fake TikTok's wire vocabulary: error codes and messages, parameter parsing, formats."""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from typing import Any

from adpilot.sim.tables import ACTIVE, DELETED

MESSAGES: dict[int, str] = {
    40000: "Invalid parameters.",
    40002: "Invalid parameters.",
    40007: "The object does not exist.",
    40011: "Too many ids in one request.",
    40016: "Requests made too frequently. Please try again later.",
    40050: "Duplicated request, please do not submit the same request repeatedly.",
    40067: "The query is too large, please narrow the date range.",
    40100: "Requests made too frequently. Please try again later.",
    40102: "Access token has expired. Please re-authorize.",
    40104: "Access token is null, you should set it in http header with key Access-Token.",
    40105: "Access token is incorrect or has been revoked.",
    40106: "The access token is not authorized for this advertiser.",
    40110: "The auth_code is invalid or has already been used.",
    40133: "Requests made too frequently for this advertiser. Please try again later.",
    40200: "Task error.",
    40201: "The task is not ready yet, please try again later.",
    40202: "Write conflict, please try again later.",
    50000: "System error, please try again later.",
    50002: "System error, please try again later.",
    51305: "System busy, please try again later.",
    60001: "The system is under maintenance, please try again later.",
}

PAGE_SIZE_MAX = 1000
# Where CSV_DOWNLOAD report files are served (a signed, token-free link on TikTok).
REPORT_FILES = "/__fake__/report-files/"
IDS_FILTER_MAX = 100
OPERATION_STATUS = {ACTIVE: "ENABLE", DELETED: "DELETE"}  # anything else is DISABLE
STATUS_NAMES = {"ENABLE": "active", "DISABLE": "paused", "DELETE": "deleted"}


class ApiError(Exception):
    """A refusal answered as HTTP 200 with a non-zero `code`."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or MESSAGES.get(code, "Error."))
        self.code = code
        self.message = message or MESSAGES.get(code, "Error.")


def invalid(message: str) -> ApiError:
    return ApiError(40002, message)


def request_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return stamp + secrets.token_hex(12).upper()


def envelope(code: int, message: str, data: Any, rid: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": rid, "data": data}


def json_param(params: dict[str, Any], name: str, default: Any = None) -> Any:
    """A query parameter holding JSON (lists and objects arrive as JSON strings)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        return raw  # already structured (a POST body)
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid(f"{name}: must be valid JSON") from None


def int_param(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name, default)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid(f"{name}: must be an integer") from None


def paging(params: dict[str, Any]) -> tuple[int, int]:
    page = int_param(params, "page", 1)
    size = int_param(params, "page_size", 10)
    if page < 1:
        raise invalid("page: must be at least 1")
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise invalid(f"page_size: must be between 1 and {PAGE_SIZE_MAX}")
    return page, size


def page_info(page: int, size: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "page_size": size,
        "total_number": total,
        "total_page": math.ceil(total / size),
    }


def page_of(items: list[Any], page: int, size: int) -> dict[str, Any]:
    return {
        "list": items[(page - 1) * size : page * size],
        "page_info": page_info(page, size, len(items)),
    }


def id_list(value: Any, name: str, limit: int = IDS_FILTER_MAX) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise invalid(f"{name}: must be a list of ids")
    if len(value) > limit:
        raise ApiError(40011, f"{name}: at most {limit} ids per request")
    return [str(v) for v in value]


def when(unix: int | float) -> str:
    return dt.datetime.fromtimestamp(int(unix), tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def operation_status(code: int) -> str:
    return OPERATION_STATUS.get(int(code), "DISABLE")
