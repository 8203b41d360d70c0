"""The learning cost of an edit, and the expected gains it is weighed against.

Pausing an ad, swapping its creative or adding one restarts the ad set's learning phase on Meta
and TikTok: delivery runs at reduced efficiency until the platform has seen enough optimisation
events (50 on Meta, 25 on TikTok) or a week has passed. An edit is worth proposing only when the
conversions it is expected to win over the next weeks exceed the conversions that phase costs.
"""

from __future__ import annotations

import math

import numpy as np

from adpilot.engine.frame import Frame
from adpilot.engine.types import FloatArray

# E[max(0, Z)] for a standard normal Z: the expected upside of one fresh draw.
_UPSIDE = 1.0 / math.sqrt(2.0 * math.pi)


def adset_daily_conversions(frame: Frame) -> FloatArray:
    """Per ad set: expected daily conversions at its mean daily spend over the last 7 days."""
    days = min(7, max(frame.n_days, 1))
    spend = frame.adset_w.get("spend", days) / days
    return np.asarray(spend * frame.adset.post.mean_rate(), dtype=np.float64)


def learning_cost(frame: Frame) -> FloatArray:
    """Per ad set: expected conversions lost if an edit restarts its learning phase now."""
    st = frame.settings
    needed = float(st.learning_events.get(frame.inp.platform, 0))
    conv = adset_daily_conversions(frame)
    if needed <= 0:
        return np.zeros(len(frame.adsets))
    days = np.minimum(st.learning_days, needed / np.maximum(conv, 1e-9))
    return np.asarray(conv * (1.0 - st.learning_efficiency) * days, dtype=np.float64)


def ad_daily_spend(frame: Frame) -> FloatArray:
    days = min(7, max(frame.n_days, 1))
    return np.asarray(frame.ad_w.get("spend", days) / days, dtype=np.float64)


def refresh_gain(frame: Frame) -> FloatArray:
    """Per ad: conversions a fresh creative should win back over the horizon.

    A fresh creative is expected to convert at least like a typical ad of its ad set (the
    ad-level prior mean) and like the tired ad did before it tired (its earlier posterior rate);
    the tired one converts at its recent posterior rate. The spend stays with the slot.
    """
    st = frame.settings
    fresh = np.maximum(frame.hier.ad_prior.mean_rate(), frame.fatigue.earlier.mean_rate())
    recent = frame.fatigue.recent.mean_rate()
    gain = ad_daily_spend(frame) * (fresh - recent) * st.edit_horizon_days
    return np.asarray(np.maximum(gain, 0.0), dtype=np.float64)


def pause_gain(frame: Frame, own_rate: FloatArray, sibling_rate: FloatArray) -> FloatArray:
    """Per ad: conversions won over the horizon when its spend goes to its siblings instead."""
    st = frame.settings
    gain = ad_daily_spend(frame) * (sibling_rate - own_rate) * st.edit_horizon_days
    return np.asarray(gain, dtype=np.float64)


def new_creative_gain(frame: Frame) -> FloatArray:
    """Per ad set: expected conversions an added creative wins over the horizon.

    Its quality is a fresh draw from the spread of ad rates the hierarchy estimated (prior shape
    a ⇒ coefficient of variation 1/√a); the platform shifts delivery towards it only when it is
    better, so the gain is the upside of one draw. A better newcomer takes about half of the ad
    set's delivery whatever the number of ads already running (delivery concentrates on the best
    ads), so the count of running ads only matters through the slot limit.
    """
    st = frame.settings
    # Thin data cannot show the spread (the pooled shape hits its cap); creatives are known to
    # differ at least this much.
    cv = max(1.0 / math.sqrt(max(frame.hier.shapes[2], 1e-9)), st.creative_quality_cv_min)
    conv = adset_daily_conversions(frame)
    rel = _UPSIDE * cv * 0.5
    return np.asarray(conv * rel * st.edit_horizon_days, dtype=np.float64)
