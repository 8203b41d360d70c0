"""Ground-truth checks of adpilot's self-measurement: outcomes, calibration, holdout, backtest.

Only a simulator can make these: it knows what each change truly did. Per seed, three extra runs
of the account share the benchmark's warm-up:

- *measured*: adpilot's engine as in the benchmark; each week's changes are grouped by the entity
  they are judged on (`engine.forecast.judged_entity`) and judged by `engine.outcomes` from
  reported data once their attribution matured (two more quiet weeks close the run). The true
  effect of a group is the change in the judged entity's expected conversions less its change in
  spend priced at the target CPA, over the 7-day horizon, from the simulator's response curves
  just before and just after the writes (the estimator's own effect definition).
- *holdout*: the same engine with `HOLDOUT_SHARE` of the budget holders drawn into a holdout once
  (one period for the whole run); held-out proposals are dropped, and the account's budget is
  held within the treated holders only so that the held-out arm is untouched. The incrementality
  estimate (`holdout.incrementality`) is compared with the true lift: the treated holders'
  expected conversions against theirs in the do-nothing run.
- *do nothing*: nothing changes; its reported history is what a backtest replays
  (`backtest.replay`), and each would-be proposal's claim is checked against the expected (noise
  free) delivery of the week after it.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adpilot.backtest import replay
from adpilot.bench.quality.apply import Ledger, audit_and_apply
from adpilot.bench.quality.observe import observe, reported_window, run_time
from adpilot.bench.quality.truth import adset_truth
from adpilot.engine import calibration
from adpilot.engine.guardrails import apply_guardrails, build_context, split_write_classes
from adpilot.engine.outcomes import (
    Forecast,
    NotMatured,
    OutcomeInput,
    OutcomeSettings,
    Series,
    estimate_outcome,
)
from adpilot.engine.run import evaluate
from adpilot.engine.types import EngineInput, EngineSettings, MetricArrays, Proposal
from adpilot.holdout import incrementality
from adpilot.holdout.assign import assign, budget_holders, held_out
from adpilot.sim.delivery import plan_day
from adpilot.sim.market import Market
from adpilot.sim.tables import ACTIVE

CYCLE_DAYS = 7
HORIZON_DAYS = 7
QUIET_CYCLES = 2  # weeks after the last cycle so its changes mature
HOLDOUT_SHARE = 0.2
MAX_COMPARABLES = 20


# --- the expected (noise-free) delivery, per ad and day ----------------------------------------


@dataclass
class Expected:
    """Per day: expected conversions and spend (dollars) per ad, by the ad's external id."""

    conv: dict[dt.date, dict[str, float]] = field(default_factory=dict)
    spend: dict[dt.date, dict[str, float]] = field(default_factory=dict)

    def record(self, m: Market, day: dt.date) -> None:
        plan = plan_day(m, day.toordinal())
        a_set = m.ads.adset
        lam = plan.impressions[a_set] * plan.share
        conv = lam * plan.ctr * plan.cvr
        spend = lam * plan.cpm_eff[a_set] / 1000.0
        ids = list(m.ads.id)
        self.conv[day] = {ids[i]: float(conv[i]) for i in range(len(ids))}
        self.spend[day] = {ids[i]: float(spend[i]) for i in range(len(ids))}

    def total(self, ads: set[str], days: Sequence[dt.date]) -> tuple[float, float]:
        """(conversions, spend in cents) of `ads` over `days`."""
        c = sum(self.conv.get(d, {}).get(a, 0.0) for d in days for a in ads)
        s = sum(self.spend.get(d, {}).get(a, 0.0) for d in days for a in ads)
        return c, 100.0 * s


def advance_week(m: Market, expected: Expected | None) -> None:
    start = m.through + dt.timedelta(days=1)
    for k in range(CYCLE_DAYS):
        day = start + dt.timedelta(days=k)
        if expected is not None:
            expected.record(m, day)
        m.advance_to(day)


# --- shared helpers ------------------------------------------------------------------------


def _ads_under(inp: EngineInput, entity_id: str) -> set[str]:
    return {a.id for a in inp.ads if entity_id in (a.id, a.adset_id, a.campaign_id)}


