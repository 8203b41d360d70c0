"""Reads of synced entities, per-day metrics aggregated in SQL, and the creative library."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.audit import service as audit
from adpilot.auth.service import Principal
from adpilot.entities.models import Ad, AdDailyMetric, AdsContent, AdSet, Campaign
from adpilot.entities.schemas import AdsContentCreate, AdsContentPatch
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.ids import new_id
from adpilot.kit.pagination import ListQuery, Page, newest_first_page
from adpilot.kit.platform_names import to_long, to_short
from adpilot.layers.models import AdAccount, Layer, Project

# A metrics series longer than this is a mistake (or an expensive scan), not a chart.
MAX_METRICS_DAYS = 731
DEFAULT_METRICS_DAYS = 30


# --- Entity reads (SPEC §7) ----------------------------------------------------------------------


def campaign_view(row: Campaign) -> dict[str, Any]:
    return {
        "campaignId": row.id,
        "externalId": row.external_id,
        "layerId": row.layer_id,
        "platform": to_long(row.platform),
        "name": row.name,
        "status": row.status,
        "budgetMode": row.budget_mode,
        "dailyBudgetCents": row.daily_budget_cents,
        "createdAt": isoformat(row.created_at),
    }


def adset_view(row: AdSet) -> dict[str, Any]:
    return {
        "adsetId": row.id,
        "campaignId": row.campaign_id,
        "externalId": row.external_id,
        "name": row.name,
        "status": row.status,
        "dailyBudgetCents": row.daily_budget_cents,
        "targeting": row.targeting,
        "schedule": row.schedule,
        "learning": row.learning,
        "createdAt": isoformat(row.created_at),
    }


def ad_view(row: Ad) -> dict[str, Any]:
    return {
        "adId": row.id,
        "adsetId": row.adset_id,
        "campaignId": row.campaign_id,
        "externalId": row.external_id,
        "name": row.name,
        "status": row.status,
        "adsContentId": row.ads_content_id,
        "createdAt": isoformat(row.created_at),
    }


def _layers_on(project: Project, platforms: list[str]) -> Any:
    return select(Layer.id).where(Layer.project_id == project.id, Layer.platform.in_(platforms))


@dataclass(frozen=True)
class EntityFilters:
    """The entity lists' filters: each empty tuple means "any"."""

    platforms: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    campaign_ids: tuple[str, ...] = ()
    adset_ids: tuple[str, ...] = ()
    ad_account_ids: tuple[str, ...] = ()


def _on_accounts(project: Project, account_ids: tuple[str, ...]) -> Any:
    """The layers holding these ad accounts (an account's entities are its layer's)."""
    return select(AdAccount.layer_id).where(
        AdAccount.project_id == project.id, AdAccount.id.in_(account_ids)
    )


def list_campaigns(
    session: Session, project: Project, query: ListQuery, filters: EntityFilters
) -> Page:
    conditions: list[ColumnElement[bool]] = [Campaign.project_id == project.id]
    if filters.platforms:
        conditions.append(Campaign.platform.in_(filters.platforms))
    if filters.statuses:
        conditions.append(Campaign.status.in_(filters.statuses))
    if filters.campaign_ids:
        conditions.append(Campaign.id.in_(filters.campaign_ids))
    if filters.ad_account_ids:
        conditions.append(Campaign.layer_id.in_(_on_accounts(project, filters.ad_account_ids)))
    stmt = select(Campaign).where(*conditions)
    return newest_first_page(session, query, stmt, Campaign.created_at, Campaign.id, campaign_view)


def _below_campaign(
    model: type[AdSet] | type[Ad], project: Project, filters: EntityFilters
) -> list[ColumnElement[bool]]:
    """The conditions shared by the ad set and ad lists."""
    conditions: list[ColumnElement[bool]] = [model.project_id == project.id]
    if filters.platforms:
        conditions.append(model.layer_id.in_(_layers_on(project, list(filters.platforms))))
    if filters.statuses:
        conditions.append(model.status.in_(filters.statuses))
    if filters.campaign_ids:
        conditions.append(model.campaign_id.in_(filters.campaign_ids))
    if filters.adset_ids:
        adset_column = AdSet.id if model is AdSet else Ad.adset_id
        conditions.append(adset_column.in_(filters.adset_ids))
    if filters.ad_account_ids:
        conditions.append(model.layer_id.in_(_on_accounts(project, filters.ad_account_ids)))
    return conditions


