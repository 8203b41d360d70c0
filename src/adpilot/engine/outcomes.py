"""The outcome of one proposal, judged against a counterfactual once its attribution has matured.

Pure: series and forecasts in, an `Outcome` out — no database, clock or network.

What is judged
    The *judged entity* is the one the change acts through: the budget holder for budget moves and
    pauses (the campaign under campaign budgets, else the ad set), the ad set for creative,
    targeting and schedule changes. Its daily spend and reported conversions come in as a
    `Series` covering at least the `baseline_days` before the change and the `horizon_days` after.

The counterfactual (never a plain before/after)
    The engine's proposal-time forecast for "no change" (`Forecast`, stored in the proposal's
    evidence under `forecast.noChange`) says what the entity would have spent and converted per day
    had nothing changed. Market drift over the horizon (seasonality, auction prices) is taken from
    comparable entities that were *not* changed in the same period: the ratio of their per-day
    conversions (and spend) after vs before the change date scales the forecast. Without
    comparables the drift is 1 with a wider interval.

Attribution lag
    Conversions are reported late (`LagCurve`: share of a day's conversions reported when the day
    is N days old). An outcome is judged only once the last horizon day is `maturity` days old
    (share ≥ `mature_share`, 7 days on the default curve): `estimate_outcome` raises `NotMatured`
    before `matures_at(...)`. Each day's count is divided by its expected reported share.

The effect
    Δconversions = observed − counterfactual and Δspend likewise, over the horizon. The effect the
    verdict is judged on prices spend in conversions at the layer's value of a conversion (the
    target CPA, or the value per conversion): effect = Δconversions − Δspend / value, so a budget
    raise helps when its extra conversions cost less than the target at the margin, and a pause
    helps when the holder converts more for the same money. Its standard error combines the
    (over-dispersed) Poisson noise of the observed and comparable counts, the forecast rate's own
    posterior uncertainty and the spend's day-to-day variation; the interval is ±1.96 se.

Verdicts
    Sent changes: `worked` (95% interval above 0), `backfired` (below 0), `no_effect` (interval
    contains 0 and is narrow enough to have seen an effect of the practical size),
    `inconclusive` (too little data, the entity changed again within the horizon, or the interval
    is too wide) — each with a sentence saying why. `p_true` = P(effect > 0): the probability
    that the change helped, which calibration compares with the proposal's confidence.

    Proposals not sent (rejected, expired, held, dry run) are followed the same way against the
    same forecast; nothing changed, so what is judged is the proposal's *claim* about the
    unchanged entity (`Claim`, e.g. "its CPA stays above the $40 target"). Verdicts `confirmed |
    refuted | inconclusive`, and `p_true` = P(claim held) from the horizon's observed data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from scipy import special

Verdict = Literal["worked", "no_effect", "backfired", "inconclusive", "confirmed", "refuted"]
SENT_VERDICTS: tuple[str, ...] = ("worked", "no_effect", "backfired", "inconclusive")
UNSENT_VERDICTS: tuple[str, ...] = ("confirmed", "refuted", "inconclusive")
DEFAULT_HORIZONS: tuple[int, ...] = (7, 14)

_Z95 = 1.959963984540054
_DAY = dt.timedelta(days=1)


class NotMatured(ValueError):
    """The attribution window after the horizon has not matured yet: judging now would count
    conversions the platform has not reported."""


@dataclass(frozen=True)
class LagCurve:
    """Share of a day's conversions reported when the day is `days[i]` days old (interpolated)."""

    days: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 7.0, 14.0, 28.0)
    share: tuple[float, ...] = (0.5, 0.8, 0.87, 0.9, 0.95, 0.98, 1.0)

    def share_at(self, age_days: float) -> float:
        """Expected reported share of a day that ended `age_days` ago (0 before it ended)."""
        if age_days < 0:
            return 0.0
        xs, ys = self.days, self.share
        if age_days >= xs[-1]:
            return float(ys[-1])
        for i in range(1, len(xs)):
            if age_days <= xs[i]:
                span = xs[i] - xs[i - 1]
                frac = (age_days - xs[i - 1]) / span if span > 0 else 1.0
                return float(ys[i - 1] + frac * (ys[i] - ys[i - 1]))
        return float(ys[-1])  # pragma: no cover - loop always returns

    def maturity_days(self, mature_share: float) -> float:
        """Age (days) at which a day's reported share first reaches `mature_share`."""
        xs, ys = self.days, self.share
        if ys[0] >= mature_share:
            return float(xs[0])
        for i in range(1, len(xs)):
            if ys[i] >= mature_share:
                frac = (mature_share - ys[i - 1]) / (ys[i] - ys[i - 1])
                return float(xs[i - 1] + frac * (xs[i] - xs[i - 1]))
        return float(xs[-1])


