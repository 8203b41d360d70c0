"""Budget holders and their response curves: the estimates every budget move is judged on.

Each budget holder (the campaign under campaign budgets, else each ad set) gets a Michaelis–Menten
curve conversions/day = V·s / (K + s). K is fitted on a grid of K / current spend from the holder's
daily spend and conversions with a log-normal prior whose centre is pooled across the account's
holders (daily spend rarely varies enough to identify K alone), V comes from the holder's pooled
posterior conversion rate. The moves themselves are chosen in `budget_moves`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from adpilot.engine.frame import Frame
from adpilot.engine.plan import RunPlan
from adpilot.engine.types import EngineSettings, FloatArray
from adpilot.engine.windows import IntArray, group_sum
from adpilot.platforms.base import EntityType

_RATIO_GRID = np.exp(np.linspace(math.log(0.25), math.log(8.0), 17))
_BISECT_STEPS = 60


@dataclass(frozen=True, eq=False)
class Holders:
    kinds: list[EntityType]
    index: IntArray  # position within frame.campaigns or frame.adsets
    budget: FloatArray  # cents
    spend: FloatArray  # mean daily spend over the last 7 days, cents
    shape: FloatArray  # posterior of conversions per cent
    rate: FloatArray
    eligible: np.ndarray
    paused: np.ndarray  # ad set holders paused by this run: their spend is freed


def find_holders(frame: Frame, plan: RunPlan) -> tuple[Holders, FloatArray, FloatArray, FloatArray]:
    """Budget holders with their posteriors, plus their daily spend/exposure series."""
    kinds: list[EntityType] = []
    index: list[int] = []
    campaign_holder = np.full(len(frame.campaigns), -1, dtype=np.intp)
    adset_holder = np.full(len(frame.adsets), -1, dtype=np.intp)
    for c, camp in enumerate(frame.campaigns):
        if camp.budget_mode == "campaign" and camp.daily_budget_cents:
            campaign_holder[c] = len(kinds)
            kinds.append("campaign")
            index.append(c)
    for j, adset in enumerate(frame.adsets):
        camp = frame.campaigns[int(frame.adset_campaign[j])]
        if camp.budget_mode == "adset" and adset.daily_budget_cents:
            adset_holder[j] = len(kinds)
            kinds.append("adset")
            index.append(j)
    n = len(kinds)
    idx = np.array(index, dtype=np.intp)
    is_camp = np.array([k == "campaign" for k in kinds], dtype=bool)

    hoa = adset_holder[frame.ad_adset] if len(frame.ads) else np.zeros(0, dtype=np.intp)
    if len(frame.ads):
        hoa = np.where(hoa >= 0, hoa, campaign_holder[frame.ad_campaign])
    mask = hoa >= 0
    spend_d = group_sum(frame.daily["spend"][mask], hoa[mask], n)
    exp_d = group_sum(frame.daily["exposure"][mask], hoa[mask], n)
    conv_d = group_sum(frame.daily["conversions"][mask], hoa[mask], n)

    def pick(camp_vals: FloatArray, set_vals: FloatArray) -> FloatArray:
        out = np.zeros(n)
        out[is_camp] = camp_vals[idx[is_camp]]
        out[~is_camp] = set_vals[idx[~is_camp]]
        return out

    def pick_bool(camp_vals: np.ndarray, set_vals: np.ndarray) -> np.ndarray:
        return pick(camp_vals.astype(np.float64), set_vals.astype(np.float64)) > 0.5

    budget = np.array(
        [
            float(
                (
                    frame.campaigns[k].daily_budget_cents
                    if kind == "campaign"
                    else frame.adsets[k].daily_budget_cents
                )
                or 0
            )
            for kind, k in zip(kinds, index, strict=True)
        ]
    )
    recent = min(7, max(frame.n_days, 1))
    spend = spend_d[:, -recent:].sum(axis=1) / recent if frame.n_days else np.zeros(n)
    live = pick_bool(frame.campaign_live, frame.adset_live)
    learning = pick_bool(frame.campaign_learning, frame.adset_learning)
    paused = np.array(
        [kind == "adset" and k in plan.paused_adsets for kind, k in zip(kinds, index, strict=True)],
        dtype=bool,
    )
    holders = Holders(
        kinds=kinds,
        index=idx,
        budget=budget,
        spend=spend,
        shape=pick(frame.hier.campaign.shape, frame.hier.adset.shape),
        rate=pick(frame.hier.campaign.rate, frame.hier.adset.rate),
        eligible=live & ~learning & ~paused & (budget > 0) & (spend > 0),
        paused=paused,
    )
    return holders, spend_d, exp_d, conv_d


def saturation_loglik(
    spend_d: FloatArray, exposure_d: FloatArray, conv_d: FloatArray, ref_spend: FloatArray
) -> FloatArray:
    """Per holder and grid point r = K / s: the profile Poisson log-likelihood of the daily
    conversions under conversions/day = V·s / (K + s), with V profiled out."""
    r = _RATIO_GRID
    k = r[None, :, None] * np.maximum(ref_spend, 1.0)[:, None, None]
    g = exposure_d[:, None, :] / (k + spend_d[:, None, :])
    c = conv_d[:, None, :]
    with np.errstate(divide="ignore"):
        log_g = np.log(np.maximum(g, 1e-300))
    ll = np.where(c > 0, c * log_g, 0.0).sum(axis=2)
    total_g = g.sum(axis=2)
    ll -= conv_d.sum(axis=1)[:, None] * np.log(np.maximum(total_g, 1e-300))
    return np.asarray(ll, dtype=np.float64)


def _log_prior(centre: float, settings: EngineSettings) -> FloatArray:
    lp = -((np.log(_RATIO_GRID) - math.log(centre)) ** 2) / (
        2.0 * settings.response_prior_log_sd**2
    )
    return np.asarray(lp - special.logsumexp(lp), dtype=np.float64)


def pooled_prior_centre(ll: FloatArray, settings: EngineSettings) -> float:
    """The account's typical K / s: the log-normal prior centre that best explains every
    holder's curvature at once (type-II maximum likelihood over the grid), shrunk towards
    `response_prior_ratio` by a log-normal hyperprior. One holder's days rarely vary enough to
    show its own curvature; together they show the account's."""
    if ll.shape[0] == 0:
        return settings.response_prior_ratio
    centres = _RATIO_GRID
    hyper = -((np.log(centres) - math.log(settings.response_prior_ratio)) ** 2) / (
        2.0 * settings.response_pool_log_sd**2
    )
    priors = np.stack([_log_prior(float(c), settings) for c in centres])  # (centre, grid)
    score = special.logsumexp(ll[:, None, :] + priors[None, :, :], axis=2).sum(axis=0)
    return float(centres[int(np.argmax(score + hyper))])