def list_adsets(
    session: Session, project: Project, query: ListQuery, filters: EntityFilters
) -> Page:
    stmt = select(AdSet).where(*_below_campaign(AdSet, project, filters))
    return newest_first_page(session, query, stmt, AdSet.created_at, AdSet.id, adset_view)


def list_ads(session: Session, project: Project, query: ListQuery, filters: EntityFilters) -> Page:
    stmt = select(Ad).where(*_below_campaign(Ad, project, filters))
    return newest_first_page(session, query, stmt, Ad.created_at, Ad.id, ad_view)


def platform_filter(values: list[str]) -> list[str]:
    """Either spelling in, short names out (what the tables store)."""
    shorts = {to_short(v) for v in values}
    return sorted(s for s in shorts if s is not None)


# --- Metrics (SPEC §7) ---------------------------------------------------------------------------


@dataclass
class _Sums:
    spend: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    # Frequency is not additive: it is averaged over the days and ads that report it, weighted by
    # their impressions.
    frequency_weighted: float = 0.0
    frequency_impressions: int = 0

    def add(self, other: _Sums) -> None:
        self.spend += other.spend
        self.impressions += other.impressions
        self.clicks += other.clicks
        self.conversions += other.conversions
        self.frequency_weighted += other.frequency_weighted
        self.frequency_impressions += other.frequency_impressions

    def metrics(self) -> dict[str, Any]:
        def ratio(num: float, den: float) -> float | None:
            return num / den if den else None

        def cents(value: float | None) -> int | None:
            return None if value is None else round(value)

        ctr = ratio(self.clicks, self.impressions)
        frequency = ratio(self.frequency_weighted, self.frequency_impressions)
        return {
            "spendCents": self.spend,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "conversions": self.conversions,
            "cpaCents": cents(ratio(self.spend, self.conversions)),
            "cpcCents": cents(ratio(self.spend, self.clicks)),
            "cpmCents": cents(ratio(self.spend * 1000, self.impressions)),
            "ctr": None if ctr is None else round(ctr, 6),
            "frequency": None if frequency is None else round(frequency, 4),
        }


def _metric_rows_filter(
    session: Session, project: Project, scope: str, entity_id: str
) -> ColumnElement[bool]:
    """Which daily rows belong to the entity; an entity outside the project is not found."""
    owners: dict[str, Any] = {"ad": Ad, "adset": AdSet, "campaign": Campaign, "layer": Layer}
    entity = session.get(owners[scope], entity_id)
    if entity is None or entity.project_id != project.id:
        raise errors.not_found(f"The {scope} {entity_id}")
    if scope == "ad":
        return AdDailyMetric.ad_id == entity_id
    if scope == "layer":
        return AdDailyMetric.layer_id == entity_id
    parent = Ad.adset_id if scope == "adset" else Ad.campaign_id
    return AdDailyMetric.ad_id.in_(select(Ad.id).where(parent == entity_id))


