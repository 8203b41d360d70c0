"""Outcomes: the periodic sweep, the evaluated-actions list, calibration per layer."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot import jobs
from adpilot.db import read_session, transaction
from adpilot.engine.calibration import Recalibration, fit_recalibration, reliability
from adpilot.engine.outcomes import DEFAULT_HORIZONS
from adpilot.kit.pagination import ListQuery, newest_first_page
from adpilot.layers.models import Layer
from adpilot.outcomes import follow, judge, rollback
from adpilot.outcomes.models import ActionOutcome, Prediction
from adpilot.outcomes.views import outcomes_of, prediction_view
from adpilot.runs.models import OptimizerRun

log = logging.getLogger(__name__)

VERDICTS = ("worked", "no_effect", "backfired", "inconclusive", "confirmed", "refuted")
DISPOSITIONS = ("dispatched", "rejected", "expired", "held", "denied", "dry_run", "dispatch_failed")


def evaluation_workflow_id(prediction_id: str, horizon: int) -> str:
    return f"outcome-{prediction_id}-{horizon}"


def rollback_workflow_id(prediction_id: str) -> str:
    return f"rollback-{prediction_id}"


# --- the sweep -----------------------------------------------------------------------------


def recalibrations(session: Session, layer_id: str) -> dict[str, Recalibration]:
    """Per action type of the layer: the recalibration its judged outcomes support (if any)."""
    pairs: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for action_type, conf, p in session.execute(
        select(Prediction.action_type, Prediction.confidence, ActionOutcome.p_true)
        .join(ActionOutcome, ActionOutcome.prediction_id == Prediction.id)
        .where(
            Prediction.layer_id == layer_id,
            Prediction.reverts_pending_id.is_(None),
            ActionOutcome.horizon_days == Prediction.latest_horizon,
            ActionOutcome.p_true.is_not(None),
        )
    ):
        pairs[action_type][0].append(float(conf))
        pairs[action_type][1].append(float(p or 0.0))
    found = {k: fit_recalibration(c, y) for k, (c, y) in pairs.items()}
    return {k: v for k, v in found.items() if v is not None}


def enroll(
    factory: sessionmaker[Session], now: dt.datetime, horizons: Sequence[int] = DEFAULT_HORIZONS
) -> int:
    added = 0
    with read_session(factory) as session:
        run_ids = follow.unenrolled_runs(session, now)
    for run_id in run_ids:
        with transaction(factory) as session:
            run = session.get(OptimizerRun, run_id)
            layer = session.get(Layer, run.layer_id) if run else None
            if run is None or layer is None:
                continue
            try:
                with session.begin_nested():
                    added += follow.enroll_run(
                        session, run, layer, recalibrations(session, layer.id), now, horizons
                    )
            except Exception:
                # Another worker enrolled it first (the unique run/position): nothing to do.
                log.info("run %s already enrolled", run_id)
    return added


def sweep(
    factory: sessionmaker[Session], now: dt.datetime, horizons: Sequence[int] = DEFAULT_HORIZONS
) -> list[str]:
    """Enroll new runs, start following settled rows, and enqueue every due judgement and
    rollback under deterministic workflow ids; returns the ids enqueued."""
    from adpilot.outcomes.workflows import judge_outcome_workflow, propose_rollback_workflow

    enroll(factory, now, horizons)
    with transaction(factory) as session:
        follow.resolve_waiting(session, now)
        follow.start_following(session, now)
    with read_session(factory) as session:
        # Only horizons whose every day was read after it matured: a judgement enqueued
        # earlier would find nothing to judge and, under its fixed id, never run again.
        due = [(p, h) for p, h in follow.due(session, now) if judge.ready(session, p, h)]
        reverts = rollback.candidates(session, now)
    runtime = jobs.runtime()
    enqueued = []
    for prediction_id, horizon in due:
        wid = evaluation_workflow_id(prediction_id, horizon)
        runtime.enqueue(
            jobs.RUNS_QUEUE, judge_outcome_workflow, prediction_id, horizon, workflow_id=wid
        )
        enqueued.append(wid)
    for prediction_id in reverts:
        wid = rollback_workflow_id(prediction_id)
        runtime.enqueue(jobs.RUNS_QUEUE, propose_rollback_workflow, prediction_id, workflow_id=wid)
        enqueued.append(wid)
    return enqueued


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    verdicts: tuple[str, ...] = ()
    action_types: tuple[str, ...] = ()
    dispositions: tuple[str, ...] = ()
    sent: bool | None = None

    def criteria(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Prediction.evaluated_at.is_not(None)]
        if self.verdicts:
            found.append(Prediction.latest_verdict.in_(self.verdicts))
        if self.action_types:
            found.append(Prediction.action_type.in_(self.action_types))
        if self.dispositions:
            found.append(Prediction.disposition.in_(self.dispositions))
        if self.sent is not None:
            found.append(Prediction.sent.is_(self.sent))
        return found

    def binding(self) -> dict[str, Any]:
        return {
            "verdict": list(self.verdicts),
            "actionType": list(self.action_types),
            "disposition": list(self.dispositions),
            "sent": self.sent,
        }


def _views(session: Session, preds: Sequence[Prediction]) -> list[dict[str, Any]]:
    found = outcomes_of(session, [p.id for p in preds])
    return [prediction_view(p, found[p.id]) for p in preds]


def list_page(
    session: Session,
    *,
    secret: str,
    project_id: str,
    layer_id: str,
    filters: ListFilters,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Evaluated actions of one layer, most recently evaluated first."""
    query = ListQuery(secret, f"outcomes:{project_id}:{layer_id}", filters.binding(), cursor, limit)
    stmt = select(Prediction).where(
        Prediction.project_id == project_id, Prediction.layer_id == layer_id, *filters.criteria()
    )
    page = newest_first_page(
        session,
        query,
        stmt,
        Prediction.evaluated_at,  # type: ignore[arg-type]  # filtered to non-null
        Prediction.id,
        lambda p: p,
    )
    return {"items": _views(session, page.items), "nextCursor": page.next_cursor}  # type: ignore[arg-type]


