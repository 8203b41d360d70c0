"""The customer's controls from dashboard forms: authority, kill switch, ceiling, write classes
and layer settings, each applied through the same service (and audit) as the API."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.dashboard import format as fmt
from adpilot.dashboard.queue import Outcome
from adpilot.db import transaction
from adpilot.deps import AppContext
from adpilot.gate import service as gate_service
from adpilot.gate.policy import AXES, MODES
from adpilot.gate.schemas import CampaignAuthorityPatch, DefaultsPatch
from adpilot.layers import service as layers_service
from adpilot.layers.models import Layer
from adpilot.layers.schemas import LayerSettingsPatch, WriteClassesPatch
from adpilot.platforms.base import ACTION_TYPES

POLICY_SCOPE = "ads:write:policy"


class Refused(Exception):
    """A form value a person can correct: shown as the sentence given."""


def may_change(principal: Principal) -> bool:
    return principal.has_scope(POLICY_SCOPE)


def _modes(form: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """The axes a form sets (`creative=auto` or `ceiling_creative=auto`); blanks are left alone."""
    chosen = {}
    for axis in AXES:
        value = form.get(f"{prefix}{axis}", "").strip()
        if not value:
            continue
        if value not in MODES:
            raise Refused(f"The {axis} axis must be off, draft or auto.")
        chosen[axis] = value
    if not chosen:
        raise Refused("Choose a mode for at least one axis.")
    return chosen


def money_cents(raw: str, field: str) -> int | None:
    """`12.50`, `$1,200` → cents; blank → None (back to the default)."""
    text = raw.strip().lstrip("$€£¥").replace(",", "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Refused(f"{field} must be an amount such as 12.50.") from None
    if value <= 0:
        raise Refused(f"{field} must be more than zero.")
    return int((value * 100).to_integral_value())


def field_sentence(err: ValidationError) -> str:
    first = err.errors()[0]
    # The body's field names are camelCase (`creativeSlots`): say them as words.
    names = [re.sub(r"(?<!^)(?=[A-Z])", "_", p).lower() for p in first["loc"] if isinstance(p, str)]
    where = fmt.label(names[-1]) if names else "Value"
    return f"{where}: {first['msg'].rstrip('.')}."


def _refusal(err: errors.ApiError) -> str:
    fields = (err.details or {}).get("fields")
    if err.code == "VALIDATION" and fields:
        problem = fields[0]
        return f"{fmt.label(problem['field'].split('.')[-1])}: {problem['problem']}."
    return err.message


def _modes_words(modes: Mapping[str, str]) -> str:
    return ", ".join(f"{axis} {mode}" for axis, mode in modes.items())


def defaults_body(form: Mapping[str, str]) -> tuple[DefaultsPatch, str]:
    modes = _modes(form)
    body = DefaultsPatch.model_validate({"defaults": modes})
    return body, f"Defaults saved: {_modes_words(modes)}."


def ceiling_body(form: Mapping[str, str]) -> tuple[DefaultsPatch, str]:
    modes = _modes(form, "ceiling_")
    body = DefaultsPatch.model_validate({"ceiling": modes})
    return body, f"Ceiling saved: {_modes_words(modes)}."


def kill_switch_body(form: Mapping[str, str], platform: str) -> tuple[DefaultsPatch, str]:
    turn_on = form.get("active") == "on"
    if form.get("active") not in ("on", "off"):
        raise Refused("Say whether to turn the kill switch on or off.")
    body = DefaultsPatch.model_validate({"killSwitchActive": turn_on})
    where = fmt.platform_name(platform)
    if turn_on:
        return body, f"Kill switch on: adpilot sends nothing to {where} until you turn it off."
    return body, f"Kill switch off: changes to {where} follow the authority settings again."


def campaign_body(form: Mapping[str, str]) -> tuple[CampaignAuthorityPatch, str]:
    if form.get("action") == "unpin":
        return CampaignAuthorityPatch.model_validate({"authority": None}), (
            "Unpinned: this campaign follows the layer defaults again."
        )
    modes = _modes(form)
    body = CampaignAuthorityPatch.model_validate({"authority": modes})
    return body, f"Pinned to this campaign: {_modes_words(modes)}."


def write_classes_body(form: Mapping[str, str]) -> tuple[WriteClassesPatch, str]:
    # A checkbox left unticked sends nothing, so every class the form showed is named in `shown`.
    shown = [name for name in form.get("shown", "").split(",") if name in ACTION_TYPES]
    if not shown:
        raise Refused("The form named no write classes. Reload the page and try again.")
    flags = {name: form.get(f"class_{name}") == "on" for name in shown}
    body = WriteClassesPatch.model_validate({"writeClasses": flags})
    off = [fmt.label(n).lower() for n, on in flags.items() if not on]
    return body, "Write classes saved." + (f" Disabled: {', '.join(off)}." if off else "")


def settings_body(form: Mapping[str, str]) -> tuple[LayerSettingsPatch, str]:
    raw: dict[str, Any] = {"targetCpaCents": money_cents(form.get("target_cpa", ""), "Target CPA")}
    schedule = form.get("schedule", "").strip()
    raw["schedule"] = schedule or None
    slots = form.get("creative_slots", "").strip()
    if slots:
        if not slots.isdigit():
            raise Refused("Creative slots must be a whole number from 1 to 10.")
        raw["creativeSlots"] = int(slots)
    return LayerSettingsPatch.model_validate(raw), "Settings saved."


def change_layer(
    ctx: AppContext,
    principal: Principal,
    request_id: str | None,
    layer: Layer,
    what: str,
    form: Mapping[str, str],
) -> Outcome:
    """One of the layer's forms (`defaults`, `ceiling`, `kill-switch`, `write-classes`,
    `settings`) through its service."""
    parsers: dict[str, tuple[Callable[[], tuple[Any, str]], Callable[..., dict[str, Any]]]] = {
        "defaults": (lambda: defaults_body(form), gate_service.patch_defaults),
        "ceiling": (lambda: ceiling_body(form), gate_service.patch_defaults),
        "kill-switch": (
            lambda: kill_switch_body(form, layer.platform),
            gate_service.patch_defaults,
        ),
        "write-classes": (lambda: write_classes_body(form), layers_service.patch_write_classes),
        "settings": (lambda: settings_body(form), layers_service.patch_layer_settings),
    }
    if what not in parsers:
        raise errors.not_found(f"Setting {what}")
    parse, service = parsers[what]
    return _run(ctx, principal, request_id, parse, service, layer.id)


def change_campaign(
    ctx: AppContext,
    principal: Principal,
    request_id: str | None,
    layer: Layer,
    campaign_id: str,
    form: Mapping[str, str],
) -> Outcome:
    return _run(
        ctx,
        principal,
        request_id,
        lambda: campaign_body(form),
        gate_service.patch_campaign_authority,
        layer.id,
        campaign_id,
    )


def _run(
    ctx: AppContext,
    principal: Principal,
    request_id: str | None,
    parse: Callable[[], tuple[Any, str]],
    service: Callable[..., dict[str, Any]],
    *args: Any,
) -> Outcome:
    """Parse the form, then run `service(session, *args, body, principal=…, request_id=…)` in one
    transaction, as the API's write does; refusals come back as sentences."""
    if not may_change(principal):
        return Outcome(
            False, "This key may not change settings: it lacks the ads:write:policy scope."
        )
    try:
        body, done = parse()
        with transaction(ctx.session_factory) as session:
            service(session, *args, body, principal=principal, request_id=request_id)
    except Refused as why:
        return Outcome(False, str(why))
    except ValidationError as err:
        return Outcome(False, field_sentence(err))
    except errors.ApiError as err:
        if err.status == 404:
            raise
        return Outcome(False, _refusal(err))
    return Outcome(True, done)