def metrics_window(
    since: dt.date | None, until: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """Defaults to the last 30 complete days (UTC); a missing end is derived from the other."""
    if until is None:
        until = today - dt.timedelta(days=1)
        if since is not None and since > until:
            until = since
    if since is None:
        since = until - dt.timedelta(days=DEFAULT_METRICS_DAYS - 1)
    if since > until:
        raise errors.validation("since", "must not be after until")
    if (until - since).days + 1 > MAX_METRICS_DAYS:
        raise errors.validation("since", f"the range may span at most {MAX_METRICS_DAYS} days")
    return since, until


def metrics_series(
    session: Session,
    project: Project,
    *,
    scope: str,
    entity_id: str,
    metrics: list[str],
    since: dt.date,
    until: dt.date,
    granularity: str,
) -> dict[str, Any]:
    """Per-day (or per-week) sums over the entity's ads, with derived ratios; gaps are zeros."""
    belongs = _metric_rows_filter(session, project, scope, entity_id)
    has_frequency = AdDailyMetric.frequency.is_not(None)
    stmt = (
        select(
            AdDailyMetric.date,
            func.sum(AdDailyMetric.spend_cents),
            func.sum(AdDailyMetric.impressions),
            func.sum(AdDailyMetric.clicks),
            func.sum(AdDailyMetric.conversions),
            func.sum(
                case((has_frequency, AdDailyMetric.frequency * AdDailyMetric.impressions), else_=0)
            ),
            func.sum(case((has_frequency, AdDailyMetric.impressions), else_=0)),
        )
        .where(belongs, AdDailyMetric.date >= since, AdDailyMetric.date <= until)
        .group_by(AdDailyMetric.date)
    )
    per_day = {
        row[0]: _Sums(
            int(row[1] or 0),
            int(row[2] or 0),
            int(row[3] or 0),
            int(row[4] or 0),
            float(row[5] or 0),
            int(row[6] or 0),
        )
        for row in session.execute(stmt)
    }
    buckets: dict[dt.date, _Sums] = {}
    totals = _Sums()
    day = since
    while day <= until:
        # A week is labelled by its Monday; only days inside since..until are counted in it.
        key = day if granularity == "day" else day - dt.timedelta(days=day.weekday())
        bucket = buckets.setdefault(key, _Sums())
        sums = per_day.get(day)
        if sums is not None:
            bucket.add(sums)
            totals.add(sums)
        day += dt.timedelta(days=1)

    def pick(values: dict[str, Any]) -> dict[str, Any]:
        return {name: values[name] for name in metrics}

    return {
        "scope": scope,
        "id": entity_id,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "granularity": granularity,
        "series": [
            {"date": key.isoformat(), **pick(sums.metrics())} for key, sums in buckets.items()
        ],
        "totals": pick(totals.metrics()),
    }


# --- Creative library (SPEC §7) ------------------------------------------------------------------


def content_view(row: AdsContent) -> dict[str, Any]:
    return {
        "adsContentId": row.id,
        "name": row.name,
        "pool": row.pool,
        "organicScore": row.organic_score,
        "safetyFailed": row.safety_failed,
        "override": row.override,
        "assetRefs": dict(sorted((row.asset_refs or {}).items())),
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def create_content(
    session: Session,
    project: Project,
    body: AdsContentCreate,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    now = utcnow()
    refs: dict[str, str] = {}
    for platform, ref in body.asset_refs.items():
        short = to_short(platform)
        assert short is not None  # the schema admits only known spellings
        refs[short] = ref
    row = AdsContent(
        id=new_id("adc"),
        project_id=project.id,
        name=body.name,
        pool=body.pool,
        organic_score=body.organic_score,
        safety_failed=body.safety_failed,
        override=body.override,
        asset_refs=refs,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    view = content_view(row)
    audit.record(
        session,
        "ads_content.created",
        organization_id=project.organization_id,
        project_id=project.id,
        principal=principal,
        request_id=request_id,
        data={"adsContentId": row.id, "name": row.name, "pool": row.pool},
    )
    return view


def find_content(session: Session, project: Project, content_id: str) -> AdsContent:
    row = session.get(AdsContent, content_id)
    if row is None or row.project_id != project.id:
        raise errors.not_found(f"Ads content {content_id}")
    return row


def set_content_override(
    session: Session,
    project: Project,
    content_id: str,
    patch: AdsContentPatch,
    *,
    principal: Principal,
    request_id: str | None,
) -> dict[str, Any]:
    row = find_content(session, project, content_id)
    before = row.override
    row.override = patch.override
    row.updated_at = utcnow()
    audit.record(
        session,
        "ads_content.updated",
        organization_id=project.organization_id,
        project_id=project.id,
        principal=principal,
        request_id=request_id,
        data={"adsContentId": row.id, "override": {"from": before, "to": row.override}},
    )
    return content_view(row)


def list_content(session: Session, project: Project, query: ListQuery, *, pools: list[str]) -> Page:
    conditions: list[ColumnElement[bool]] = [AdsContent.project_id == project.id]
    if pools:
        conditions.append(AdsContent.pool.in_(pools))
    stmt = select(AdsContent).where(*conditions)
    return newest_first_page(
        session, query, stmt, AdsContent.created_at, AdsContent.id, content_view
    )
