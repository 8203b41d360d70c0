"""Hierarchical Gamma–Poisson estimates of conversions per cent, pooled account → ad, and
Beta–Binomial estimates of click-through rate, pooled ad set → ad.

Conversions of an entity over a window are Poisson(λ · exposure), where exposure is spend in cents
(optionally scaled down on recent days whose conversions are not all reported yet) and λ is
conversions per cent. λ has a Gamma prior centred on the parent's posterior mean (account →
campaign → ad set → ad); the prior strength at each level is an empirical-Bayes method-of-moments
estimate, clipped so that a handful of conversions can never dominate. CPA = 1/λ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from adpilot.engine.types import EngineSettings, FloatArray
from adpilot.engine.windows import IntArray, group_sum

_DAY_SECONDS = 86_400.0


@dataclass(frozen=True, eq=False)
class GammaPosterior:
    """Gamma(shape, rate) over λ (conversions per cent), one element per entity."""

    shape: FloatArray
    rate: FloatArray

    def update(self, counts: FloatArray, exposure: FloatArray) -> GammaPosterior:
        return GammaPosterior(self.shape + counts, self.rate + exposure)

    def take(self, idx: IntArray) -> GammaPosterior:
        return GammaPosterior(self.shape[idx], self.rate[idx])

    def mean_rate(self) -> FloatArray:
        return self.shape / self.rate

    def cpa_estimate(self) -> FloatArray:
        """1 / E[λ]: (spend + prior spend) / (conversions + prior conversions).

        Used as the point CPA rather than E[1/λ], whose heavy tail would make an ad with no data
        look twice as expensive as its ad set.
        """
        return self.rate / self.shape

    def cpa_quantile(self, q: float) -> FloatArray:
        """The q-quantile of CPA, i.e. the (1 − q)-quantile of λ inverted."""
        lam = special.gammaincinv(self.shape, 1.0 - q) / self.rate
        with np.errstate(divide="ignore"):
            return np.asarray(1.0 / lam, dtype=np.float64)

    def p_cpa_above(self, cpa_cents: float | FloatArray) -> FloatArray:
        """P(true CPA > cpa) = P(λ < 1/cpa)."""
        return np.asarray(special.gammainc(self.shape, self.rate / cpa_cents), dtype=np.float64)

    def log_rate_moments(self) -> tuple[FloatArray, FloatArray]:
        """Mean and variance of log λ (exact for a Gamma)."""
        mean = special.digamma(self.shape) - np.log(self.rate)
        var = special.polygamma(1, self.shape)
        return np.asarray(mean, dtype=np.float64), np.asarray(var, dtype=np.float64)


def lag_shares(now: dt.datetime, dates: Sequence[dt.date], settings: EngineSettings) -> FloatArray:
    """Expected reported share of each day's conversions at `now` (1.0 when correction is off).

    A day is "0 days old" the moment it ends; shares between the knots are interpolated.
    """
    if not settings.attribution_lag_correction or not dates:
        return np.ones(len(dates))
    ages = np.array(
        [
            (now - dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), dt.UTC))
            / dt.timedelta(seconds=_DAY_SECONDS)
            for d in dates
        ],
        dtype=np.float64,
    )
    knots = np.asarray(settings.attribution_lag_days, dtype=np.float64)
    shares = np.asarray(settings.attribution_lag_share, dtype=np.float64)
    return np.interp(np.clip(ages, 0.0, None), knots, shares, right=1.0)


def moment_shape(
    counts: FloatArray, exposure: FloatArray, parent_rate: FloatArray, lo: float, hi: float
) -> float:
    """Method-of-moments Gamma shape for children around their parents' rates.

    Under λ ~ Gamma(a, a/m), c ~ Poisson(λx): E[(c − mx)² − mx] = (mx)² / a, so each child gives
    an unbiased estimate of 1/a. They are averaged with weights (mx / (1 + mx/a))², which stop
    growing once a child's own data outweighs the prior, so a few big children cannot hide the
    spread among the rest. No excess variance → the strongest pooling allowed.
    """
    mask = (exposure > 0) & (parent_rate > 0)
    if not np.any(mask):
        return hi
    mu = parent_rate[mask] * exposure[mask]
    excess = (counts[mask] - mu) ** 2 - mu
    a = hi
    for _ in range(4):
        w = 1.0 / (1.0 + mu / a) ** 2
        inv_a = float(np.sum(w * excess) / np.sum(w * mu**2))
        if inv_a <= 0.0:
            return hi
        a = float(np.clip(1.0 / inv_a, lo, hi))
    return a


def _prior(shape: float, mean_rate: FloatArray) -> GammaPosterior:
    return GammaPosterior(np.full(mean_rate.shape, shape), shape / mean_rate)


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """Posteriors at each level plus the priors they came from."""

    account_rate: float
    campaign_prior: GammaPosterior
    campaign: GammaPosterior
    adset_prior: GammaPosterior
    adset: GammaPosterior
    ad_prior: GammaPosterior
    ad: GammaPosterior
    shapes: tuple[float, float, float]  # campaign, ad set, ad prior strengths


def account_rate(conversions: float, exposure: float, target_cpa: float | None) -> float:
    """The account-level rate; one pseudo-conversion at target keeps it positive and finite."""
    if target_cpa is not None and target_cpa > 0:
        return (conversions + 1.0) / (exposure + target_cpa)
    return (conversions + 0.5) / max(exposure, 1.0)


def fit_hierarchy(
    conversions: FloatArray,
    exposure: FloatArray,
    ad_adset: IntArray,
    adset_campaign: IntArray,
    n_adsets: int,
    n_campaigns: int,
    target_cpa: float | None,
    settings: EngineSettings,
) -> Hierarchy:
    """Fit account → campaign → ad set → ad with empirical-Bayes strengths at each level."""
    lo, hi = settings.prior_shape_min, settings.prior_shape_max
    s_conv = group_sum(conversions, ad_adset, n_adsets)
    s_exp = group_sum(exposure, ad_adset, n_adsets)
    c_conv = group_sum(s_conv, adset_campaign, n_campaigns)
    c_exp = group_sum(s_exp, adset_campaign, n_campaigns)
    m0 = account_rate(float(conversions.sum()), float(exposure.sum()), target_cpa)

    a_c = moment_shape(c_conv, c_exp, np.full(n_campaigns, m0), lo, hi)
    campaign_prior = _prior(a_c, np.full(n_campaigns, m0))
    campaign = campaign_prior.update(c_conv, c_exp)

    parent = campaign.mean_rate()[adset_campaign]
    a_s = moment_shape(s_conv, s_exp, parent, lo, hi)
    adset_prior = _prior(a_s, parent)
    adset = adset_prior.update(s_conv, s_exp)

    parent_ad = adset.mean_rate()[ad_adset]
    a_a = moment_shape(conversions, exposure, parent_ad, lo, hi)
    ad_prior = _prior(a_a, parent_ad)
    ad = ad_prior.update(conversions, exposure)
    return Hierarchy(
        m0, campaign_prior, campaign, adset_prior, adset, ad_prior, ad, (a_c, a_s, a_a)
    )


def normal_cdf(x: FloatArray) -> FloatArray:
    return np.asarray(special.ndtr(x), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class BetaPosterior:
    """Beta(alpha, beta) over a click-through rate, one element per entity."""

    alpha: FloatArray
    beta: FloatArray

    def update(self, clicks: FloatArray, impressions: FloatArray) -> BetaPosterior:
        clicks = np.minimum(clicks, impressions)
        return BetaPosterior(self.alpha + clicks, self.beta + impressions - clicks)

    def mean(self) -> FloatArray:
        return np.asarray(self.alpha / (self.alpha + self.beta), dtype=np.float64)

    def log_moments(self) -> tuple[FloatArray, FloatArray]:
        """Mean and variance of log CTR (exact for a Beta)."""
        total = self.alpha + self.beta
        mean = special.digamma(self.alpha) - special.digamma(total)
        var = special.polygamma(1, self.alpha) - special.polygamma(1, total)
        return np.asarray(mean, dtype=np.float64), np.asarray(var, dtype=np.float64)


def beta_strength(
    clicks: FloatArray, impressions: FloatArray, parent_ctr: FloatArray, lo: float, hi: float
) -> float:
    """Method-of-moments strength m of Beta(m·p, m·(1 − p)) priors around the parents' CTRs.

    Under p_ad ~ Beta(m·p, m·(1 − p)), k ~ Binomial(n, p_ad):
    E[(k − np)² − np(1 − p)] = n(n − 1)·p(1 − p) / (m + 1). Children are weighted so that big
    ones stop dominating once their own data outweighs the prior (as in `moment_shape`).
    """
    mask = (impressions > 1) & (parent_ctr > 0) & (parent_ctr < 1)
    if not np.any(mask):
        return hi
    n, k, p = impressions[mask], clicks[mask], parent_ctr[mask]
    excess = (k - n * p) ** 2 - n * p * (1.0 - p)
    scale = n * (n - 1.0) * p * (1.0 - p)
    m = hi
    for _ in range(4):
        w = 1.0 / (1.0 + n / m) ** 2
        inv = float(np.sum(w * excess) / np.sum(w * scale))
        if inv <= 0.0:
            return hi
        m = float(np.clip(1.0 / inv - 1.0, lo, hi))
    return m


def fit_ctr(
    clicks: FloatArray,
    impressions: FloatArray,
    ad_adset: IntArray,
    n_adsets: int,
    settings: EngineSettings,
) -> BetaPosterior:
    """Each ad's CTR posterior, pooled with its ad set's by a strength estimated across ads."""
    s_clicks = group_sum(clicks, ad_adset, n_adsets)
    s_imps = group_sum(impressions, ad_adset, n_adsets)
    # Jeffreys-smoothed ad set CTR: defined even for an ad set without impressions.
    set_ctr = (s_clicks + 0.5) / (s_imps + 1.0)
    parent = set_ctr[ad_adset] if len(ad_adset) else np.zeros(0)
    m = beta_strength(
        clicks,
        impressions,
        parent,
        settings.ctr_prior_strength_min,
        settings.ctr_prior_strength_max,
    )
    return BetaPosterior(m * parent, m * (1.0 - parent)).update(clicks, impressions)