@dataclass(frozen=True)
class Series:
    """Daily spend (cents) and conversions as reported, one entry per date, oldest first."""

    dates: Sequence[dt.date]
    spend_cents: Sequence[float]
    conversions: Sequence[float]


@dataclass(frozen=True)
class Forecast:
    """Per-day spend and conversions the engine expected, and how sure it was of the rate.

    `rate_shape` is the Gamma posterior shape of the conversion rate it rests on (about the
    conversions seen plus the prior's): the rate's relative standard deviation is 1/√shape.
    """

    spend_cents_per_day: float
    conversions_per_day: float
    rate_shape: float = 10.0

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Forecast:
        return cls(
            float(d["spendCentsPerDay"]),
            float(d["conversionsPerDay"]),
            float(d.get("rateShape") or 10.0),
        )

    def to_json(self) -> dict[str, float]:
        return {
            "spendCentsPerDay": round(self.spend_cents_per_day, 2),
            "conversionsPerDay": round(self.conversions_per_day, 4),
            "rateShape": round(self.rate_shape, 2),
        }


@dataclass(frozen=True)
class Claim:
    """What a proposal asserted about the unchanged entity: its CPA is above/below a threshold."""

    side: Literal["above", "below"]
    cpa_cents: float

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Claim | None:
        if not d:
            return None
        side = d.get("side")
        cpa = d.get("cpaCents")
        if side not in ("above", "below") or not cpa:
            return None
        return cls(side, float(cpa))

    def to_json(self) -> dict[str, Any]:
        return {"metric": "cpa", "side": self.side, "cpaCents": round(self.cpa_cents, 2)}

    def text(self) -> str:
        return f"its CPA would stay {self.side} {self.cpa_cents / 100:.2f}"


@dataclass(frozen=True)
class OutcomeSettings:
    baseline_days: int = 7  # days before the change that the drift ratio compares against
    mature_share: float = 0.95  # a day counts as reported once this share of it is in
    min_conversions: float = 8.0  # expected + observed over the horizon, below → inconclusive
    # An interval narrower than this share of the counterfactual conversions (or 2 conversions)
    # on each side could have seen a practically relevant effect: zero inside it is "no effect".
    practical_share: float = 0.25
    spend_cv: float = 0.05  # day-level relative variation of delivered spend at a set budget
    drift_sd_without_comparables: float = 0.15
    claim_probability: float = 0.8  # P(claim) needed to call a prediction confirmed/refuted


@dataclass(frozen=True)
class OutcomeInput:
    """Everything one judgement needs; see the module docstring."""

    changed_at: dt.datetime  # aware: when the change was sent (or the proposal made)
    as_of: dt.datetime  # aware: the time the reports were read
    horizon_days: int
    entity: Series
    no_change: Forecast
    value_cents: float  # the target CPA or the value of one conversion
    change: Forecast | None = None  # the engine's forecast had the change been made
    comparables: Sequence[Series] = ()
    lag: LagCurve = field(default_factory=LagCurve)
    sent: bool = True
    changed_again_at: dt.datetime | None = None  # the next change of the same entity, if any
    claim: Claim | None = None
    settings: OutcomeSettings = field(default_factory=OutcomeSettings)


@dataclass(frozen=True)
class Outcome:
    """One judged horizon. Money in cents, counts lag-corrected to their eventual totals."""

    horizon_days: int
    sent: bool
    verdict: Verdict
    reason: str
    estimable: bool  # False when the data could not support any estimate (calibration skips it)
    p_true: float | None  # sent: P(the change helped); not sent: P(the claim held)
    predicted_conversions: float  # what the engine forecast for what happened (change or not)
    predicted_spend_cents: float
    predicted_cpa_cents: float | None
    counterfactual_conversions: float  # no-change forecast adjusted for market drift
    counterfactual_spend_cents: float
    observed_conversions: float
    observed_spend_cents: float
    observed_cpa_cents: float | None
    effect_conversions: float  # observed − counterfactual
    effect_spend_cents: float
    effect_value: float  # effect in conversions net of extra spend priced at the value
    effect_low: float  # 95% interval of effect_value
    effect_high: float
    drift: float  # comparables' after/before conversion ratio used
    comparables: int

    @property
    def came_true(self) -> bool | None:
        """For reliability tables: did the proposal's claim come true (None: could not tell)."""
        if self.verdict in ("worked", "confirmed"):
            return True
        if self.verdict in ("backfired", "no_effect", "refuted"):
            return False
        return None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        return {_camel(k): _round(v) for k, v in out.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4) if math.isfinite(v) else None
    return v


