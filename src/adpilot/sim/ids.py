"""Platform-looking external ids for simulated entities (numeric strings, TikTok video ids)."""

from __future__ import annotations

import random
import string
from collections.abc import Container
from typing import Literal

from adpilot.platforms.base import PlatformName

IdKind = Literal["account", "campaign", "adset", "ad", "creative"]

_ALNUM = string.ascii_lowercase + string.digits


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def _one(platform: PlatformName, kind: IdKind, rng: random.Random) -> str:
    if platform == "meta":
        if kind == "account":
            return "act_" + str(rng.randrange(1, 10)) + _digits(rng, 14)
        # Graph ids: 18-digit numeric strings (treated as strings, they exceed 2^53).
        return "1202" + _digits(rng, 14)
    if platform == "tiktok":
        if kind == "account":
            return "7" + _digits(rng, 18)
        if kind == "creative":
            # Creatives are videos; TikTok video ids look like "v10033g50000…".
            return "v10033g50000" + "".join(rng.choice(_ALNUM) for _ in range(20))
        return {"campaign": "17", "adset": "18", "ad": "19"}[kind] + _digits(rng, 17)
    # Apple ids are JSON numbers: keep them well below 2^53.
    return str(rng.randrange(1, 10)) + _digits(rng, 8)


def new_external_id(
    platform: PlatformName, kind: IdKind, rng: random.Random, taken: Container[str]
) -> str:
    while True:
        candidate = _one(platform, kind, rng)
        if candidate not in taken:
            return candidate
