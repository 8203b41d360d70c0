"""The "Run a backtest" form: starts the same backtest job, with the same audit, as the API."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.backtest import service as backtests
from adpilot.backtest.routes import BacktestStart
from adpilot.dashboard.control import field_sentence
from adpilot.dashboard.queue import Outcome
from adpilot.deps import AppContext
from adpilot.kit import idempotency
from adpilot.layers.models import Layer, Project
from adpilot.runs import service as runs_service

TRIGGER_SCOPE = "ads:write:optimizer_trigger"
MAX_WEEKS = backtests.MAX_WEEKS
WEEKS_WORDS = f"Weeks must be a whole number from 1 to {MAX_WEEKS}."


def may_start(principal: Principal) -> bool:
    return principal.has_scope(TRIGGER_SCOPE)


def new_form_key() -> str:
    """A fresh key per rendered form: sending that form twice (a double click, a resend) starts
    one backtest, while the next rendering of the page may start another."""
    return secrets.token_urlsafe(18)


def parse_weeks(form: Mapping[str, str]) -> int:
    """The form's weeks, checked by the API's own body model; blank means the API's default."""
    raw = form.get("weeks", "").strip()
    if not raw:
        return MAX_WEEKS
    if not raw.isdigit():
        raise ValueError(WEEKS_WORDS)
    try:
        # layerId is filled in for the model only; the layer comes from the page's path.
        return BacktestStart.model_validate({"layerId": "-", "weeks": int(raw)}).weeks
    except ValidationError as err:
        raise ValueError(field_sentence(err)) from None


def _answer(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def start(
    ctx: AppContext,
    principal: Principal,
    request_id: str,
    project: Project,
    layer: Layer,
    form: Mapping[str, str],
) -> Outcome:
    if not may_start(principal):
        return Outcome(
            False, f"This key may not start backtests: it lacks the {TRIGGER_SCOPE} scope."
        )
    try:
        weeks = parse_weeks(form)
    except ValueError as why:
        return Outcome(False, str(why))
    layer_id = layer.id
    # Fingerprinted as the API's request would be, so a resend with other weeks is refused.
    api_body = json.dumps({"layerId": layer_id, "weeks": weeks}).encode()
    path = f"/v1/projects/{project.id}/ads/optimizer/backtest"
    fp = idempotency.fingerprint("POST", path, "", api_body)

    def handler(session: Session) -> idempotency.WriteResult:
        found = runs_service.load_layer(session, project, layer_id)
        job, bt = backtests.start(
            session, layer=found, weeks=weeks, principal=principal, request_id=request_id
        )
        return idempotency.WriteResult(202, backtests.envelope(job, bt))

    key = form.get("form_key", "").strip() or new_form_key()
    try:
        response = idempotency.run_keyed(
            ctx.session_factory,
            principal.organization_id,
            f"dashboard:{key}",
            fp,
            request_id,
            handler,
        )
    except errors.ApiError as err:
        if err.status == 404:
            raise
        return Outcome(False, _refusal(err))
    body = _answer(response)
    if response.status_code >= 400:  # a refusal kept by the key, replayed
        return Outcome(False, str(body["error"]["message"]))
    if response.headers.get("Idempotent-Replayed"):
        return Outcome(True, "This backtest was already started; it is shown below.")
    return Outcome(True, f"Backtest started: replaying the last {weeks} weeks. Nothing is applied.")


def _refusal(err: errors.ApiError) -> str:
    if (err.details or {}).get("subcode") == "IDEMPOTENCY_IN_PROGRESS":
        return "This backtest is being started; it appears below in a moment."
    if err.code == "IDEMPOTENCY_CONFLICT":
        return "This form already started a different backtest. Reload the page and try again."
    return err.message
