"""Plausible names for simulated campaigns, ad sets and creatives."""

from __future__ import annotations

import random

from adpilot.platforms.base import PlatformName

_OBJECTIVES = ("Installs", "Purchases", "Signups", "Trials", "Subscriptions")
_SCOPES = ("Broad", "Prospecting", "Retargeting", "Lookalikes", "Interests", "Evergreen", "Scale")
_AUDIENCES = (
    "US 18-34",
    "US 35-54",
    "Broad 18+",
    "Lookalike 1%",
    "Lookalike 3%",
    "Interest: fitness",
    "Interest: finance",
    "Engaged 30d",
    "Site visitors 14d",
    "Women 25-44",
    "Men 25-44",
    "Advantage+ audience",
    "iOS only",
    "Android only",
)
_APPLE_CAMPAIGNS = ("Brand", "Category", "Competitor", "Discovery", "Generic")
_APPLE_GROUPS = ("exact", "broad", "search match", "long tail", "high intent")
_STYLES = (
    "hook",
    "testimonial",
    "demo",
    "unboxing",
    "before-after",
    "static",
    "carousel",
    "meme",
    "founder story",
    "tutorial",
    "review",
    "offer",
)
_POOLS = ("UGC", "Studio", "Generated", "Motion", "Static")


def campaign_name(platform: PlatformName, i: int, rng: random.Random) -> str:
    if platform == "apple":
        return f"{_APPLE_CAMPAIGNS[i % len(_APPLE_CAMPAIGNS)]} — {i + 1:02d}"
    objective = _OBJECTIVES[rng.randrange(len(_OBJECTIVES))]
    return f"{objective} — {_SCOPES[i % len(_SCOPES)]} {i + 1:02d}"


def adset_name(platform: PlatformName, i: int, rng: random.Random) -> str:
    if platform == "apple":
        return f"{_APPLE_GROUPS[rng.randrange(len(_APPLE_GROUPS))]} {i + 1:03d}"
    return f"{_AUDIENCES[rng.randrange(len(_AUDIENCES))]} #{i + 1}"


def creative_name(i: int, rng: random.Random) -> str:
    pool = _POOLS[rng.randrange(len(_POOLS))]
    style = _STYLES[rng.randrange(len(_STYLES))]
    return f"{pool} {style} {i + 1:03d}"
