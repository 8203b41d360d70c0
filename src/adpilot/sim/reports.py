"""What a platform's reports show: entities and lag-thinned daily rows and breakdowns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from adpilot.platforms.base import (
    AccountSnapshot,
    AdData,
    AdSetData,
    BreakdownMetric,
    CampaignData,
    DailyMetric,
)
from adpilot.sim.lag import reported_share, thin
from adpilot.sim.rng import TAG_AD_LAG, TAG_COUNTRY_LAG, TAG_HOUR_LAG, hash_uniform
from adpilot.sim.tables import LEARN_NAMES, LEARNED, STATUS_NAMES

if TYPE_CHECKING:
    from adpilot.sim.market import Market

I8 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CreativeRecord:
    """One creative of the market's library (what a creative sync would list)."""

    external_id: str
    name: str
    pool: str  # generated | ugc | manual
    organic_score: float
    safety_failed: bool
    running_in_adsets: tuple[str, ...]  # ad sets with an active ad using it


@dataclass(frozen=True)
class AdMatrix:
    """Ads × days arrays over a window (rows follow the market's ad order)."""

    days: list[dt.date]
    ad_ids: list[str]
    spend: I8  # cents
    impressions: I8
    clicks: I8
    conversions: I8  # as reported on `as_of` (lagged)
    true_conversions: I8
    frequency: npt.NDArray[np.float64]


def _window(m: Market, since: dt.date, until: dt.date) -> range:
    lo = max(since.toordinal(), m.history.day0)
    hi = min(until.toordinal(), m.history.day0 + m.history.days - 1)
    return range(lo, hi + 1)


