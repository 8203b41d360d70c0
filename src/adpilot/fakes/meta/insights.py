"""Insights of the fake Meta: rows computed from the simulated market's history (strings, only
days with delivery, `actions` lists), and the sync query's size limit (the async report runs
are in `reports.py`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt

from adpilot.fakes.meta.graph import GraphFault, graph_error, invalid_param, json_param
from adpilot.fakes.meta.state import MetaState
from adpilot.platforms.meta.requests import ZERO_DECIMAL_CURRENCIES
from adpilot.sim import reports
from adpilot.sim.market import Market

HOURLY = "hourly_stats_aggregated_by_advertiser_time_zone"
ID_FIELDS = {
    "account_id",
    "account_name",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "objective",
    "optimization_goal",
}
METRIC_FIELDS = {
    "spend",
    "impressions",
    "clicks",
    "inline_link_clicks",
    "reach",
    "frequency",
    "cpc",
    "cpm",
    "ctr",
    "actions",
    "cost_per_action_type",
}
LEVELS = ("account", "campaign", "adset", "ad")
INSTALL_ACTIONS = ("mobile_app_install", "omni_app_install")
PARAMS = {
    "level",
    "fields",
    "time_range",
    "date_preset",
    "time_increment",
    "breakdowns",
    "action_breakdowns",
    "action_attribution_windows",
    "use_unified_attribution_setting",
    "filtering",
    "limit",
    "after",
    "before",
    "summary",
    "access_token",
    "appsecret_proof",
}


def money(cents: float, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return str(round(cents / 100))
    return f"{cents / 100:.2f}"


def _window(params: dict[str, str], today: dt.date) -> tuple[dt.date, dt.date]:
    span = json_param(params, "time_range")
    preset = params.get("date_preset")
    if span is not None:
        try:
            since = dt.date.fromisoformat(str(span["since"]))
            until = dt.date.fromisoformat(str(span["until"]))
        except (KeyError, TypeError, ValueError):
            raise invalid_param(
                'Param time_range must be {"since": YYYY-MM-DD, "until": YYYY-MM-DD}'
            ) from None
        if since > until:
            raise invalid_param("time_range: since must not be after until")
        return since, until
    days = {"last_7d": 7, "last_14d": 14, "last_28d": 28, "last_30d": 30, "last_90d": 90}
    if preset in (None, "last_30d") or preset in days:
        n = days[preset or "last_30d"]
        return today - dt.timedelta(days=n), today - dt.timedelta(days=1)
    if preset == "yesterday":
        return today - dt.timedelta(days=1), today - dt.timedelta(days=1)
    raise invalid_param(f"date_preset {preset!r} is not simulated by this fake")


class Query:
    """A parsed insights request."""

    def __init__(self, params: dict[str, str], today: dt.date) -> None:
        unknown = sorted(set(params) - PARAMS)
        if unknown:
            raise invalid_param(f"Param {unknown[0]} is not a valid insights parameter")
        self.level = params.get("level", "account")
        if self.level not in LEVELS:
            raise invalid_param(f"Param level must be one of {list(LEVELS)}")
        fields = [
            f.strip() for f in (params.get("fields") or "impressions,spend").split(",") if f.strip()
        ]
        for name in fields:
            if name not in ID_FIELDS | METRIC_FIELDS | {"date_start", "date_stop"}:
                raise invalid_param(f"{name} is not valid for fields param")
        self.fields = fields
        self.since, self.until = _window(params, today)
        increment = params.get("time_increment", "all_days")
        if increment not in ("1", "all_days"):
            raise invalid_param(
                f"time_increment {increment!r} is not simulated by this fake (use 1 or all_days)"
            )
        self.daily = increment == "1"
        breakdowns = json_param(params, "breakdowns", []) or []
        if isinstance(breakdowns, str):
            breakdowns = [breakdowns]
        if len(breakdowns) > 1 or (breakdowns and breakdowns[0] not in ("country", HOURLY)):
            raise invalid_param(f"breakdowns {breakdowns} are not simulated by this fake")
        self.breakdown: str | None = breakdowns[0] if breakdowns else None
        if self.breakdown and (self.level != "adset" or self.daily):
            raise invalid_param(
                "This fake simulates breakdowns at level=adset over the whole range only"
            )
        if self.breakdown == HOURLY and {"reach", "frequency"} & set(fields):
            raise invalid_param("Reach and frequency are not available with hourly breakdowns")
        if params.get("filtering") not in (None, "", "[]"):
            raise invalid_param("filtering is not simulated by this fake")

    def key(self) -> tuple[Any, ...]:
        return (self.level, tuple(self.fields), self.since, self.until, self.daily, self.breakdown)


def _actions(conversions: int, clicks: int) -> list[dict[str, str]]:
    out = []
    link = round(clicks * 0.9)
    if link > 0:
        out.append({"action_type": "link_click", "value": str(link)})
    if conversions > 0:
        out += [{"action_type": a, "value": str(conversions)} for a in INSTALL_ACTIONS]
    return out


def _row(
    q: Query,
    ids: dict[str, Any],
    spend: float,
    imps: int,
    clicks: int,
    conv: int,
    currency: str,
    frequency: float | None,
    since: dt.date,
    until: dt.date,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "spend": money(spend, currency),
        "impressions": str(imps),
        "clicks": str(clicks),
        "inline_link_clicks": str(round(clicks * 0.9)),
        "cpc": f"{spend / 100 / clicks:.6f}" if clicks else None,
        "cpm": f"{spend / 100 / imps * 1000:.6f}" if imps else None,
        "ctr": f"{clicks / imps * 100:.6f}" if imps else None,
    }
    if frequency is not None and frequency > 0:
        values["frequency"] = f"{frequency:.6f}"
        values["reach"] = str(round(imps / frequency))
    actions = _actions(conv, clicks)
    if actions:
        values["actions"] = actions
    if conv:
        values["cost_per_action_type"] = [
            {"action_type": a, "value": f"{spend / 100 / conv:.6f}"} for a in INSTALL_ACTIONS
        ]
    row = {f: v for f in q.fields if (v := ids.get(f, values.get(f))) is not None}
    row["date_start"], row["date_stop"] = since.isoformat(), until.isoformat()
    return row


def _groups(m: Market, level: str) -> tuple[npt.NDArray[np.int64], int]:
    """Each ad's group row at `level`, and the number of groups."""
    adset_of = m.ads.adset.astype(np.int64)
    if level == "ad":
        return np.arange(len(m.ads.id), dtype=np.int64), len(m.ads.id)
    if level == "adset":
        return adset_of, len(m.adsets.id)
    if level == "campaign":
        return m.adsets.campaign.astype(np.int64)[adset_of], len(m.campaigns.id)
    return np.zeros(len(m.ads.id), dtype=np.int64), 1


