"""The outcome estimator: lag-aware, against a forecast and unchanged comparables."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from adpilot.engine import evaluate
from adpilot.engine.outcomes import (
    Claim,
    Forecast,
    LagCurve,
    NotMatured,
    OutcomeInput,
    Series,
    estimate_outcome,
    matures_at,
)
from tests.helpers_engine import budget_account, fatigued_account, of_type

CHANGED = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
TARGET = 1000.0
LAG = LagCurve()


def series(
    spend_before: float,
    cpa_before: float,
    spend_after: float,
    cpa_after: float,
    seed: int,
    days_before: int = 14,
    days_after: int = 14,
    as_of: dt.datetime | None = None,
) -> Series:
    """Poisson daily conversions around CHANGED; recent days thinned by the attribution lag."""
    rng = np.random.default_rng(seed)
    first = CHANGED.date() - dt.timedelta(days=days_before)
    dates, spend, conv = [], [], []
    for n in range(days_before + days_after):
        d = first + dt.timedelta(days=n)
        s, cpa = (spend_before, cpa_before) if d < CHANGED.date() else (spend_after, cpa_after)
        c = float(rng.poisson(s / cpa))
        if as_of is not None:
            end = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), dt.UTC)
            c = float(np.floor(c * LAG.share_at((as_of - end) / dt.timedelta(days=1))))
        dates.append(d)
        spend.append(s)
        conv.append(c)
    return Series(dates, spend, conv)


def judged_at(horizon: int = 14) -> dt.datetime:
    return matures_at(CHANGED, horizon, LAG, 0.95)


def flat_comparables(n: int = 4, rise: float = 1.0) -> list[Series]:
    return [series(5000, 1000, 5000, 1000 / rise, seed=100 + i) for i in range(n)]


def test_a_change_cannot_be_judged_before_its_attribution_window_matures() -> None:
    due = judged_at(7)
    # Seven whole days from the change day, plus the seven days the lag curve needs for 95%.
    assert due == dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
    inp = OutcomeInput(
        changed_at=CHANGED,
        as_of=due - dt.timedelta(hours=1),
        horizon_days=7,
        entity=series(10_000, 1000, 10_000, 1000, seed=1),
        no_change=Forecast(10_000, 10.0, 100.0),
        value_cents=TARGET,
    )
    with pytest.raises(NotMatured):
        estimate_outcome(inp)
    assert estimate_outcome(dataclasses.replace(inp, as_of=due)).horizon_days == 7


def test_a_budget_raise_that_buys_conversions_under_target_worked() -> None:
    # +50% budget, the extra spend converting at $5: well under the $10 target.
    entity = series(20_000, 1000, 30_000, 30_000 / 40.0, seed=2)
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=judged_at(),
            horizon_days=14,
            entity=entity,
            no_change=Forecast(20_000, 20.0, 280.0),
            change=Forecast(30_000, 38.0, 280.0),
            comparables=flat_comparables(),
            value_cents=TARGET,
        )
    )
    assert out.verdict == "worked", out.reason
    assert out.p_true is not None and out.p_true > 0.975
    assert out.effect_low > 0 and out.came_true is True
    assert out.predicted_conversions == pytest.approx(38.0 * 14, rel=0.05)
    assert out.reason.startswith("Worked:")


def test_a_pause_that_cost_conversions_at_the_same_spend_backfired() -> None:
    entity = series(20_000, 1000, 20_000, 2000, seed=3)
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=judged_at(),
            horizon_days=14,
            entity=entity,
            no_change=Forecast(20_000, 20.0, 280.0),
            comparables=flat_comparables(),
            value_cents=TARGET,
        )
    )
    assert out.verdict == "backfired", out.reason
    assert out.p_true is not None and out.p_true < 0.025 and out.came_true is False


def test_a_market_wide_rise_is_not_credited_to_the_change() -> None:
    # Every entity converts 40% more after the date; the changed one no more than the rest.
    entity = series(20_000, 1000, 20_000, 1000 / 1.4, seed=4)
    inp = OutcomeInput(
        changed_at=CHANGED,
        as_of=judged_at(),
        horizon_days=14,
        entity=entity,
        no_change=Forecast(20_000, 20.0, 280.0),
        comparables=flat_comparables(6, rise=1.4),
        value_cents=TARGET,
    )
    out = estimate_outcome(inp)
    assert out.verdict != "worked", out.reason
    assert out.drift == pytest.approx(1.4, rel=0.15)
    # A before/after comparison (no comparables) would have called it a win.
    naive = estimate_outcome(dataclasses.replace(inp, comparables=()))
    assert naive.effect_value > out.effect_value + 50


def test_unreported_recent_conversions_are_counted_at_their_expected_total() -> None:
    as_of = judged_at()
    reported = series(20_000, 1000, 20_000, 1000, seed=5, as_of=as_of)
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=as_of,
            horizon_days=14,
            entity=reported,
            no_change=Forecast(20_000, 20.0, 280.0),
            comparables=flat_comparables(),
            value_cents=TARGET,
        )
    )
    raw = sum(reported.conversions[14:])
    assert out.observed_conversions > raw
    assert out.verdict in ("no_effect", "inconclusive"), out.reason


def test_too_little_data_is_inconclusive_and_says_so() -> None:
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=judged_at(),
            horizon_days=14,
            entity=series(500, 5000, 500, 5000, seed=6),
            no_change=Forecast(500, 0.1, 3.0),
            value_cents=TARGET,
        )
    )
    assert out.verdict == "inconclusive" and not out.estimable
    assert "Too little data" in out.reason and out.came_true is None


def test_an_entity_changed_again_inside_the_horizon_is_inconclusive() -> None:
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=judged_at(),
            horizon_days=14,
            entity=series(20_000, 1000, 20_000, 1000, seed=7),
            no_change=Forecast(20_000, 20.0, 280.0),
            value_cents=TARGET,
            changed_again_at=CHANGED + dt.timedelta(days=3),
        )
    )
    assert out.verdict == "inconclusive" and "changed again" in out.reason


def test_a_prediction_not_sent_is_confirmed_or_refuted_by_what_happened() -> None:
    base = OutcomeInput(
        changed_at=CHANGED,
        as_of=judged_at(),
        horizon_days=14,
        entity=series(5000, 2000, 5000, 2000, seed=8),
        no_change=Forecast(5000, 2.5, 40.0),
        value_cents=TARGET,
        sent=False,
        claim=Claim("above", TARGET),
    )
    kept_losing = estimate_outcome(base)
    assert kept_losing.verdict == "confirmed", kept_losing.reason
    assert "it did." in kept_losing.reason
    recovered = estimate_outcome(
        dataclasses.replace(base, entity=series(5000, 2000, 5000, 500, seed=9))
    )
    assert recovered.verdict == "refuted" and "did not" in recovered.reason


def test_outcomes_serialise_to_camel_case_json() -> None:
    out = estimate_outcome(
        OutcomeInput(
            changed_at=CHANGED,
            as_of=judged_at(),
            horizon_days=14,
            entity=series(20_000, 1000, 20_000, 1000, seed=10),
            no_change=Forecast(20_000, 20.0, 280.0),
            value_cents=TARGET,
        )
    )
    body = out.to_json()
    assert {"verdict", "reason", "effectLow", "effectHigh", "pTrue", "horizonDays"} <= set(body)


def test_every_proposal_records_its_no_change_and_change_forecasts() -> None:
    b, _ids = budget_account()
    result = evaluate(b.build())
    raises = [
        p
        for p in of_type(result, "update_budget")
        if p.new_value["dailyBudgetCents"] > p.current_value["dailyBudgetCents"]
    ]
    assert raises
    fc = raises[0].evidence["forecast"]
    assert fc["judged"] == {"entityType": "adset", "entityId": raises[0].entity_id}
    no_change, change = Forecast.from_json(fc["noChange"]), Forecast.from_json(fc["change"])
    assert no_change.spend_cents_per_day == pytest.approx(6000, rel=0.01)
    assert change.spend_cents_per_day > no_change.spend_cents_per_day
    # Saturation: the extra spend converts, but at a dearer margin than the average.
    assert change.conversions_per_day > no_change.conversions_per_day
    gained = change.conversions_per_day - no_change.conversions_per_day
    extra = change.spend_cents_per_day - no_change.spend_cents_per_day
    assert extra / gained > no_change.spend_cents_per_day / no_change.conversions_per_day
    assert fc["claim"]["side"] == "below"

    fb, tired = fatigued_account(with_creative=False)
    paused = [p for p in evaluate(fb.build()).proposals if p.entity_id == tired]
    assert paused and paused[0].evidence["forecast"]["claim"]["side"] == "above"
    assert paused[0].evidence["forecast"]["judged"]["entityType"] == "adset"


def test_overconfident_proposals_are_recalibrated_towards_how_often_they_came_true() -> None:
    from adpilot.engine.calibration import fit_recalibration, reliability

    rng = np.random.default_rng(11)
    conf = rng.uniform(0.55, 0.99, 400).tolist()
    # What the engine calls p came true only as often as 0.5 + (p − 0.5) / 2.
    truth = [float(rng.random() < 0.5 + (c - 0.5) / 2) for c in conf]
    raw = reliability(conf, truth)
    assert raw.count == 400 and raw.ece is not None and raw.ece > 0.1
    recal = fit_recalibration(conf, truth)
    assert recal is not None
    fixed = reliability([recal.apply(c) for c in conf], truth)
    assert fixed.ece is not None and fixed.ece < 0.05
    assert fixed.brier is not None and raw.brier is not None and fixed.brier < raw.brier
    assert fit_recalibration(conf[:10], truth[:10]) is None
