"""What each read-only dashboard page shows, gathered from the domain services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adpilot import errors
from adpilot.auth.service import Principal
from adpilot.dashboard import charts
from adpilot.dashboard import format as fmt
from adpilot.entities import service as entities_service
from adpilot.entities.models import Ad, AdsContent, AdSet, Campaign
from adpilot.gate import service as gate_service
from adpilot.kit.clock import utcnow
from adpilot.kit.pagination import ListQuery
from adpilot.layers import service as layers_service
from adpilot.layers.models import AdAccount, Layer, Project
from adpilot.pending import service as pending_service
from adpilot.pending.models import PendingAction
from adpilot.runs import service as runs_service

PLATFORMS = ("meta", "tiktok", "apple")
RUNS_PER_PAGE = 20
ENTITY_PAGE = 200
CHART_METRICS = ["spendCents", "conversions", "cpaCents"]


def require_read(principal: Principal) -> None:
    # Same deny-by-default scopes as the API: a key that may not read ads sees no pages.
    if not principal.has_scope("ads:read"):
        raise errors.forbidden_scope("ads:read")


def visible_projects(session: Session, principal: Principal) -> list[Project]:
    return list(
        session.scalars(
            select(Project)
            .where(Project.organization_id == principal.organization_id)
            .order_by(Project.created_at, Project.id)
        )
    )


def visible_project(session: Session, principal: Principal, project_id: str) -> Project:
    """Tenancy exactly as the API: another org's project is simply not found."""
    return layers_service.visible_project(session, principal.organization_id, project_id)


def project_layers(session: Session, project: Project) -> list[Layer]:
    found = (layers_service.get_layer(session, project.id, p) for p in PLATFORMS)
    return [layer for layer in found if layer is not None]


def layer_account(session: Session, layer: Layer) -> AdAccount | None:
    """The connected account, or else the last one (its currency still labels old numbers)."""
    current = layers_service.current_account(session, layer.id)
    if current is not None:
        return current
    return session.scalars(
        select(AdAccount)
        .where(AdAccount.layer_id == layer.id)
        .order_by(AdAccount.connected_at.desc())
    ).first()


def currency_of(account: AdAccount | None) -> str:
    return account.currency if account is not None else "USD"


def _runs(
    session: Session, secret: str, project: Project, layer: Layer, cursor: str | None, limit: int
) -> dict[str, Any]:
    return runs_service.list_runs(
        session,
        project=project,
        secret=secret,
        layer_ids=[layer.id],
        platforms=[],
        statuses=[],
        cursor=cursor,
        limit=limit,
    )


def pending_count(session: Session, project: Project, layer: Layer) -> int:
    return pending_service.count(
        session,
        project_id=project.id,
        platform=layer.platform,
        filters=pending_service.ListFilters(),
    )


def overview(session: Session, secret: str, project: Project) -> dict[str, Any]:
    rows = []
    for layer in project_layers(session, project):
        account = layers_service.current_account(session, layer.id)
        last = _runs(session, secret, project, layer, None, 1)["items"]
        rows.append(
            {
                "layer": layer,
                "account": account,
                "currency": currency_of(account or layer_account(session, layer)),
                "authority": gate_service.defaults_view(layer),
                "pending": pending_count(session, project, layer),
                "last_run": last[0] if last else None,
            }
        )
    return {"project": project, "layers": rows}


def find_layer(session: Session, project: Project, layer_id: str) -> Layer:
    return runs_service.load_layer(session, project, layer_id)