def _series(inp: EngineInput, rows: Mapping[str, np.ndarray], entity_id: str) -> Series | None:
    r = rows.get(entity_id)
    if r is None or len(r) == 0:
        return None
    spend = inp.metrics.spend_cents[r].sum(axis=0)
    conv = inp.metrics.conversions[r].sum(axis=0)
    return Series(list(inp.dates), spend.tolist(), conv.tolist())


def _engine_proposals(inp: EngineInput) -> tuple[list[Proposal], Any]:
    result = evaluate(inp)
    enabled, _held = split_write_classes(result.proposals, {})
    return enabled, build_context(inp, result)


def _holder_value(m: Market, kind: str, entity_id: str, value_cents: float) -> float:
    """True conversions per day less spend priced at the target, of one entity, right now."""
    t = adset_truth(m)
    conv = t.a * t.spend / (1.0 + t.spend / np.maximum(t.h, 1e-9))
    if kind == "campaign":
        rows = np.flatnonzero(m.adsets.campaign == m.index_of("campaign", entity_id))
    else:
        rows = np.array([m.index_of("adset", entity_id)])
    on = t.on[rows]
    c = float(np.sum(np.where(on, conv[rows], 0.0)))
    s = float(np.sum(np.where(on, t.spend[rows], 0.0)))
    return c - 100.0 * s / value_cents


# --- outcomes of sent changes ----------------------------------------------------------------


@dataclass
class Group:
    """The changes of one week judged on one entity."""

    at: dt.datetime
    kind: str
    entity_id: str
    confidence: float
    no_change: Forecast
    change: Forecast
    true_effect: float  # over the horizon, in conversions net of spend at the target


@dataclass
class Judgement:
    verdict: str
    confidence: float
    p_true: float | None
    effect: float
    low: float
    high: float
    true_effect: float
    band: float


def _groups(
    m: Market, applied: Sequence[Proposal], at: dt.datetime, value: float
) -> list[tuple[tuple[str, str], list[Proposal], float]]:
    by: dict[tuple[str, str], list[Proposal]] = defaultdict(list)
    for p in applied:
        f = (p.evidence or {}).get("forecast") or {}
        judged = f.get("judged")
        if judged and judged["entityType"] in ("campaign", "adset"):
            by[(judged["entityType"], judged["entityId"])].append(p)
    return [(k, ps, _holder_value(m, k[0], k[1], value)) for k, ps in by.items()]


def _judge(
    g: Group, inp: EngineInput, rows: Mapping[str, np.ndarray], value: float, untouched: list[str]
) -> Judgement | None:
    entity = _series(inp, rows, g.entity_id)
    if entity is None:
        return None
    comps = [s for e in untouched[:MAX_COMPARABLES] if (s := _series(inp, rows, e)) is not None]
    oi = OutcomeInput(
        changed_at=g.at,
        as_of=inp.now,
        horizon_days=HORIZON_DAYS,
        entity=entity,
        no_change=g.no_change,
        change=g.change,
        value_cents=value,
        comparables=comps,
    )
    o = estimate_outcome(oi)
    band = max(OutcomeSettings().practical_share * o.counterfactual_conversions, 2.0)
    return Judgement(
        o.verdict,
        g.confidence,
        o.p_true,
        o.effect_value,
        o.effect_low,
        o.effect_high,
        g.true_effect,
        band,
    )


def measured_run(
    base: Market, target: int, settings: EngineSettings, cycles: int
) -> list[Judgement]:
    m = copy.deepcopy(base)
    ledger = Ledger()
    value = float(target)
    pending: list[Group] = []
    out: list[Judgement] = []
    for cycle in range(cycles + QUIET_CYCLES):
        at = run_time(m)
        inp = observe(m, target_cpa_cents=target, settings=settings, history=ledger.history)
        rows = replay.entity_rows(inp)
        still: list[Group] = []
        for g in pending:
            try:
                # Comparables: holders of the same level with no change in that week.
                changed = {x.entity_id for x in pending if x.at == g.at}
                level = [c.id for c in inp.campaigns] if g.kind == "campaign" else []
                level = level or [s.id for s in inp.adsets]
                j = _judge(g, inp, rows, value, [e for e in level if e not in changed])
            except NotMatured:
                still.append(g)
                continue
            if j is not None:
                out.append(j)
        pending = still
        if cycle < cycles:
            proposals, context = _engine_proposals(inp)
            applied = [g.proposal for g in apply_guardrails(proposals, context) if not g.held]
            before = _groups(m, applied, at, value)
            # No pacing rescale here (unlike the benchmark's policy runs): in production the
            # holders a change did not touch keep their budgets, which is what makes them fair
            # comparables for the outcome estimate.
            audit_and_apply(m, applied, ledger, settings, at)
            for (kind, entity_id), ps, v0 in before:
                if not m.has(kind, entity_id):  # type: ignore[arg-type]
                    continue
                v1 = _holder_value(m, kind, entity_id, value)
                top = max(ps, key=lambda p: p.confidence)
                f = top.evidence["forecast"]
                pending.append(
                    Group(
                        at,
                        kind,
                        entity_id,
                        float(top.confidence),
                        Forecast.from_json(f["noChange"]),
                        Forecast.from_json(f["change"]),
                        (v1 - v0) * HORIZON_DAYS,
                    )
                )
        advance_week(m, None)
    return out