def saturation_posterior(
    spend_d: FloatArray,
    exposure_d: FloatArray,
    conv_d: FloatArray,
    ref_spend: FloatArray,
    settings: EngineSettings,
    centre: float | None = None,
) -> FloatArray:
    """Per holder, the grid posterior weights over r = K / s.

    Profile Poisson likelihood of daily conversions (V profiled out) times a log-normal prior
    centred on the pooled centre of all the account's holders (or `centre` when given).
    """
    n = spend_d.shape[0]
    if n == 0:
        return np.zeros((0, _RATIO_GRID.size))
    ll = saturation_loglik(spend_d, exposure_d, conv_d, ref_spend)
    if centre is None:
        centre = pooled_prior_centre(ll, settings)
    logpost = ll + _log_prior(centre, settings)[None, :]
    logpost -= logpost.max(axis=1, keepdims=True)
    w = np.exp(logpost)
    w /= w.sum(axis=1, keepdims=True)
    return np.asarray(w, dtype=np.float64)


def saturation_factor(
    spend_d: FloatArray,
    exposure_d: FloatArray,
    conv_d: FloatArray,
    ref_spend: FloatArray,
    settings: EngineSettings,
    centre: float | None = None,
) -> FloatArray:
    """Posterior mean of (K + s) / K = marginal CPA / average CPA at the current spend s."""
    w = saturation_posterior(spend_d, exposure_d, conv_d, ref_spend, settings, centre)
    return np.asarray(w @ (1.0 + 1.0 / _RATIO_GRID), dtype=np.float64)