def _ids(m: Market, account: str, currency: str, level: str, g: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "account_id": account.removeprefix("act_"),
        "account_name": m.account.name,
        "account_currency": currency,
        "objective": "OUTCOME_APP_PROMOTION",
        "optimization_goal": "APP_INSTALLS",
    }
    if level == "ad":
        s = int(m.ads.adset[g])
        out.update(ad_id=m.ads.id[g], ad_name=m.ads.name[g])
    elif level == "adset":
        s = g
    else:
        s = -1
    if s >= 0:
        out.update(adset_id=m.adsets.id[s], adset_name=m.adsets.name[s])
        c = int(m.adsets.campaign[s])
    else:
        c = g if level == "campaign" else -1
    if c >= 0:
        out.update(campaign_id=m.campaigns.id[c], campaign_name=m.campaigns.name[c])
    return out


def rows(m: Market, account: str, currency: str, q: Query) -> list[dict[str, Any]]:
    """The rows Graph would answer: one per object (and day with `time_increment=1`) that had
    delivery; numbers as strings."""
    if q.breakdown:
        return _breakdown_rows(m, account, currency, q)
    mx = reports.ad_matrix(m, q.since, q.until)
    groups, n = _groups(m, q.level)
    freq = np.nan_to_num(mx.frequency)
    reach = np.where(freq > 0, mx.impressions / np.where(freq > 0, freq, 1), 0.0)

    def total(arr: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        out = np.zeros((n, arr.shape[1]), dtype=np.float64)
        np.add.at(out, groups, arr)
        return out

    spend, imps, clicks = total(mx.spend), total(mx.impressions), total(mx.clicks)
    conv, reach_g = total(mx.conversions), total(reach)
    if not q.daily:
        spend, imps, clicks, conv, reach_g = (
            x.sum(axis=1, keepdims=True) for x in (spend, imps, clicks, conv, reach_g)
        )
        days = [(q.since, q.until)]
    else:
        days = [(d, d) for d in mx.days]
    out = []
    for d, (start, stop) in enumerate(days):
        for g in np.flatnonzero((imps[:, d] > 0) | (spend[:, d] > 0)):
            i = int(g)
            f = float(imps[i, d] / reach_g[i, d]) if reach_g[i, d] > 0 else None
            out.append(
                _row(
                    q,
                    _ids(m, account, currency, q.level, i),
                    float(spend[i, d]),
                    int(imps[i, d]),
                    int(clicks[i, d]),
                    int(conv[i, d]),
                    currency,
                    f,
                    start,
                    stop,
                )
            )
    return out


def _breakdown_rows(m: Market, account: str, currency: str, q: Query) -> list[dict[str, Any]]:
    by_country, by_hour = reports.breakdown_totals(m, q.since, q.until)
    if q.breakdown == "country":
        totals, keys = by_country, list(m.countries)
    else:
        totals, keys = by_hour, [f"{h:02d}:00:00 - {h:02d}:59:59" for h in range(24)]
    out = []
    for s, g in zip(*np.nonzero(totals[..., 1] > 0), strict=True):
        spend, imps, clicks, conv = (int(x) for x in totals[s, g])
        row = _row(
            q,
            _ids(m, account, currency, "adset", int(s)),
            spend,
            imps,
            clicks,
            conv,
            currency,
            None,
            q.since,
            q.until,
        )
        row[q.breakdown or ""] = keys[int(g)]
        out.append(row)
    return out


def cached_rows(
    state: MetaState, m: Market, account: str, currency: str, q: Query
) -> list[dict[str, Any]]:
    """Rows of a sync query, remembered while the market's history and ads are unchanged (a
    paged read asks for the same query once per page)."""
    key = (account, currency, q.key(), m.through, len(m.ads.id))
    found = state.insights_cache.get(key)
    if found is None:
        found = rows(m, account, currency, q)
        if len(state.insights_cache) >= 8:
            state.insights_cache.pop(next(iter(state.insights_cache)))
        state.insights_cache[key] = found
    return found


def too_large(found: list[dict[str, Any]], limit: int) -> GraphFault | None:
    if len(found) <= limit:
        return None
    return graph_error(
        100,
        "Please reduce the amount of data you're asking for, then retry your request",
        subcode=1487534,
        kind="OAuthException",
        user_title="Too much data",
        user_msg="Use an asynchronous report (POST /insights) or a shorter date range.",
    )
