"""The two spellings of platform names (SPEC §1): `meta_ads` in bodies, `meta` in paths."""

from __future__ import annotations

from adpilot import errors

LONG_TO_SHORT = {"meta_ads": "meta", "tiktok_ads": "tiktok", "apple_ads": "apple"}
SHORT_TO_LONG = {v: k for k, v in LONG_TO_SHORT.items()}


def to_short(name: str) -> str | None:
    """Either spelling → the short one; None when unknown."""
    if name in SHORT_TO_LONG:
        return name
    return LONG_TO_SHORT.get(name)


def to_long(short: str) -> str:
    return SHORT_TO_LONG[short]


def path_platform(segment: str) -> str:
    """Validate a `{platform}` path segment (either spelling accepted); unknown → 422."""
    short = to_short(segment)
    if short is None:
        raise errors.validation("platform", "must be one of meta, tiktok, apple")
    return short
