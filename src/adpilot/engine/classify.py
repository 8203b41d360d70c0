"""The seven classes of SPEC §4.2, the 0–100 performance score and fatigue detection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from adpilot.engine.estimates import BetaPosterior, GammaPosterior, normal_cdf
from adpilot.engine.types import AD_CLASSES, AdClass, EngineSettings, FloatArray
from adpilot.engine.windows import WindowSums

BoolArray = npt.NDArray[np.bool_]

# Score = logistic(k · log(target / CPA)): 50 at target and 80 when CPA is two thirds of target,
# so "top performer" means a clear margin, not a coin flip.
SCORE_SLOPE = math.log(4.0) / math.log(1.5)

TOO_YOUNG, LEARNING, TOP, HEALTHY, UNDER, FATIGUED, CRITICAL = range(7)
assert AD_CLASSES[FATIGUED] == "FATIGUED" and AD_CLASSES[CRITICAL] == "CRITICAL"


def performance_score(post: GammaPosterior, target_cpa: float | None) -> FloatArray:
    """Posterior expectation of the logistic score (probit approximation over log λ).

    Centred on the point estimate (score 50 exactly when the estimated CPA equals target);
    averaging over the posterior spread pulls thin evidence towards 50, so a CPA from two
    conversions cannot look like a top performer.
    """
    if target_cpa is None or target_cpa <= 0:
        return np.full(post.shape.shape, 50.0)
    _, var = post.log_rate_moments()
    z = np.log(post.mean_rate() * target_cpa)  # log(target / estimated CPA)
    x = SCORE_SLOPE * z / np.sqrt(1.0 + math.pi * SCORE_SLOPE**2 * var / 8.0)
    return np.asarray(100.0 * special.expit(x), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class FatigueSignals:
    fatigued: BoolArray
    p_decline: FloatArray  # P(conversion rate in the last 7 days < the 23 days before)
    worsening: FloatArray  # recent / earlier posterior-median CPA
    ctr_recent: FloatArray
    ctr_earlier: FloatArray
    ctr_falling: BoolArray
    frequency_recent: FloatArray  # NaN where the platform reports none
    recent: GammaPosterior
    earlier: GammaPosterior  # the same ad before the recent window
    p_recent_above: FloatArray  # P(recent CPA > target)


def _window_log_ctr(
    clicks: FloatArray, impressions: FloatArray, centre: FloatArray, strength: float
) -> tuple[FloatArray, FloatArray]:
    """Posterior mean and variance of a window's log CTR under a Beta prior of `strength`
    impressions centred on the ad's pooled CTR."""
    prior = BetaPosterior(strength * centre, strength * (1.0 - centre))
    mean, var = prior.update(clicks, impressions).log_moments()
    return mean, np.clip(var, 1e-12, None)


def fatigue_signals(
    ws: WindowSums,
    prior: GammaPosterior,
    frequency_recent: FloatArray,
    target_cpa: float | None,
    settings: EngineSettings,
    recent: int = 7,
    longer: int = 30,
    *,
    ctr_centre: FloatArray,
) -> FatigueSignals:
    """Detect creative fatigue: CPA worsening across windows with falling CTR or high frequency."""
    rc = ws.get("conversions", recent)
    rx = ws.get("exposure", recent)
    ec = ws.between("conversions", recent, longer)
    ex = ws.between("exposure", recent, longer)
    post_r = prior.update(rc, rx)
    post_e = prior.update(ec, ex)
    mr, vr = post_r.log_rate_moments()
    me, ve = post_e.log_rate_moments()
    p_decline = normal_cdf((me - mr) / np.sqrt(vr + ve))
    worsening = np.exp(me - mr)

    ri, rk = ws.get("impressions", recent), ws.get("clicks", recent)
    ei, ek = ws.between("impressions", recent, longer), ws.between("clicks", recent, longer)
    strength = settings.ctr_window_prior_impressions
    lr, lvr = _window_log_ctr(rk, ri, ctr_centre, strength)
    le, lve = _window_log_ctr(ek, ei, ctr_centre, strength)
    with np.errstate(divide="ignore", invalid="ignore"):
        ctr_r = np.where(ri > 0, rk / ri, np.nan)
        ctr_e = np.where(ei > 0, ek / ei, np.nan)
    p_ctr_fall = normal_cdf((le - lr) / np.sqrt(lvr + lve))
    ctr_falling = (
        (ri > 0)
        & (ei > 0)
        & (lr <= le + math.log(1.0 - settings.fatigue_ctr_drop))
        & (p_ctr_fall >= settings.credible_probability)
    )
    high_freq = np.nan_to_num(frequency_recent, nan=0.0) >= settings.fatigue_frequency

    if target_cpa is None:
        p_recent_above = np.zeros(rc.shape)
        enough = np.zeros(rc.shape, dtype=bool)
    else:
        p_recent_above = post_r.p_cpa_above(target_cpa)
        enough = ws.get("spend", longer) >= settings.fatigue_min_spend_multiple * target_cpa
    fatigued = (
        enough
        & (ex > 0)
        & (ri > 0)
        & (p_decline >= settings.credible_probability)
        & (worsening >= 1.0 + settings.fatigue_min_worsening)
        & (ctr_falling | high_freq)
        & (p_recent_above > 0.5)
    )
    return FatigueSignals(
        fatigued=fatigued,
        p_decline=p_decline,
        worsening=worsening,
        ctr_recent=ctr_r,
        ctr_earlier=ctr_e,
        ctr_falling=ctr_falling,
        frequency_recent=frequency_recent,
        recent=post_r,
        earlier=post_e,
        p_recent_above=p_recent_above,
    )


def classify(
    *,
    age_days: FloatArray,
    learning: BoolArray,
    score: FloatArray,
    p_above: FloatArray,
    cpa_estimate: FloatArray,
    critical_spend: FloatArray,
    critical_conversions: FloatArray,
    pool_cpa: float | None,
    fatigued: BoolArray,
    settings: EngineSettings,
) -> list[AdClass]:
    """Apply the class rules in precedence order (young and learning shield everything)."""
    critical = (critical_spend > settings.critical_spend_cents) & (critical_conversions == 0)
    if pool_cpa is not None and pool_cpa > 0:
        critical |= cpa_estimate > settings.critical_cpa_multiple * pool_cpa
    healthy = (score >= settings.healthy_score) & (p_above < settings.credible_probability)
    codes = np.select(
        [
            age_days < settings.too_young_days,
            learning,
            critical,
            fatigued,
            healthy & (score >= settings.top_score),
            healthy,
        ],
        [TOO_YOUNG, LEARNING, CRITICAL, FATIGUED, TOP, HEALTHY],
        default=UNDER,
    )
    return [AD_CLASSES[c] for c in codes.tolist()]
