"""Compact, deterministic JSON bytes for responses (so replays are byte-for-byte)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from adpilot.kit.clock import isoformat


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, default=_default, separators=(",", ":"), ensure_ascii=False).encode()
