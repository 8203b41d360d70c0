"""The fake TikTok's reports: `report/integrated/get/` and the async report task state machine.

Numbers come from the market as a report read today would show them (lagged conversions); every
metric is a string, `-` where it does not apply, and days without delivery have no row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from adpilot.fakes.tiktok.state import FakeState, ReportTask
from adpilot.fakes.tiktok.wire import (
    REPORT_FILES,
    ApiError,
    invalid,
    json_param,
    page_info,
    paging,
)
from adpilot.fakes.world import FakeWorld, Fault
from adpilot.platforms.tiktok.reports import MAX_SPAN_DAYS
from adpilot.sim.market import Market
from adpilot.sim.reports import ad_matrix, breakdown_totals
from adpilot.sim.tables import DELETED, Ads, AdSets, Campaigns

LEVELS = {
    "AUCTION_AD": "ad_id",
    "AUCTION_ADGROUP": "adgroup_id",
    "AUCTION_CAMPAIGN": "campaign_id",
    "AUCTION_ADVERTISER": "advertiser_id",
}
CONVERSION_METRICS = ("conversion", "result", "app_install", "real_time_app_install")
COST_METRICS = ("cost_per_conversion", "cost_per_result", "real_time_app_install_cost")
METRICS = frozenset(
    {
        "spend",
        "cash_spend",
        "voucher_spend",
        "impressions",
        "clicks",
        "ctr",
        "cpc",
        "cpm",
        "reach",
        "frequency",
        "conversion_rate",
        "currency",
        *CONVERSION_METRICS,
        *COST_METRICS,
    }
)
OUTPUT_FORMATS = ("CSV_STRING", "CSV_DOWNLOAD")

# One report cell before formatting: spend cents, impressions, clicks, conversions, frequency.
Cell = tuple[int, int, int, int, float | None]
Row = tuple[dict[str, str], dict[str, str]]


@dataclass(frozen=True)
class Query:
    report_type: str
    level: str  # ad_id | adgroup_id | campaign_id | advertiser_id
    time_dim: str | None
    audience: bool
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    since: dt.date
    until: dt.date
    include_deleted: bool
    ids: tuple[tuple[str, frozenset[str]], ...]


def _date(params: dict[str, Any], name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(params.get(name) or ""))
    except ValueError:
        raise invalid(f"{name}: must be a date YYYY-MM-DD") from None


def parse_query(params: dict[str, Any]) -> Query:
    report_type = str(params.get("report_type") or "")
    if report_type not in ("BASIC", "AUDIENCE"):
        raise invalid("report_type: only BASIC and AUDIENCE are available")
    level_name = str(params.get("data_level") or "")
    if level_name not in LEVELS:
        raise invalid(f"data_level: unknown value {level_name!r}")
    level = LEVELS[level_name]
    dimensions = json_param(params, "dimensions")
    if not isinstance(dimensions, list) or not dimensions:
        raise invalid("dimensions: a JSON list is required")
    allowed = {level, "stat_time_day", "stat_time_hour"}
    if report_type == "AUDIENCE":
        allowed.add("country_code")
    unknown = [d for d in dimensions if d not in allowed]
    if unknown:
        raise invalid(f"dimensions: {', '.join(map(str, unknown))} not valid with {level_name}")
    times = [d for d in dimensions if str(d).startswith("stat_time_")]
    if len(times) > 1:
        raise invalid("dimensions: at most one time dimension")
    time_dim = times[0] if times else None
    audience = "country_code" in dimensions
    if report_type == "AUDIENCE" and not audience:
        raise invalid("dimensions: AUDIENCE reports need an audience dimension (country_code)")
    if audience and (time_dim == "stat_time_hour" or level == "ad_id"):
        raise invalid("dimensions: country_code is available by day or in total, above ad level")
    if time_dim == "stat_time_hour" and level == "ad_id":
        raise invalid("dimensions: stat_time_hour is not available at AUCTION_AD level")
    metrics = json_param(params, "metrics", ["spend", "impressions"])
    if not isinstance(metrics, list):
        raise invalid("metrics: must be a JSON list")
    attributes = {"campaign_name", "campaign_id", "adgroup_name", "adgroup_id", "ad_name", "ad_id"}
    bad = [x for x in metrics if x not in METRICS and x not in attributes]
    if bad:
        raise invalid(f"metrics: unknown metric {', '.join(map(str, bad))}")
    since, until = _date(params, "start_date"), _date(params, "end_date")
    if until < since:
        raise invalid("end_date: must not be before start_date")
    if (until - since).days + 1 > MAX_SPAN_DAYS[time_dim]:
        raise invalid(
            f"The date range is too long: at most {MAX_SPAN_DAYS[time_dim]} days with "
            f"{time_dim or 'no time dimension'}"
        )
    include_deleted, ids = _filters(json_param(params, "filtering", []) or [], level)
    return Query(
        report_type,
        level,
        time_dim,
        audience,
        tuple(str(d) for d in dimensions),
        tuple(str(x) for x in metrics),
        since,
        until,
        include_deleted,
        ids,
    )


def _filters(filtering: Any, level: str) -> tuple[bool, tuple[tuple[str, frozenset[str]], ...]]:
    if not isinstance(filtering, list):
        raise invalid("filtering: must be a JSON list of filters")
    include_deleted = False
    ids: list[tuple[str, frozenset[str]]] = []
    status_field = level.replace("_id", "_status")
    for f in filtering:
        if not isinstance(f, dict) or "field_name" not in f:
            raise invalid("filtering: each filter needs field_name, filter_type, filter_value")
        name = str(f["field_name"])
        values = json_param(f, "filter_value", [])
        values = values if isinstance(values, list) else [values]
        if name == status_field:
            include_deleted = "STATUS_ALL" in values
        elif name in ("ad_ids", "adgroup_ids", "campaign_ids"):
            ids.append((name[:-1], frozenset(str(v) for v in values)))
        else:
            raise invalid(f"filtering: field_name {name} is not supported")
    return include_deleted, tuple(ids)


def _owners(m: Market) -> dict[str, list[str]]:
    """Each ad's and ad set's ids up the tree (for grouping and filters)."""
    adset_campaign = [m.campaigns.id[int(c)] for c in m.adsets.campaign]
    ad_adset = [m.adsets.id[int(s)] for s in m.ads.adset]
    return {
        "ad_adset": ad_adset,
        "ad_campaign": [adset_campaign[int(s)] for s in m.ads.adset],
        "adset_campaign": adset_campaign,
    }


def _cells(m: Market, q: Query) -> dict[tuple[str, str | None, str | None], Cell]:
    """(entity id at the query's level, time, country) → totals."""
    out: dict[tuple[str, str | None, str | None], list[Any]] = defaultdict(
        lambda: [0, 0, 0, 0, None]
    )
    owners = _owners(m)
    if q.audience or q.time_dim == "stat_time_hour":
        _adset_cells(m, q, owners, out)
    else:
        _ad_cells(m, q, owners, out)
    hidden = _deleted(m, q)
    return {k: (v[0], v[1], v[2], v[3], v[4]) for k, v in out.items() if k[0] not in hidden}


def _keep(q: Query, ids: dict[str, list[str]], n: int) -> list[bool]:
    """Per entity row, whether the id filters let it through."""
    keep = [True] * n
    for name, allowed in q.ids:
        column = ids[name]
        keep = [k and column[i] in allowed for i, k in enumerate(keep)]
    return keep


def _adset_cells(
    m: Market, q: Query, owners: dict[str, list[str]], out: dict[Any, list[Any]]
) -> None:
    """Country (over the window) or hourly (one day) rows: the market keeps these per ad set."""
    by_country, by_hour = breakdown_totals(m, q.since, q.until)
    if q.audience:
        grid, keys = by_country, list(m.countries)
    else:
        grid, keys = by_hour, [f"{q.since} {h:02d}:00:00" for h in range(24)]
    ids = {"adgroup_id": list(m.adsets.id), "campaign_id": owners["adset_campaign"]}
    group = _group(q, ids, m.account.external_id, len(m.adsets.id))
    keep = _keep(q, ids, len(m.adsets.id))
    rows, cols = np.nonzero(grid[..., 1] > 0)
    values = grid[rows, cols, :4].tolist()
    for s, k, v in zip(rows.tolist(), cols.tolist(), values, strict=True):
        if keep[s]:
            key = (group[s], None, keys[k]) if q.audience else (group[s], keys[k], None)
            _add(out[key], v)


def _ad_cells(m: Market, q: Query, owners: dict[str, list[str]], out: dict[Any, list[Any]]) -> None:
    mx = ad_matrix(m, q.since, q.until)
    n = len(mx.ad_ids)
    ids = {
        "ad_id": mx.ad_ids,
        "adgroup_id": owners["ad_adset"][:n],
        "campaign_id": owners["ad_campaign"][:n],
    }
    group = _group(q, ids, m.account.external_id, n)
    keep = _keep(q, ids, n)
    if q.time_dim is None:
        for a in range(n):
            if keep[a]:
                out[(group[a], None, None)]  # with only id dimensions every entity has a row
    ads, days = np.nonzero((mx.impressions > 0) | (mx.spend > 0))
    whens = [f"{day} 00:00:00" if q.time_dim else None for day in mx.days]
    # Frequency is per ad and day; summed across ads or days it means nothing.
    per_ad_day = q.level == "ad_id" and q.time_dim is not None
    columns = zip(
        ads.tolist(),
        days.tolist(),
        mx.spend[ads, days].tolist(),
        mx.impressions[ads, days].tolist(),
        mx.clicks[ads, days].tolist(),
        mx.conversions[ads, days].tolist(),
        mx.frequency[ads, days].tolist(),
        strict=True,
    )
    for a, d, spend, imps, clicks, conv, freq in columns:
        if keep[a]:
            cell = out[(group[a], whens[d], None)]
            cell[0] += spend
            cell[1] += imps
            cell[2] += clicks
            cell[3] += conv
            cell[4] = freq if per_ad_day else None


def _add(cell: list[Any], values: Any) -> None:
    for i in range(4):
        cell[i] += int(values[i])


def _group(q: Query, ids: dict[str, list[str]], advertiser_id: str, n: int) -> list[str]:
    """Per entity row, the id of what the report groups it under."""
    return [advertiser_id] * n if q.level == "advertiser_id" else ids[q.level]


def _deleted(m: Market, q: Query) -> set[str]:
    """Entities the default filter hides (deleted ones), unless STATUS_ALL was asked for."""
    if q.include_deleted or q.level == "advertiser_id":
        return set()
    table: Ads | AdSets | Campaigns = (
        m.ads if q.level == "ad_id" else m.adsets if q.level == "adgroup_id" else m.campaigns
    )
    return {table.id[i] for i in np.flatnonzero(table.status == DELETED)}


def _money(cents: float) -> str:
    return f"{cents / 100:.2f}"


def _metrics(q: Query, cell: Cell, currency: str, names: dict[str, str]) -> dict[str, str]:
    spend, imps, clicks, conv, freq = cell
    values: dict[str, str] = {}
    for metric in q.metrics:
        if metric in ("spend", "cash_spend"):
            v = _money(spend)
        elif metric == "voucher_spend":
            v = "0.00"
        elif metric in ("impressions", "clicks"):
            v = str(imps if metric == "impressions" else clicks)
        elif metric in CONVERSION_METRICS:
            v = str(conv)
        elif metric in COST_METRICS:
            v = _money(spend / conv) if conv else "0.00"
        elif metric == "ctr":
            v = f"{clicks / imps * 100:.2f}" if imps else "0.00"
        elif metric == "cpc":
            v = _money(spend / clicks) if clicks else "0.00"
        elif metric == "cpm":
            v = _money(spend / imps * 1000) if imps else "0.00"
        elif metric == "conversion_rate":
            v = f"{conv / clicks * 100:.2f}" if clicks else "0.00"
        elif metric == "frequency":
            v = f"{freq:.2f}" if freq else "-"
        elif metric == "reach":
            v = str(round(imps / freq)) if freq else "-"
        elif metric == "currency":
            v = currency
        else:
            v = names.get(metric, "-")
        values[metric] = v
    return values


@dataclass(frozen=True)
class Report:
    """A report's cells in row order; rows are formatted only when a page or file asks."""

    query: Query
    cells: list[tuple[str, str | None, str | None, Cell]]
    names: dict[str, dict[str, str]]
    currency: str

    def __len__(self) -> int:
        return len(self.cells)

    def rows(self, start: int = 0, stop: int | None = None) -> list[Row]:
        q = self.query
        out: list[Row] = []
        for entity, when, country, cell in self.cells[start:stop]:
            dims = {q.level: entity}
            if when is not None and q.time_dim:
                dims[q.time_dim] = when
            if country is not None:
                dims["country_code"] = country
            attrs = self.names.get(entity, {})
            out.append(
                (
                    {d: dims.get(d, "-") for d in q.dimensions},
                    _metrics(q, cell, self.currency, attrs),
                )
            )
        return out


def report(world: FakeWorld, state: FakeState, advertiser_id: str, q: Query) -> Report:
    """The report as of now (cached until the advertiser's next write or a new day)."""
    with world.lock:
        m = world.market(advertiser_id)
        key = (advertiser_id, q, state.revisions.get(advertiser_id, 0), m.through)
        cached = state.report_cache.get(key)
        if isinstance(cached, Report):
            return cached
        cells = _cells(m, q)
        names = _names(m)
    ordered = sorted(
        ((entity, when, country, cell) for (entity, when, country), cell in cells.items()),
        key=lambda c: (c[1] or "", c[0], c[2] or ""),
    )
    built = Report(q, ordered, names, state.config.currency)
    with world.lock:
        if len(state.report_cache) > 32:
            state.report_cache.clear()
        state.report_cache[key] = built
    return built


def _names(m: Market) -> dict[str, dict[str, str]]:
    """Attribute metrics per entity id (names and parent ids)."""
    out: dict[str, dict[str, str]] = {}
    for i, cid in enumerate(m.campaigns.id):
        out[cid] = {"campaign_id": cid, "campaign_name": m.campaigns.name[i]}
    for i, sid in enumerate(m.adsets.id):
        out[sid] = {
            **out[m.campaigns.id[int(m.adsets.campaign[i])]],
            "adgroup_id": sid,
            "adgroup_name": m.adsets.name[i],
        }
    for i, aid in enumerate(m.ads.id):
        out[aid] = {**out[m.adsets.id[int(m.ads.adset[i])]], "ad_id": aid, "ad_name": m.ads.name[i]}
    return out


def _refuse_configured(state: FakeState, q: Query) -> None:
    refused = [d for d in q.dimensions if d in state.config.refused_dimensions]
    if refused:
        raise invalid(f"dimensions: {', '.join(refused)} is not available for this advertiser")


def integrated_get(
    world: FakeWorld, state: FakeState, advertiser_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    page, size = paging(params)
    q = parse_query(params)
    _refuse_configured(state, q)
    found = report(world, state, advertiser_id, q)
    limit = state.config.report_row_limit
    if limit is not None and len(found) > limit:
        raise ApiError(40067)
    chosen = found.rows((page - 1) * size, page * size)
    data: dict[str, Any] = {
        "list": [{"dimensions": d, "metrics": mt} for d, mt in chosen],
        "page_info": page_info(page, size, len(found)),
    }
    if str(params.get("enable_total_metrics")).lower() == "true":
        totals = [0, 0, 0, 0]
        for *_, cell in found.cells:
            _add(totals, cell)
        summed: Cell = (totals[0], totals[1], totals[2], totals[3], None)
        data["total_metrics"] = _metrics(q, summed, state.config.currency, {})
    return data


# --------------------------------------------------------------------- async tasks


def task_create(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    q = parse_query(body)
    _refuse_configured(state, q)
    output = str(body.get("output_format") or "CSV_STRING")
    if output not in OUTPUT_FORMATS:
        raise invalid(f"output_format: {output} is not available here")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*q.dimensions, *q.metrics])
    for dims, metrics in report(world, state, advertiser_id, q).rows():
        writer.writerow([*dims.values(), *metrics.values()])
    task_id = state.new_task_id()
    name = str(body.get("file_name") or f"report_{task_id}")
    with world.lock:
        state.tasks[task_id] = ReportTask(task_id, advertiser_id, output, buffer.getvalue(), name)
    return {"task_id": task_id}


def _task(state: FakeState, advertiser_id: str, params: dict[str, Any]) -> ReportTask:
    task = state.tasks.get(str(params.get("task_id") or ""))
    if task is None or task.advertiser_id != advertiser_id:
        raise invalid(f"task_id: no task {params.get('task_id')} for this advertiser")
    return task


def task_check(
    world: FakeWorld,
    state: FakeState,
    advertiser_id: str,
    params: dict[str, Any],
    fault: Fault | None = None,
) -> dict[str, Any]:
    """QUEUING → PROCESSING → SUCCESS over `config.task_checks` checks; a fault `FAILED` or
    `CANCELED` ends the task that way."""
    with world.lock:
        task = _task(state, advertiser_id, params)
        if fault is not None and fault.kind in ("FAILED", "CANCELED"):
            task.status = fault.kind
            task.message = str(fault.data.get("message") or "The report task failed.")
        if task.status not in ("SUCCESS", "FAILED", "CANCELED"):
            task.checks += 1
            needed = max(1, state.config.task_checks)
            if task.checks >= needed:
                task.status = "SUCCESS"
            elif task.checks == needed - 1:
                task.status = "PROCESSING"
            else:
                task.status = "QUEUING"
        data = {"task_id": task.task_id, "status": task.status}
        if task.status == "FAILED":
            data["message"] = task.message
        return data


def task_download(
    world: FakeWorld, state: FakeState, advertiser_id: str, params: dict[str, Any], base_url: str
) -> str | dict[str, Any]:
    with world.lock:
        task = _task(state, advertiser_id, params)
        if task.status != "SUCCESS":
            raise ApiError(40201)
        if task.output_format == "CSV_STRING":
            return task.csv
        return {
            "download_url": f"{base_url}{REPORT_FILES}{task.task_id}.csv",
            "file_name": f"{task.file_name}.csv",
            "output_format": task.output_format,
        }


def task_cancel(
    world: FakeWorld, state: FakeState, advertiser_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    with world.lock:
        task = _task(state, advertiser_id, body)
        if task.status not in ("SUCCESS", "FAILED"):
            task.status = "CANCELED"
        return {"task_id": task.task_id, "status": task.status}


def task_file(world: FakeWorld, state: FakeState, task_id: str) -> str | None:
    with world.lock:
        task = state.tasks.get(task_id)
        return task.csv if task is not None and task.status == "SUCCESS" else None