def spend_at(
    theta: float, v: FloatArray, k: FloatArray, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    # Spend where the marginal CPA (K + s)² / (V K) equals θ, inside the step box.
    return np.clip(np.sqrt(v * k * theta) - k, lo, hi)


def bisect(f: Callable[[float], float], lo: float, hi: float, goal: float) -> float:
    """log-space bisection for θ with f(θ) = goal on an increasing f."""
    a, b = math.log(lo), math.log(hi)
    if f(math.exp(a)) >= goal:
        return math.exp(a)
    if f(math.exp(b)) <= goal:
        return math.exp(b)
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (a + b)
        if f(math.exp(mid)) < goal:
            a = mid
        else:
            b = mid
    return math.exp(0.5 * (a + b))


@dataclass(frozen=True, eq=False)
class Curves:
    """Each holder's fitted response curve conversions/day = V·x / (K + x), with its uncertainty:
    a grid posterior over K / s and a Gamma posterior over the conversion rate at today's spend."""

    s: FloatArray  # today's mean daily spend, cents
    k: FloatArray  # posterior-mean half-saturation spend
    v: FloatArray
    lam: FloatArray  # posterior mean conversions per cent at s
    shape: FloatArray
    rate: FloatArray
    weights: FloatArray  # (holders, grid) posterior over r = K / s

    def marginal(self, x: FloatArray) -> FloatArray:
        """Point estimate of the cost of the next conversion at daily spend x."""
        return np.asarray((self.k + x) ** 2 / np.maximum(self.v * self.k, 1e-300))

    def conversions(self, x: FloatArray) -> FloatArray:
        return np.asarray(self.v * x / np.maximum(self.k + x, 1e-9))

    def marginal_at(self, n: int, x: float) -> float:
        return float((self.k[n] + x) ** 2 / max(float(self.v[n] * self.k[n]), 1e-300))

    def conversions_at(self, n: int, x: float) -> float:
        return float(self.v[n] * x / max(float(self.k[n]) + x, 1e-9))

    def p_marginal_below(self, theta: float, x: FloatArray, curve_uncertain: bool) -> FloatArray:
        """P(the next conversion at daily spend x costs less than θ).

        With K = r·s and the rate λ at s, the marginal cost at x is (K + x)² / (λ (K + s) K);
        it is under θ when λ exceeds that ratio over θ. With `curve_uncertain` the probability
        is taken over the curve's shape (the grid posterior of r) as well as the rate; without,
        the shape is held at its posterior mean — right when θ is itself read off the same
        pooled curves, so that an error in the account's common curvature moves θ and the
        holder's marginal cost together.
        """
        if not curve_uncertain:
            c1 = (self.k + x) ** 2 / ((self.k + self.s) * self.k)
            return np.asarray(1.0 - special.gammainc(self.shape, self.rate * c1 / theta))
        s = np.maximum(self.s, 1.0)[:, None]
        kr = _RATIO_GRID[None, :] * s
        c = (kr + x[:, None]) ** 2 / ((kr + self.s[:, None]) * kr)
        p = 1.0 - special.gammainc(self.shape[:, None], self.rate[:, None] * c / theta)
        return np.asarray((self.weights * p).sum(axis=1), dtype=np.float64)


def fit_curves(
    frame: Frame, h: Holders, spend_d: FloatArray, exp_d: FloatArray, conv_d: FloatArray
) -> Curves:
    s = h.spend
    lam = h.shape / h.rate  # conversions per cent at the current spend
    w = saturation_posterior(spend_d, exp_d, conv_d, s, frame.settings)
    factor = np.maximum(w @ (1.0 + 1.0 / _RATIO_GRID), 1.0 + 1e-6)
    k = np.maximum(s, 1.0) / (factor - 1.0)
    return Curves(s, k, lam * (k + s), lam, h.shape, h.rate, w)