# --- calibration and the cumulative effect -------------------------------------------------


def _judged(
    session: Session, project_id: str, layer_id: str
) -> list[tuple[Prediction, ActionOutcome]]:
    return [
        (p, o)
        for p, o in session.execute(
            select(Prediction, ActionOutcome)
            .join(ActionOutcome, ActionOutcome.prediction_id == Prediction.id)
            .where(
                Prediction.project_id == project_id,
                Prediction.layer_id == layer_id,
                Prediction.reverts_pending_id.is_(None),
                ActionOutcome.horizon_days == Prediction.latest_horizon,
            )
            .order_by(Prediction.started_at, Prediction.id)
        ).all()
    ]


def calibration(session: Session, *, project_id: str, layer_id: str) -> dict[str, Any]:
    """Reliability tables and Brier scores of the layer's judged proposals: overall and per
    action type, with the recalibration each supports (raw confidence vs how often it held)."""
    judged = [(p, o) for p, o in _judged(session, project_id, layer_id) if o.p_true is not None]
    groups: dict[str, list[tuple[Prediction, ActionOutcome]]] = defaultdict(list)
    for p, o in judged:
        groups[p.action_type].append((p, o))

    def table(rows: list[tuple[Prediction, ActionOutcome]]) -> dict[str, Any]:
        conf = [p.confidence for p, _ in rows]
        label = [float(o.p_true or 0.0) for _, o in rows]
        fit = fit_recalibration(conf, label)
        out: dict[str, Any] = {**reliability(conf, label).to_json()}
        out["recalibration"] = fit.to_json() if fit else None
        if fit is not None:
            out["calibrated"] = reliability([fit.apply(c) for c in conf], label).to_json()
        return out

    platform = judged[0][0].platform if judged else None
    return {
        "layerId": layer_id,
        "platform": platform,
        "overall": table(judged),
        "byActionType": {k: table(v) for k, v in sorted(groups.items())},
    }


def cumulative_effect(session: Session, *, project_id: str, layer_id: str) -> dict[str, Any]:
    """Sum of the sent changes' estimated effects (latest horizon of each), with an interval
    from their independent standard errors, and the running total over time."""
    total = var = 0.0
    conv = spend = 0.0
    series: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for p, o in _judged(session, project_id, layer_id):
        if not p.sent:
            continue
        counts[o.verdict] += 1
        if not o.estimable:
            continue
        d = o.detail
        eff = float(d.get("effectValue") or 0.0)
        se = (float(d.get("effectHigh") or eff) - float(d.get("effectLow") or eff)) / (2 * 1.96)
        total += eff
        var += se * se
        conv += float(d.get("effectConversions") or 0.0)
        spend += float(d.get("effectSpendCents") or 0.0)
        series.append({"at": p.started_at.date().isoformat(), "effectValue": round(total, 2)})
    half = 1.96 * var**0.5
    return {
        "changes": sum(counts.values()),
        "verdicts": dict(counts),
        "effectValue": round(total, 2),
        "effectLow": round(total - half, 2),
        "effectHigh": round(total + half, 2),
        "effectConversions": round(conv, 2),
        "effectSpendCents": round(spend),
        "series": series,
    }