def layer_page(
    session: Session, secret: str, project: Project, layer: Layer, cursor: str | None
) -> dict[str, Any]:
    account = layer_account(session, layer)
    runs = _runs(session, secret, project, layer, cursor, RUNS_PER_PAGE)
    campaigns = entities_service.list_campaigns(
        session,
        project,
        ListQuery(secret, f"dashboard:{layer.id}:campaigns", {}, None, ENTITY_PAGE),
        entities_service.EntityFilters(platforms=(layer.platform,)),
    ).items
    campaigns.sort(key=lambda c: (c["status"] != "active", c["name"].lower()))
    return {
        "project": project,
        "layer": layer,
        "account": account,
        "connected": layers_service.current_account(session, layer.id) is not None,
        "currency": currency_of(account),
        "authority": gate_service.defaults_view(layer),
        "write_classes": layers_service.write_classes_view(layer)["writeClasses"],
        "settings": layers_service.layer_settings_view(session, layer),
        "pending": pending_count(session, project, layer),
        "runs": runs["items"],
        "next_cursor": runs["nextCursor"],
        "campaigns": campaigns,
    }


def campaign_links(session: Session, refs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """entity id → its campaign id, so every change and pending row can link to a chart."""
    wanted: dict[str, set[str]] = {"campaign": set(), "adset": set(), "ad": set()}
    for entity_type, entity_id in refs:
        if entity_type in wanted:
            wanted[entity_type].add(entity_id)
    links = {cid: cid for cid in wanted["campaign"]}
    for model in (AdSet, Ad):
        ids = wanted["adset" if model is AdSet else "ad"]
        if ids:
            rows = session.execute(select(model.id, model.campaign_id).where(model.id.in_(ids)))
            links.update({entity_id: campaign_id for entity_id, campaign_id in rows})
    return links


def creative_names(
    session: Session, project: Project, rows: Iterable[dict[str, Any]]
) -> dict[str, str]:
    """Creative library id → its name, for the creatives the rows' values mention."""
    ids = {
        str(block["adsContentId"])
        for r in rows
        for block in (r.get("currentValue") or {}, r.get("newValue") or {})
        if block.get("adsContentId")
    }
    if not ids:
        return {}
    found = session.execute(
        select(AdsContent.id, AdsContent.name).where(
            AdsContent.id.in_(ids), AdsContent.project_id == project.id
        )
    )
    return {content_id: name for content_id, name in found}


# A change's life after the run, as the run page shows it: (badge class, words).
LIFE = {
    "pending": ("queued", "Awaiting approval"),
    "approved": ("approved", "Approved · sending"),
    "dispatched": ("dispatched", "Sent"),
    "dispatch_failed": ("dispatch_failed", "Failed"),
    "rejected": ("rejected", "Rejected"),
    "expired": ("expired", "Expired"),
}
OUTCOME_LIFE = {
    "queued": ("queued", "Queued"),
    "dispatched": ("dispatched", "Sent"),
    "dispatch_failed": ("dispatch_failed", "Failed"),
    "held": ("held", "Held"),
    "denied": ("denied", "Denied"),
    "dry_run": ("dry_run", "Dry run"),
}


def change_states(session: Session, changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each pending row's status now (approved, sent, failed, rejected or expired), by id."""
    ids = [c["pendingId"] for c in changes if c.get("pendingId")]
    if not ids:
        return {}
    rows = session.execute(
        select(
            PendingAction.id,
            PendingAction.status,
            PendingAction.rejection_reason,
            PendingAction.dispatch_failure_reason,
        ).where(PendingAction.id.in_(ids))
    )
    states = {}
    for pending_id, status, rejection, failure in rows:
        key = "expired" if status == "rejected" and rejection == "expired" else status
        css, words = LIFE[key]
        states[pending_id] = {
            "status": status,
            "css": css,
            "words": words,
            "reason": failure if status == "dispatch_failed" else None,
        }
    return states


def refresh_seconds(run_status: str, statuses: list[str]) -> int | None:
    """How often the run page refreshes itself: fast while something is in flight, slowly while
    changes await a decision, not at all once everything is settled."""
    if run_status == "running" or "approved" in statuses:
        return 2
    if "pending" in statuses:
        return 10
    return None


def run_page(session: Session, project: Project, run_id: str) -> dict[str, Any]:
    run = runs_service.get_run(session, project, run_id)
    body = runs_service.run_to_api(run)
    layer = session.get(Layer, run.layer_id)
    account = session.get(AdAccount, run.ad_account_id)
    changes = body["changes"]
    outcomes: dict[str, int] = {}
    for change in changes:
        outcomes[change["outcome"]] = outcomes.get(change["outcome"], 0) + 1
    states = change_states(session, changes)
    return {
        "project": project,
        "layer": layer,
        "run": body,
        "currency": currency_of(account),
        "changes": changes,
        "outcomes": outcomes,
        "states": states,
        "outcome_life": OUTCOME_LIFE,
        "refresh": refresh_seconds(body["status"], [s["status"] for s in states.values()]),
        "campaign_of": campaign_links(session, ((c["entityType"], c["entityId"]) for c in changes)),
        "names": creative_names(session, project, changes),
    }


def _series(series: list[dict[str, Any]], key: str) -> list[tuple[str, int | None]]:
    return [(day["date"], day[key]) for day in series]


def _campaign(session: Session, project: Project, campaign_id: str) -> tuple[Campaign, Layer]:
    row = session.get(Campaign, campaign_id)
    if row is None or row.project_id != project.id:
        raise errors.not_found(f"Campaign {campaign_id}")
    layer = session.get(Layer, row.layer_id)
    assert layer is not None
    return row, layer


def campaign_layer(session: Session, project: Project, campaign_id: str) -> Layer:
    """The layer a campaign of this project belongs to (another project's: not found)."""
    return _campaign(session, project, campaign_id)[1]


def campaign_page(
    session: Session, secret: str, project: Project, campaign_id: str
) -> dict[str, Any]:
    row, layer = _campaign(session, project, campaign_id)
    account = layer_account(session, layer)
    currency = currency_of(account)
    # The same 30 complete days, in the account's time zone, that a run syncs and evaluates.
    since, until = runs_service.metrics_window(account.timezone if account else "UTC", utcnow())
    metrics = entities_service.metrics_series(
        session,
        project,
        scope="campaign",
        entity_id=row.id,
        metrics=CHART_METRICS,
        since=since,
        until=until,
        granularity="day",
    )

    def money_tick(cents: float) -> str:
        return fmt.money(cents, currency).replace(".00", "")

    spend = [
        charts.bar_chart(
            "Daily spend",
            "spend",
            _series(metrics["series"], "spendCents"),
            money_tick,
            fmt.short_date,
            size=size,
        )
        for size in (charts.WIDE, charts.NARROW)
    ]
    cpa = [
        charts.line_chart(
            "Daily CPA",
            "cpa",
            _series(metrics["series"], "cpaCents"),
            money_tick,
            fmt.short_date,
            reference=layer.target_cpa_cents,
            size=size,
        )
        for size in (charts.WIDE, charts.NARROW)
    ]
    adsets = entities_service.list_adsets(
        session,
        project,
        ListQuery(secret, f"dashboard:{row.id}:adsets", {}, None, ENTITY_PAGE),
        entities_service.EntityFilters(campaign_ids=(row.id,)),
    ).items
    adset_totals = {
        a["adsetId"]: entities_service.metrics_series(
            session,
            project,
            scope="adset",
            entity_id=a["adsetId"],
            metrics=CHART_METRICS,
            since=since,
            until=until,
            granularity="day",
        )["totals"]
        for a in adsets
    }
    return {
        "project": project,
        "layer": layer,
        "adset_totals": adset_totals,
        "campaign": entities_service.campaign_view(row),
        "currency": currency,
        "metrics": metrics,
        "spend_chart": spend,
        "cpa_chart": cpa,
        "authority": gate_service.campaign_authority_view(session, layer, row.id),
        "adsets": sorted(adsets, key=lambda a: (a["status"] != "active", a["name"].lower())),
    }