def matures_at(
    changed_at: dt.datetime, horizon_days: int, lag: LagCurve, mature_share: float
) -> dt.datetime:
    """The earliest time a horizon after `changed_at` may be judged.

    The horizon covers the `horizon_days` whole days starting the day of the change; its last day
    must be `maturity_days` old, i.e. (nearly) fully reported.
    """
    first = changed_at.date()
    end_of_last = dt.datetime.combine(first + horizon_days * _DAY, dt.time(0), dt.UTC)
    return end_of_last + dt.timedelta(days=lag.maturity_days(mature_share))


def _window(s: Series, start: dt.date, days: int) -> list[int]:
    """Indexes of `s` covering [start, start + days)."""
    end = start + days * _DAY
    return [i for i, d in enumerate(s.dates) if start <= d < end]


def _corrected(
    s: Series, idx: list[int], as_of: dt.datetime, lag: LagCurve
) -> tuple[float, float, float]:
    """(spend, lag-corrected conversions, their over-dispersed-Poisson variance) over `idx`."""
    spend = conv = var = 0.0
    for i in idx:
        end = dt.datetime.combine(s.dates[i] + _DAY, dt.time(0), dt.UTC)
        share = max(lag.share_at((as_of - end) / _DAY), 1e-6)
        c = float(s.conversions[i])
        spend += float(s.spend_cents[i])
        conv += c / share
        var += max(c, 0.5) / share**2
    return spend, conv, var


def _dispersion(s: Series, idx: list[int]) -> float:
    """Variance/mean of daily conversions before the change (≥ 1): extra-Poisson day noise."""
    xs = [float(s.conversions[i]) for i in idx]
    if len(xs) < 4:
        return 1.0
    mean = sum(xs) / len(xs)
    if mean <= 0:
        return 1.0
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
    return min(max(var / mean, 1.0), 10.0)


def _drift(inp: OutcomeInput, before: dt.date, after: dt.date) -> tuple[float, float, float, int]:
    """(conversion drift, spend drift, var of log conversion drift, comparables used)."""
    st = inp.settings
    b_conv = a_conv = b_spend = a_spend = 0.0
    used = 0
    for comp in inp.comparables:
        bi = _window(comp, before, st.baseline_days)
        ai = _window(comp, after, inp.horizon_days)
        if len(bi) < st.baseline_days or len(ai) < inp.horizon_days:
            continue
        bs, bc, _ = _corrected(comp, bi, inp.as_of, inp.lag)
        as_, ac, _ = _corrected(comp, ai, inp.as_of, inp.lag)
        if bs <= 0 or as_ <= 0:
            continue
        used += 1
        b_conv, a_conv, b_spend, a_spend = b_conv + bc, a_conv + ac, b_spend + bs, a_spend + as_
    if used == 0 or b_conv <= 0:
        return 1.0, 1.0, st.drift_sd_without_comparables**2, used
    per_day_b, per_day_a = st.baseline_days, inp.horizon_days
    drift_c = (a_conv / per_day_a) / (b_conv / per_day_b)
    drift_s = (a_spend / per_day_a) / (b_spend / per_day_b)
    var_log = 1.0 / max(a_conv, 0.5) + 1.0 / max(b_conv, 0.5)
    return drift_c, drift_s, var_log, used


