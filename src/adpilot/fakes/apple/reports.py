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
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from adpilot.fakes.apple.errors import ApiFailure, invalid, not_found
from adpilot.fakes.apple.state import AppleState
from adpilot.fakes.apple.views import ad_json, adgroup_json, campaign_json, money, paging
from adpilot.sim.market import Market
from adpilot.sim.reports import ad_matrix, breakdown_totals

KINDS = ("campaigns", "adgroups", "ads")


def _per(a: int, b: int, scale: int = 1) -> float:
    return a * scale / b if b else 0.0


# AppsMetrics fields from (spend cents, impressions, taps, tap installs, currency). The
# simulator's conversions are tap-through installs; view-through ones are a fixed share on top,
# so tapInstalls and totalInstalls differ as they do on Apple.
_METRICS: dict[str, Callable[[int, int, int, int, str], Any]] = {
    "localSpend": lambda s, i, t, n, c: money(s, c),
    "impressions": lambda s, i, t, n, c: i,
    "taps": lambda s, i, t, n, c: t,
    "ttr": lambda s, i, t, n, c: round(_per(t, i), 4),
    "cpt": lambda s, i, t, n, c: money(_per(s, t), c),
    "cpm": lambda s, i, t, n, c: money(_per(s, i, 1000), c),
    "tapInstalls": lambda s, i, t, n, c: n,
    "tapNewDownloads": lambda s, i, t, n, c: n - n // 5,
    "tapRedownloads": lambda s, i, t, n, c: n // 5,
    "tapInstallRate": lambda s, i, t, n, c: round(_per(n, t), 4),
    "tapInstallCPI": lambda s, i, t, n, c: money(_per(s, n), c),
    "viewInstalls": lambda s, i, t, n, c: n // 10,
    "totalInstalls": lambda s, i, t, n, c: n + n // 10,
    "totalAvgCPI": lambda s, i, t, n, c: money(_per(s, n + n // 10), c),
}


def metric_maker(currency: str, fields: list[str] | None) -> Callable[[Any], dict[str, Any]]:
    """A function from a (spend, impressions, taps, installs) cell to the requested metrics."""
    chosen = [(k, f) for k, f in _METRICS.items() if not fields or k in fields]

    def make(cell: Any) -> dict[str, Any]:
        s, i, t, n = (int(x) for x in cell)
        return {name: f(s, i, t, n, currency) for name, f in chosen}

    return make


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
    if (by_country and "country" in state.refused_breakdowns) or (
        granularity == "HOURLY" and "hour" in state.refused_breakdowns
    ):
        raise invalid("This breakdown is not available for this account", "REPORT_NOT_AVAILABLE")
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
    shown = metric_maker(m.account.currency, fields)
    grand = np.zeros(4, dtype=np.int64)
    out = []
    for row in rows:
        grand += row["_total"]
    for row in rows[offset : offset + size]:
        item: dict[str, Any] = {
            "metadata": row["metadata"],
            "totalMetrics": shown(row["_total"]),
        }
        if granularity:
            item["granularMetrics"] = [
                {"date": label, **shown(cell)}
                for label, cell in zip(row["_labels"], row["_series"].tolist(), strict=True)
                if cell[0] > 0 or cell[1] > 0
            ]
        out.append(item)
    result: dict[str, Any] = {"rows": out}
    if "GRAND_TOTAL" in rows_opt:
        result["summary"] = {"grandTotal": shown(grand)}
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
    groups = [j for j in np.flatnonzero(m.adsets.campaign == c).tolist()]
    if group_id is not None:
        groups = [j for j in groups if m.adsets.id[j] == group_id]
    days = _days(start, min(end, m.through)) if start <= m.through else []
    labels = [d.isoformat() for d in days]

    def row(metadata: dict[str, Any], series: np.ndarray, names: list[str]) -> dict[str, Any]:
        total = series.sum(axis=0) if len(series) else np.zeros(4, np.int64)
        delivered = bool(total[0] > 0 or total[1] > 0)
        return {
            "metadata": metadata,
            "_labels": names,
            "_series": series,
            "_total": total.astype(np.int64),
            "_delivered": delivered,
        }

    if granularity == "HOURLY" or by_country:
        # Per ad group, from the simulator's per-day country and hour splits.
        country, hour = _split_cubes(m, state, days, as_of)  # (S, D, G, 4), (S, D, 24, 4)
        out = []
        for j in groups:
            meta = adgroup_json(m, state, j)
            if by_country:
                for g, iso in enumerate(m.countries):
                    series = country[j, :, g, :]
                    out.append(
                        row({**meta, "countryOrRegion": iso, "storefront": iso}, series, labels)
                    )
            else:
                names = [f"{d}T{h:02d}:00:00.000" for d in labels for h in range(24)]
                out.append(row(meta, hour[j].reshape(-1, 4), names))
        return out

    cube = _ad_cube(m, state, days, as_of)  # (A, D, 4)
    in_groups = np.isin(m.ads.adset, groups) if groups else np.zeros(len(m.ads.id), bool)
    if kind == "ads":
        out = []
        for a in np.flatnonzero(in_groups).tolist():
            meta = ad_json(m, state, a)
            meta["creative"] = {"id": meta["creativeId"], "systemStatus": "VALID"}
            out.append(row(meta, cube[a], labels))
        return out
    if kind == "adgroups":
        return [
            row(adgroup_json(m, state, j), cube[m.ads.adset == j].sum(axis=0), labels)
            for j in groups
        ]
    return [row(campaign_json(m, state, c), cube[in_groups].sum(axis=0), labels)]


def _cached(state: AppleState, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """Report cubes per market state: history only changes when a day is simulated."""
    found = state.report_cache.get(key)
    if found is None:
        if len(state.report_cache) > 64:
            state.report_cache.clear()
        found = state.report_cache[key] = make()
    return found


def _ad_cube(m: Market, state: AppleState, days: list[dt.date], as_of: dt.date) -> np.ndarray:
    def make() -> np.ndarray:
        if not days:
            return np.zeros((len(m.ads.id), 0, 4), dtype=np.int64)
        mx = ad_matrix(m, days[0], days[-1], as_of)
        cube = np.stack([mx.spend, mx.impressions, mx.clicks, mx.conversions], axis=-1)
        return np.asarray(cube, dtype=np.int64)

    key = ("ads", m.account.external_id, m.through, len(m.ads.id), tuple(days))
    return np.asarray(_cached(state, key, make))


def _split_cubes(
    m: Market, state: AppleState, days: list[dt.date], as_of: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    def make() -> tuple[np.ndarray, np.ndarray]:
        n_sets, n_geo = len(m.adsets.id), len(m.countries)
        country = np.zeros((n_sets, len(days), n_geo, 4), dtype=np.int64)
        hour = np.zeros((n_sets, len(days), 24, 4), dtype=np.int64)
        for k, d in enumerate(days):
            country[:, k], hour[:, k] = breakdown_totals(m, d, d, as_of)
        return country, hour

    key = ("split", m.account.external_id, m.through, len(m.adsets.id), tuple(days))
    country, hour = _cached(state, key, make)
    return country, hour