# --- holdout ---------------------------------------------------------------------------------


def _hold_treated(m: Market, camps: np.ndarray, sets: np.ndarray, total: int) -> None:
    """Keep the treated holders' budgets summing to `total`; held-out budgets never move."""
    live_c = camps[m.campaigns.status[camps] == ACTIVE]
    live_s = sets[m.adsets.status[sets] == ACTIVE]
    now = int(m.campaigns.budget[live_c].sum() + m.adsets.budget[live_s].sum())
    if now <= 0 or now == total:
        return
    f = total / now
    p = m.profile
    m.campaigns.budget[live_c] = np.maximum(
        np.rint(m.campaigns.budget[live_c] * f), p.min_campaign_budget_cents
    ).astype(np.int64)
    m.adsets.budget[live_s] = np.maximum(
        np.rint(m.adsets.budget[live_s] * f), p.min_adset_budget_cents
    ).astype(np.int64)


@dataclass(frozen=True)
class HoldoutResult:
    estimate: incrementality.Report
    true_lift: float


def _arm_units(
    inp0: EngineInput,
    reads: Sequence[EngineInput],
    held: Mapping[str, bool],
    post_days: Sequence[dt.date],
) -> list[incrementality.Unit]:
    """One unit per holder: 14 reported days before the run and the run's weeks as reported
    once mature (each week read from the first report two weeks after it)."""
    pre_days = set(inp0.dates[-incrementality.PRE_DAYS :])
    units = []
    rows0 = replay.entity_rows(inp0)
    for holder, is_held in held.items():
        r0 = rows0.get(holder)
        if r0 is None:
            continue
        cols = np.array([j for j, d in enumerate(inp0.dates) if d in pre_days], dtype=np.intp)
        pre_c = float(inp0.metrics.conversions[np.ix_(r0, cols)].sum())
        pre_s = float(inp0.metrics.spend_cents[np.ix_(r0, cols)].sum())
        post_c = post_s = 0.0
        wanted = set(post_days)
        seen: set[dt.date] = set()
        for inp in reads:
            rows = replay.entity_rows(inp).get(holder)
            if rows is None:
                continue
            for j, d in enumerate(inp.dates):
                if d in wanted and d not in seen and (inp.now.date() - d).days >= 14:
                    seen.add(d)
                    post_c += float(inp.metrics.conversions[rows, j].sum())
                    post_s += float(inp.metrics.spend_cents[rows, j].sum())
        units.append(
            incrementality.Unit(
                is_held, pre_c, pre_s, len(pre_days), post_c, post_s, max(len(seen), 1)
            )
        )
    return units


