"""Held, denied and failed reasons as sentences a customer reads, from the engine's
machine-readable `prefix: detail` strings (which the API keeps as they are)."""

from __future__ import annotations

import re

from adpilot.dashboard.format import label

# Why a proposal was held, denied or not sent, by the reason's prefix.
LEADS = {
    "too_young": "Held because it is too new to judge",
    "min_impressions": "Held until there is enough data",
    "min_spend": "Held until there is enough data",
    "protected_class": "Held to protect a strong performer",
    "last_active": "Held so that nothing is left without delivery",
    "budget_step": "Held because the budget step is larger than allowed",
    "min_budget": "Held because the budget would fall below the minimum",
    "run_cap": "Held because this run already made as many changes as allowed",
    "cooldown": "Held during a cool-down after a recent change",
    "platform_limit": "Held to stay within the platform's limit",
    "low_confidence": "Held because adpilot is not confident enough",
    "recently_rejected": "Held because you rejected the same change recently",
    "stale": "Not sent because the value on the platform changed after the proposal",
    "canceled": "Not sent",
}
WHOLE = {
    "write_class_disabled": "Held because this kind of change is off in the write classes.",
    "authority_axis_off": "Denied because authority for this kind of change is off.",
    "kill_switch_active": "Denied because the kill switch is on: nothing is sent.",
    "ad_account_disconnected": "Not sent because the ad account was disconnected.",
}
_ACTION = re.compile(
    r"\b(pause_ad|pause_adset|update_budget|update_targeting|update_schedule|push_creative"
    r"|replace_creative|prune_creative)\b"
)
_HOURS_AGO = re.compile(r"\b(\d+)h ago\b")
_HOURS = re.compile(r"\b(\d+(?:\.\d+)?)h\b")
_CONFIDENCE = re.compile(r"^(\d\.\d+) < (\d\.\d+)$")


def _ago(match: re.Match[str]) -> str:
    hours = int(match.group(1))
    if hours == 0:
        return "less than an hour ago"
    return f"{hours} hour{'s' if hours != 1 else ''} ago"


def _detail(prefix: str, detail: str) -> str:
    found = _CONFIDENCE.match(detail) if prefix == "low_confidence" else None
    if found:
        have, need = (round(100 * float(v)) for v in found.groups())
        return f"{have}% confident, at least {need}% required"
    detail = _ACTION.sub(lambda m: label(m.group(1)).lower(), detail)
    detail = _HOURS_AGO.sub(_ago, detail)
    return _HOURS.sub(lambda m: f"{m.group(1)} hours", detail)


def sentence(reason: str | None, *, mode: str | None = None) -> str | None:
    """`cooldown: pause_adset queued 0h ago (72h structural cooldown)` → `Held during a
    cool-down after a recent change: pause ad set queued less than an hour ago (72 hours
    structural cooldown).`"""
    if not reason:
        return None
    if reason in WHOLE:
        return WHOLE[reason]
    prefix, sep, detail = reason.partition(":")
    if sep and prefix in LEADS:
        text = f"{LEADS[prefix]}: {_detail(prefix, detail.strip())}"
    else:
        text = reason[:1].upper() + reason[1:]
    return text if text.endswith(".") else f"{text}."
