"""`POST /v1/reports/apps/{campaigns|adgroups|ads}/query` over the simulated market.

Enforced as Apple documents it: a `campaignId` filter (EQUALS, one campaign) is required;
DAILY starts at most 90 days back and spans more than one day; HOURLY starts at most 7 days back
and is refused for ads; without `granularity` only `totalMetrics` come back; `groupBy` on
ads allows only `countryOrRegion`/`storefront`; EMPTY_METRICS does not combine with `groupBy`.
Days without delivery are left out. Conversions are lagged the way the simulator reports them:
a report read today sees fewer installs for yesterday than one read next week.
The simulator splits delivery by country per ad group, not per ad, so ads grouped by country
(and WEEKLY/MONTHLY granularities) are refused here with a message saying so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from adpilot.fakes.apple.errors import ApiFailure, invalid, not_found
from adpilot.fakes.apple.state import AppleState
from adpilot.fakes.apple.views import ad_json, adgroup_json, campaign_json, money, paging
from adpilot.sim.market import Market
from adpilot.sim.reports import ad_matrix, breakdown_totals

KINDS = ("campaigns", "adgroups", "ads")
Cells = dict[str, np.ndarray]  # key -> (4,) spend cents, impressions, taps, installs


def metrics(cell: Any, currency: str, fields: list[str] | None) -> dict[str, Any]:
    spend, imps, taps, installs = (int(x) for x in cell)
    # The simulator's conversions are tap-through installs; view-through ones are a fixed share
    # on top, so tapInstalls and totalInstalls differ as they do on Apple.
    views = installs // 10
    out: dict[str, Any] = {
        "localSpend": money(spend, currency),
        "impressions": imps,
        "taps": taps,
        "ttr": round(taps / imps, 4) if imps else 0.0,
        "cpt": money(spend / taps if taps else 0, currency),
        "cpm": money(spend * 1000 / imps if imps else 0, currency),
        "tapInstalls": installs,
        "tapNewDownloads": installs - installs // 5,
        "tapRedownloads": installs // 5,
        "tapInstallRate": round(installs / taps, 4) if taps else 0.0,
        "tapInstallCPI": money(spend / installs if installs else 0, currency),
        "viewInstalls": views,
        "totalInstalls": installs + views,
        "totalAvgCPI": money(spend / (installs + views) if installs + views else 0, currency),
    }
    if fields:
        out = {k: v for k, v in out.items() if k in fields}
    return out


def _date(value: Any, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise invalid(f"timeRange.{name} must be YYYY-MM-DD", "INVALID_DATE", name) from None


def _filters(body: Mapping[str, Any]) -> tuple[str, str | None]:
    campaign, group = None, None
    for f in body.get("filters") or []:
        if not isinstance(f, Mapping):
            raise invalid("each filter must be an object", "INVALID_FILTER")
        field, op = str(f.get("field")), str(f.get("operator") or "EQUALS").upper()
        value = f.get("value", f.get("values"))
        if field not in ("campaignId", "adGroupId"):
            raise invalid(f"reports cannot filter on '{field}'", "INVALID_FILTER", field)
        if op != "EQUALS" or isinstance(value, list):
            raise invalid(f"{field} takes one value with EQUALS", "INVALID_FILTER", field)
        if field == "campaignId":
            campaign = str(value)
        else:
            group = str(value)
    if campaign is None:
        raise invalid("A campaignId filter is required", "CAMPAIGN_ID_REQUIRED", "campaignId")
    return campaign, group


def report(m: Market, state: AppleState, kind: str, body: Any) -> dict[str, Any]:
    if kind not in KINDS:
        raise ApiFailure(
            400, "bad_request", f"The {kind} report is not offered by this simulated account"
        )
    if not isinstance(body, Mapping):
        raise ApiFailure(400, "bad_request", "The request body must be a JSON object")
    campaign_id, group_id = _filters(body)
    if not m.has("campaign", campaign_id):
        raise not_found("campaign", campaign_id)
    window = body.get("timeRange")
    if not isinstance(window, Mapping):
        raise invalid("timeRange is required", "MISSING_FIELD", "timeRange")
    start, end = _date(window.get("start"), "start"), _date(window.get("end"), "end")
    granularity = window.get("granularity")
    today = m.through + dt.timedelta(days=1)
    if end < start:
        raise invalid("timeRange.end is before start", "INVALID_DATE_RANGE", "end")
    if granularity == "DAILY":
        if start < today - dt.timedelta(days=90) or end <= start:
            raise invalid(
                "DAILY needs a start within the last 90 days and a range of more than one day",
                "INVALID_DATE_RANGE",
            )
    elif granularity == "HOURLY":
        if kind == "ads":
            raise invalid("HOURLY is not available for ad reports", "INVALID_GRANULARITY")
        if start < today - dt.timedelta(days=7):
            raise invalid("HOURLY needs a start within the last 7 days", "INVALID_DATE_RANGE")
    elif granularity is not None:
        raise invalid(
            f"granularity {granularity!r} is not offered by this simulated account",
            "INVALID_GRANULARITY",
        )
    group_by = [str(g) for g in body.get("groupBy") or []]
    by_country = bool(group_by)
    if any(g not in ("countryOrRegion", "storefront") for g in group_by) or (
        by_country and kind != "adgroups"
    ):
        raise invalid(
            f"groupBy {group_by} is not offered for {kind} by this simulated account",
            "INVALID_GROUP_BY",
        )
    rows_opt = [str(x) for x in (body.get("options") or {}).get("includeRows") or []]
    if by_country and "EMPTY_METRICS" in rows_opt:
        raise invalid("EMPTY_METRICS cannot be combined with groupBy", "INVALID_OPTIONS")
    fields = [str(f) for f in body.get("fields") or []] or None
    offset, size, _ = paging(body)

    rows = _rows(m, state, kind, campaign_id, group_id, start, end, granularity, by_country)
    if "EMPTY_METRICS" not in rows_opt:
        rows = [r for r in rows if r["_delivered"]]
    currency = m.account.currency
    grand = np.zeros(4, dtype=np.int64)
    out = []
    for row in rows:
        grand += row["_total"]
    for row in rows[offset : offset + size]:
        item: dict[str, Any] = {
            "metadata": row["metadata"],
            "totalMetrics": metrics(row["_total"], currency, fields),
        }
        if granularity:
            item["granularMetrics"] = [
                {"date": label, **metrics(cell, currency, fields)}
                for label, cell in row["_series"]
                if cell[0] > 0 or cell[1] > 0
            ]
        out.append(item)
    result: dict[str, Any] = {"rows": out}
    if "GRAND_TOTAL" in rows_opt:
        result["summary"] = {"grandTotal": metrics(grand, currency, fields)}
    return {
        "result": result,
        "pagination": {"offset": offset, "pageSize": size, "totalCount": len(rows)},
    }


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=k) for k in range((end - start).days + 1)]


def _rows(
    m: Market,
    state: AppleState,
    kind: str,
    campaign_id: str,
    group_id: str | None,
    start: dt.date,
    end: dt.date,
    granularity: Any,
    by_country: bool,
) -> list[dict[str, Any]]:
    as_of = m.through + dt.timedelta(days=1)
    c = m.index_of("campaign", campaign_id)
    groups = [j for j in range(len(m.adsets.id)) if int(m.adsets.campaign[j]) == c]
    if group_id is not None:
        groups = [j for j in groups if m.adsets.id[j] == group_id]
    days = _days(start, min(end, m.through)) if start <= m.through else []

    def row(metadata: dict[str, Any], series: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
        total = np.sum([cell for _, cell in series], axis=0) if series else np.zeros(4, np.int64)
        total = np.asarray(total, dtype=np.int64)
        delivered = bool(total[0] > 0 or total[1] > 0)
        return {"metadata": metadata, "_series": series, "_total": total, "_delivered": delivered}

    if granularity == "HOURLY" or by_country:
        # Per ad group, from the simulator's per-day country and hour splits.
        per_day = {d: breakdown_totals(m, d, d, as_of) for d in days}
        out = []
        for j in groups:
            meta = adgroup_json(m, state, j)
            if by_country:
                for g, iso in enumerate(m.countries):
                    series = _series(days, lambda d, j=j, g=g: per_day[d][0][j, g])
                    out.append(row({**meta, "countryOrRegion": iso, "storefront": iso}, series))
            else:
                series = [
                    (f"{d.isoformat()}T{h:02d}:00:00.000", per_day[d][1][j, h])
                    for d in days
                    for h in range(24)
                ]
                out.append(row(meta, series))
        return out

    mx = ad_matrix(m, start, end, as_of)
    col = {d: k for k, d in enumerate(mx.days)}
    cube = np.stack([mx.spend, mx.impressions, mx.clicks, mx.conversions], axis=-1)
    ad_rows = np.flatnonzero(np.isin(m.ads.adset, groups)) if groups else np.array([], int)

    def ad_cells(rows_: Any, d: dt.date) -> np.ndarray:
        if d not in col or len(rows_) == 0:
            return np.zeros(4, dtype=np.int64)
        return np.asarray(cube[rows_, col[d]].sum(axis=0), dtype=np.int64)

    if kind == "ads":
        out = []
        for a in ad_rows:
            meta = ad_json(m, state, int(a))
            meta["creative"] = {"id": meta["creativeId"], "systemStatus": "VALID"}
            out.append(row(meta, _series(days, lambda d, a=a: ad_cells([a], d))))
        return out
    if kind == "adgroups":
        out = []
        for j in groups:
            mine = np.flatnonzero(m.ads.adset == j)
            series = _series(days, lambda d, r=mine: ad_cells(r, d))
            out.append(row(adgroup_json(m, state, j), series))
        return out
    series = _series(days, lambda d: ad_cells(ad_rows, d))
    return [row(campaign_json(m, state, c), series)]


def _series(days: list[dt.date], cell_of: Any) -> list[tuple[str, np.ndarray]]:
    """One (date label, cell) per day; without a granularity only their total is shown."""
    return [(d.isoformat(), np.asarray(cell_of(d), dtype=np.int64)) for d in days]