def holdout_run(
    base: Market,
    target: int,
    settings: EngineSettings,
    cycles: int,
    seed_key: str,
    baseline: Expected,
) -> HoldoutResult | None:
    m = copy.deepcopy(base)
    ledger = Ledger()
    inp0 = observe(m, target_cpa_cents=target, settings=settings)
    holders = budget_holders(inp0)
    held = assign(holders, seed_key, HOLDOUT_SHARE, inp0.now.date())
    n_held = sum(held.values())
    if n_held < incrementality.MIN_UNITS or len(held) - n_held < incrementality.MIN_UNITS:
        return None
    camps = np.array(
        [
            m.index_of("campaign", h.entity_id)
            for h in holders
            if h.entity_type == "campaign" and not held[h.entity_id]
        ],
        dtype=np.intp,
    )
    sets = np.array(
        [
            m.index_of("adset", h.entity_id)
            for h in holders
            if h.entity_type == "adset" and not held[h.entity_id]
        ],
        dtype=np.intp,
    )
    treated_total = int(m.campaigns.budget[camps].sum() + m.adsets.budget[sets].sum())
    expected = Expected()
    first = m.through + dt.timedelta(days=1)
    reads: list[EngineInput] = []
    for cycle in range(cycles + QUIET_CYCLES):
        at = run_time(m)
        inp = observe(m, target_cpa_cents=target, settings=settings, history=ledger.history)
        reads.append(inp)
        if cycle < cycles:
            proposals, context = _engine_proposals(inp)
            keep = [
                p
                for p, out in zip(
                    proposals,
                    held_out(proposals, inp, {h for h, v in held.items() if v}),
                    strict=True,
                )
                if not out
            ]
            applied = [g.proposal for g in apply_guardrails(keep, context) if not g.held]
            audit_and_apply(m, applied, ledger, settings, at)
            _hold_treated(m, camps, sets, treated_total)
            advance_week(m, expected)
        else:
            advance_week(m, None)
    post_days = [first + dt.timedelta(days=k) for k in range(cycles * CYCLE_DAYS)]
    treated_ads: set[str] = set()
    for holder, is_held in held.items():
        if not is_held:
            treated_ads |= _ads_under(inp0, holder)
    # Ads the engine added later under treated holders count too.
    last = reads[-1]
    for holder, is_held in held.items():
        if not is_held:
            treated_ads |= _ads_under(last, holder)
    with_c, _ = expected.total(treated_ads, post_days)
    without_c, _ = baseline.total(treated_ads, post_days)
    if without_c <= 0:
        return None
    units = _arm_units(inp0, reads, held, post_days)
    return HoldoutResult(incrementality.estimate(units), with_c / without_c - 1.0)


# --- the do-nothing world: expected delivery and the backtest -------------------------------


@dataclass
class BacktestCheck:
    right: int = 0  # judged right by the backtest
    judged: int = 0
    agree: int = 0  # judged verdicts that match the truth
    truly_right: int = 0  # judged proposals whose claim truly held


def do_nothing_run(
    base: Market, target: int, settings: EngineSettings, cycles: int
) -> tuple[Expected, BacktestCheck]:
    m = copy.deepcopy(base)
    expected = Expected()
    for _ in range(cycles + QUIET_CYCLES):
        advance_week(m, expected)
    full = observe(m, target_cpa_cents=target, settings=settings)
    # The whole retained history: the backtest replays as many weeks as it holds.
    mx = reported_window(m, days=10_000)
    full = dataclasses.replace(
        full,
        dates=list(mx.days),
        metrics=MetricArrays(mx.ad_ids, mx.spend, mx.impressions, mx.clicks, mx.conversions),
    )
    bt = replay.replay(full, weeks=12, as_of=run_time(m))
    check = BacktestCheck()
    for w in bt.weeks:
        for j in w.judged:
            if j.verdict not in ("right", "wrong"):
                continue
            claim = j.proposal.evidence["forecast"]["claim"]
            days = [w.start + dt.timedelta(days=k) for k in range(HORIZON_DAYS)]
            if any(d not in expected.conv for d in days):
                continue  # a week of the warm-up: its truth was not recorded
            c, s = expected.total(_ads_under(full, j.proposal.entity_id), days)
            cpa = s / c if c > 0 else math.inf
            holds = cpa > claim["cpaCents"] if claim["side"] == "above" else cpa < claim["cpaCents"]
            check.judged += 1
            check.right += j.verdict == "right"
            check.truly_right += holds
            check.agree += (j.verdict == "right") == holds
    return expected, check


# --- per scenario --------------------------------------------------------------------------