def estimate_outcome(inp: OutcomeInput) -> Outcome:
    """Judge one proposal over one horizon; raises `NotMatured` before `matures_at`."""
    st = inp.settings
    due = matures_at(inp.changed_at, inp.horizon_days, inp.lag, st.mature_share)
    if inp.as_of < due:
        raise NotMatured(
            f"the {inp.horizon_days}-day horizon after {inp.changed_at:%Y-%m-%d} can be judged "
            f"from {due:%Y-%m-%d %H:%M} UTC, once its conversions are reported"
        )
    first = inp.changed_at.date()
    h = inp.horizon_days
    before = first - st.baseline_days * _DAY
    after_idx = _window(inp.entity, first, h)
    before_idx = _window(inp.entity, before, st.baseline_days)
    obs_spend, obs_conv, obs_var = _corrected(inp.entity, after_idx, inp.as_of, inp.lag)
    phi = _dispersion(inp.entity, before_idx)
    drift_c, drift_s, drift_var, used = _drift(inp, before, first)

    f0 = inp.no_change
    cf_spend = f0.spend_cents_per_day * h * drift_s
    cf_conv = f0.conversions_per_day * h * drift_c
    fp = inp.change if (inp.sent and inp.change is not None) else f0
    pred_spend = fp.spend_cents_per_day * h * drift_s
    pred_conv = fp.conversions_per_day * h * drift_c
    value = max(float(inp.value_cents), 1.0)

    d_conv = obs_conv - cf_conv
    d_spend = obs_spend - cf_spend
    effect = d_conv - d_spend / value
    var_cf = cf_conv**2 * (1.0 / max(f0.rate_shape, 0.5) + drift_var) + phi * max(cf_conv, 0.5)
    var_obs = phi * obs_var
    var_spend = (st.spend_cv**2) * (obs_spend**2 + cf_spend**2) / max(h, 1) / value**2
    se = math.sqrt(var_cf + var_obs + var_spend)
    low, high = effect - _Z95 * se, effect + _Z95 * se

    def make(verdict: Verdict, reason: str, estimable: bool, p: float | None) -> Outcome:
        return Outcome(
            horizon_days=h,
            sent=inp.sent,
            verdict=verdict,
            reason=reason,
            estimable=estimable,
            p_true=p,
            predicted_conversions=pred_conv,
            predicted_spend_cents=pred_spend,
            predicted_cpa_cents=_cpa(pred_spend, pred_conv),
            counterfactual_conversions=cf_conv,
            counterfactual_spend_cents=cf_spend,
            observed_conversions=obs_conv,
            observed_spend_cents=obs_spend,
            observed_cpa_cents=_cpa(obs_spend, obs_conv),
            effect_conversions=d_conv,
            effect_spend_cents=d_spend,
            effect_value=effect,
            effect_low=low,
            effect_high=high,
            drift=drift_c,
            comparables=used,
        )

    horizon_end = dt.datetime.combine(first + h * _DAY, dt.time(0), dt.UTC)
    if inp.changed_again_at is not None and inp.changed_at < inp.changed_again_at < horizon_end:
        return make(
            "inconclusive",
            f"The entity was changed again on {inp.changed_again_at:%Y-%m-%d}, inside the "
            f"{h}-day horizon: the two changes cannot be told apart.",
            False,
            None,
        )
    if len(after_idx) < h:
        return make(
            "inconclusive",
            f"Only {len(after_idx)} of the {h} days after the change have metrics.",
            False,
            None,
        )
    if cf_conv + obs_conv < st.min_conversions:
        return make(
            "inconclusive",
            f"Too little data: {obs_conv:.1f} conversions observed against {cf_conv:.1f} "
            f"expected over {h} days; at least {st.min_conversions:g} are needed to judge.",
            False,
            None,
        )
    if not inp.sent:
        return _prediction(inp, make, obs_spend, obs_conv, cf_conv)

    p_helped = float(special.ndtr(effect / se)) if se > 0 else (1.0 if effect > 0 else 0.0)
    net = _net_text(d_conv, d_spend, value, effect, low, high)
    base = f"{obs_conv:.1f} conversions against {cf_conv:.1f} expected without the change"
    if low > 0:
        return make("worked", f"Worked: {base}; {net}.", True, p_helped)
    if high < 0:
        return make("backfired", f"Backfired: {base}; {net}.", True, p_helped)
    band = max(st.practical_share * cf_conv, 2.0)
    if high - effect <= band:
        return make(
            "no_effect",
            f"No measurable effect: {base}; {net}, an interval that rules out a change of "
            f"{band:.1f} conversions either way.",
            True,
            p_helped,
        )
    return make(
        "inconclusive",
        f"Inconclusive: {base}; {net} — too wide to tell a gain from a loss.",
        True,
        p_helped,
    )


def _cpa(spend: float, conv: float) -> float | None:
    return spend / conv if conv > 0 else None


def _net_text(d_conv: float, d_spend: float, value: float, eff: float, lo: float, hi: float) -> str:
    spend_part = f"{d_spend / 100:+.2f} spend" if abs(d_spend) >= 100 else "the same spend"
    return (
        f"{d_conv:+.1f} conversions for {spend_part}, worth {eff:+.1f} conversions net "
        f"(95% interval {lo:+.1f} to {hi:+.1f})"
    )


def _prediction(
    inp: OutcomeInput, make: Any, obs_spend: float, obs_conv: float, cf_conv: float
) -> Outcome:
    """A proposal not sent: did its claim about the unchanged entity hold?"""
    claim = inp.claim
    seen = f"{obs_conv:.1f} conversions observed against {cf_conv:.1f} forecast"
    if claim is None or obs_spend <= 0:
        return make(
            "inconclusive",
            f"Followed without a change ({seen}); the proposal made no claim that its data can "
            "check.",
            False,
            None,
        )
    # Jeffreys Gamma posterior of conversions per cent over the horizon.
    p_above = float(special.gammainc(obs_conv + 0.5, obs_spend / claim.cpa_cents))
    p = p_above if claim.side == "above" else 1.0 - p_above
    need = inp.settings.claim_probability
    said = f"We said {claim.text()} without the change"
    cpa = _cpa(obs_spend, obs_conv)
    got = f"it was {cpa / 100:.2f}" if cpa is not None else "it had no conversions"
    if p >= need:
        return make("confirmed", f"{said}; {got} ({seen}): it did.", True, p)
    if p <= 1.0 - need:
        return make("refuted", f"{said}; {got} ({seen}): it did not.", True, p)
    return make("inconclusive", f"{said}; {got} ({seen}): too close to tell.", True, p)