def _pad(arr: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    if len(arr) >= n:
        return arr
    pad = np.zeros((n - len(arr), *arr.shape[1:]), dtype=arr.dtype)
    return np.concatenate([arr, pad])


def _as_of(m: Market, as_of: dt.date | None) -> int:
    return (as_of or m.through + dt.timedelta(days=1)).toordinal()


def ad_matrix(m: Market, since: dt.date, until: dt.date, as_of: dt.date | None = None) -> AdMatrix:
    """Daily ad metrics over [since, until]; conversions as a report read on `as_of` shows them.

    `as_of` defaults to the day after the last simulated day ("today").
    """
    days = _window(m, since, until)
    n_ads = len(m.ads.id)
    hist = m.history

    def stack(series: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        # Ads created after a day have no entry that day: pad them with zeros.
        if not days:
            return np.zeros((n_ads, 0), dtype=series[0].dtype if series else np.int64)
        return np.stack([_pad(series[d - hist.day0], n_ads) for d in days], axis=1)

    spend = stack(hist.spend).astype(np.int64)
    imps = stack(hist.impressions).astype(np.int64)
    clicks = stack(hist.clicks).astype(np.int64)
    conv = stack(hist.conversions).astype(np.int64)
    freq = stack(hist.frequency).astype(np.float64)
    day_ords = np.asarray(list(days), dtype=np.int64)
    share = reported_share(_as_of(m, as_of) - day_ords, m.params.lag)
    u = hash_uniform(m.seed, TAG_AD_LAG, np.arange(n_ads)[:, None], day_ords[None, :])
    reported = thin(conv, share[None, :], u)
    return AdMatrix(
        days=[dt.date.fromordinal(d) for d in days],
        ad_ids=list(m.ads.id),
        spend=spend,
        impressions=imps,
        clicks=clicks,
        conversions=reported,
        true_conversions=conv,
        frequency=freq,
    )


def daily_metrics(
    m: Market, since: dt.date, until: dt.date, as_of: dt.date | None = None
) -> list[DailyMetric]:
    """One row per ad and day with delivery (days without delivery have no row, as on platforms)."""
    mx = ad_matrix(m, since, until, as_of)
    rows: list[DailyMetric] = []
    with_freq = m.profile.reports_frequency
    for a, d in zip(*np.nonzero((mx.impressions > 0) | (mx.spend > 0)), strict=True):
        rows.append(
            DailyMetric(
                ad_external_id=mx.ad_ids[a],
                date=mx.days[d],
                spend_cents=int(mx.spend[a, d]),
                impressions=int(mx.impressions[a, d]),
                clicks=int(mx.clicks[a, d]),
                conversions=int(mx.conversions[a, d]),
                frequency=float(mx.frequency[a, d]) if with_freq else None,
            )
        )
    rows.sort(key=lambda r: (r.date, r.ad_external_id))
    return rows


def breakdown_totals(
    m: Market, since: dt.date, until: dt.date, as_of: dt.date | None = None
) -> tuple[I8, I8]:
    """Window totals per ad set: (S, G, 4) by country and (S, 24, 4) by hour.

    The last axis is spend cents, impressions, clicks, reported conversions.
    """
    days = _window(m, since, until)
    n_sets, n_geo = len(m.adsets.id), len(m.countries)
    by_country = np.zeros((n_sets, n_geo, 4), dtype=np.int64)
    by_hour = np.zeros((n_sets, 24, 4), dtype=np.int64)
    hist = m.history
    if not hist.by_country:
        return by_country, by_hour
    today = _as_of(m, as_of)
    sets = np.arange(n_sets)[:, None]
    for d in days:
        share = reported_share(today - d, m.params.lag)
        for total, series, tag, width in (
            (by_country, hist.by_country, TAG_COUNTRY_LAG, n_geo),
            (by_hour, hist.by_hour, TAG_HOUR_LAG, 24),
        ):
            cells = _pad(series[d - hist.day0], n_sets).astype(np.int64)
            u = hash_uniform(m.seed, tag, sets * width + np.arange(width)[None, :], d)
            total[..., :3] += cells[..., :3]
            total[..., 3] += thin(cells[..., 3], share, u)
    return by_country, by_hour


def breakdowns(
    m: Market, since: dt.date, until: dt.date, as_of: dt.date | None = None
) -> list[BreakdownMetric]:
    by_country, by_hour = breakdown_totals(m, since, until, as_of)
    rows: list[BreakdownMetric] = []
    for dim, totals, keys in (
        ("country", by_country, list(m.countries)),
        ("hour", by_hour, [str(h) for h in range(24)]),
    ):
        for s, g in zip(*np.nonzero(totals[..., 1] > 0), strict=True):
            spend, imps, clicks, conv = (int(x) for x in totals[s, g])
            rows.append(
                BreakdownMetric(
                    adset_external_id=m.adsets.id[s],
                    dimension=dim,  # type: ignore[arg-type]
                    key=keys[g],
                    spend_cents=spend,
                    impressions=imps,
                    clicks=clicks,
                    conversions=conv,
                )
            )
    return rows


def _when(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(unix), tz=dt.UTC)


def campaigns_data(m: Market) -> list[CampaignData]:
    c = m.campaigns
    return [
        CampaignData(
            external_id=c.id[i],
            name=c.name[i],
            status=STATUS_NAMES[int(c.status[i])],
            budget_mode="campaign" if c.cbo[i] else "adset",
            daily_budget_cents=int(c.budget[i]) if c.cbo[i] else None,
            created_at=_when(c.created[i]),
        )
        for i in range(len(c.id))
    ]


def adset_targeting(m: Market, row: int) -> dict[str, list[str]]:
    return {"geo": [g for g, on in zip(m.countries, m.adsets.geo[row], strict=True) if on]}


def adset_schedule(m: Market, row: int) -> dict[str, list[int]]:
    return {"dayparts": [int(h) for h in np.flatnonzero(m.adsets.hours[row])]}


def adset_learning(m: Market, row: int) -> str | None:
    if not m.profile.reports_learning:
        return None
    return LEARN_NAMES[int(m.adsets.learn[row])] or LEARN_NAMES[LEARNED]


def adsets_data(m: Market) -> list[AdSetData]:
    s, c = m.adsets, m.campaigns
    return [
        AdSetData(
            external_id=s.id[i],
            campaign_external_id=c.id[int(s.campaign[i])],
            name=s.name[i],
            status=STATUS_NAMES[int(s.status[i])],
            daily_budget_cents=None if c.cbo[int(s.campaign[i])] else int(s.budget[i]),
            targeting=adset_targeting(m, i),
            schedule=adset_schedule(m, i),
            learning=adset_learning(m, i),
            created_at=_when(s.created[i]),
        )
        for i in range(len(s.id))
    ]


def ads_data(m: Market) -> list[AdData]:
    a, s, c, k = m.ads, m.adsets, m.campaigns, m.creatives
    return [
        AdData(
            external_id=a.id[i],
            adset_external_id=s.id[int(a.adset[i])],
            campaign_external_id=c.id[int(s.campaign[int(a.adset[i])])],
            name=a.name[i],
            status=STATUS_NAMES[int(a.status[i])],
            creative_external_id=k.id[int(a.creative[i])],
            created_at=_when(a.created[i]),
        )
        for i in range(len(a.id))
    ]


def creatives_data(m: Market) -> list[CreativeRecord]:
    a, k = m.ads, m.creatives
    running: dict[int, list[str]] = {}
    for i in np.flatnonzero(a.status == 0):
        running.setdefault(int(a.creative[i]), []).append(m.adsets.id[int(a.adset[i])])
    return [
        CreativeRecord(
            external_id=k.id[i],
            name=k.name[i],
            pool=k.pool[i],
            organic_score=round(float(k.score[i]), 1),
            safety_failed=bool(k.safety[i]),
            running_in_adsets=tuple(sorted(set(running.get(i, [])))),
        )
        for i in range(len(k.id))
    ]


def snapshot(
    m: Market, since: dt.date, until: dt.date, as_of: dt.date | None = None
) -> AccountSnapshot:
    return AccountSnapshot(
        account=m.account,
        campaigns=campaigns_data(m),
        adsets=adsets_data(m),
        ads=ads_data(m),
        metrics=daily_metrics(m, since, until, as_of),
        breakdowns=breakdowns(m, since, until, as_of),
    )