@dataclass
class ProofRuns:
    """One scenario's ground-truth checks, accumulated over seeds."""

    judgements: list[tuple[int, Judgement]] = field(default_factory=list)  # (seed, judgement)
    holdouts: list[HoldoutResult] = field(default_factory=list)
    backtest: BacktestCheck = field(default_factory=BacktestCheck)

    def add_seed(
        self, seed: int, base: Market, target: int, settings: EngineSettings, cycles: int, key: str
    ) -> None:
        for j in measured_run(base, target, settings, cycles):
            self.judgements.append((seed, j))
        baseline, check = do_nothing_run(base, target, settings, cycles)
        for name in ("right", "judged", "agree", "truly_right"):
            setattr(self.backtest, name, getattr(self.backtest, name) + getattr(check, name))
        h = holdout_run(base, target, settings, cycles, key, baseline)
        if h is not None:
            self.holdouts.append(h)

    def extend(self, other: ProofRuns) -> None:
        """Fold in another seed's checks (seeds run in separate processes)."""
        self.judgements.extend(other.judgements)
        self.holdouts.extend(other.holdouts)
        for name in ("right", "judged", "agree", "truly_right"):
            setattr(
                self.backtest, name, getattr(self.backtest, name) + getattr(other.backtest, name)
            )

    def summary(self) -> dict[str, Any]:
        return proof_summary(self)


def _agrees(j: Judgement) -> bool:
    if j.verdict == "worked":
        return j.true_effect > 0
    if j.verdict == "backfired":
        return j.true_effect < 0
    return abs(j.true_effect) <= j.band  # no_effect


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def _cross_fitted_ece(items: Sequence[tuple[int, Judgement]]) -> float | None:
    """ECE after recalibration fitted on the other half of the seeds (by seed parity)."""
    conf, truth = [], []
    for half in (0, 1):
        fit = [j for s, j in items if s % 2 != half and j.p_true is not None]
        rec = calibration.fit_recalibration(
            [j.confidence for j in fit], [float(j.p_true or 0.0) for j in fit]
        )
        for s, j in items:
            if s % 2 == half:
                conf.append(rec.apply(j.confidence) if rec else j.confidence)
                truth.append(1.0 if j.true_effect > 0 else 0.0)
    return calibration.reliability(conf, truth).ece if conf else None


def proof_summary(runs: ProofRuns) -> dict[str, Any]:
    js = [j for _s, j in runs.judgements]
    decided = [j for j in js if j.verdict in ("worked", "backfired", "no_effect")]
    by_verdict = {
        v: _r(float(np.mean([_agrees(j) for j in decided if j.verdict == v])))
        if any(j.verdict == v for j in decided)
        else None
        for v in ("worked", "no_effect", "backfired")
    }
    estimable = [(s, j) for s, j in runs.judgements if j.p_true is not None]
    raw = calibration.reliability(
        [j.confidence for _s, j in estimable],
        [1.0 if j.true_effect > 0 else 0.0 for _s, j in estimable],
    )
    covered = [j.low <= j.true_effect <= j.high for _s, j in estimable]
    hs = [h for h in runs.holdouts if h.estimate.lift is not None]
    cover = [(h.estimate.low or 0.0) <= h.true_lift <= (h.estimate.high or 0.0) for h in hs]
    err = [abs((h.estimate.lift or 0.0) - h.true_lift) * 100.0 for h in hs]
    bt = runs.backtest
    return {
        "verdict_accuracy": _r(float(np.mean([_agrees(j) for j in decided]))) if decided else None,
        "verdict_accuracy_by_verdict": by_verdict,
        "verdicts": {
            v: sum(j.verdict == v for j in js)
            for v in ("worked", "no_effect", "backfired", "inconclusive")
        },
        "calibration": {"ece_raw": _r(raw.ece), "ece": _r(_cross_fitted_ece(estimable))},
        "interval_coverage": _r(float(np.mean(covered))) if covered else None,
        "holdout": {
            "coverage": _r(float(np.mean(cover))) if cover else None,
            "mean_abs_error_pct": _r(float(np.mean(err)), 2) if err else None,
            "mean_true_lift_pct": _r(float(np.mean([h.true_lift for h in hs])) * 100.0, 2)
            if hs
            else None,
            "seeds": len(hs),
        },
        "backtest_right_rate": _r(bt.right / bt.judged) if bt.judged else None,
        "backtest_true_right_rate": _r(bt.truly_right / bt.judged) if bt.judged else None,
        "backtest_agreement": _r(bt.agree / bt.judged) if bt.judged else None,
        "backtest_judged": bt.judged,
    }
