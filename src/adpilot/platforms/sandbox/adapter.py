"""SandboxPlatform: the AdPlatform adapter over a simulated market kept in a SandboxStore."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from adpilot.platforms.apple import requests as apple_requests
from adpilot.platforms.base import (
    ACTION_ENTITY_TYPES,
    AccountInfo,
    AccountSnapshot,
    EntityState,
    EntityType,
    PlatformError,
    PlatformName,
    PlatformRejected,
    PlatformTransientError,
    WriteRequest,
    WriteResult,
)
from adpilot.platforms.meta import requests as meta_requests
from adpilot.platforms.sandbox import faults, writelog
from adpilot.platforms.sandbox.store import SandboxStore
from adpilot.platforms.tiktok import requests as tiktok_requests
from adpilot.sim import reports
from adpilot.sim.bootstrap import bootstrap_market
from adpilot.sim.market import Market, SimError, account_key_seed
from adpilot.sim.reports import CreativeRecord
from adpilot.sim.tables import ACTIVE, DELETED, STATUS_NAMES

T = TypeVar("T")

# Platform-shaped codes for the market's refusals.
_REJECT_CODES: dict[PlatformName, dict[str, str]] = {
    "meta": {"not_found": "100/33", "invalid_value": "100", "invalid_state": "100"},
    "tiktok": {"not_found": "40007", "invalid_value": "40002", "invalid_state": "40002"},
    "apple": {
        "not_found": "NOT_FOUND",
        "invalid_value": "VALIDATION_ERROR",
        "invalid_state": "VALIDATION_ERROR",
    },
}


class SandboxPlatform:
    """A simulated ad account that behaves like a platform: lagged reads, writes, failures.

    Each call runs in one store transaction: the market is loaded, advanced to yesterday (per
    `clock`, in the account's time zone), used, and saved if it changed. Writes are idempotent
    by `idempotency_key`. An empty state (a fresh in-memory store) is filled with the bootstrap
    account, seeded from `account_key`.
    """

    def __init__(
        self,
        platform: PlatformName,
        store: SandboxStore,
        account_key: str,
        clock: Callable[[], dt.datetime],
        *,
        api_version: str = meta_requests.DEFAULT_API_VERSION,
    ) -> None:
        self.platform: PlatformName = platform
        self._store = store
        self._key = account_key
        self._clock = clock
        self._api_version = api_version
        self._cache: tuple[str, Market] | None = None

    # ------------------------------------------------------------------ plumbing

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)

    def _load(self, state: dict[str, Any]) -> Market:
        if not state.get("v"):
            market = bootstrap_market(self.platform, account_key_seed(self._key), self._today_utc())
            self._save(state, market)
            return market
        if state.get("platform") != self.platform:
            raise PlatformRejected(
                f"sandbox account {self._key} simulates {state.get('platform')}, "
                f"not {self.platform}",
                platform_code="ACCOUNT_MISMATCH",
            )
        # The cached market is handed out and forgotten: only `_save`/`_keep` put one back, so a
        # call that fails half-way can never leave an unsaved change behind in the cache.
        cached, self._cache = self._cache, None
        rev = state.get("rev")
        if cached is not None and rev is not None and cached[0] == rev:
            return cached[1]
        return Market.from_state(state)

    def _keep(self, state: dict[str, Any], market: Market) -> None:
        """Cache a market that matches the stored state unchanged."""
        rev = state.get("rev")
        if isinstance(rev, str):
            self._cache = (rev, market)

    def _save(self, state: dict[str, Any], market: Market) -> None:
        rev = uuid.uuid4().hex
        state.update(market.to_state())
        state["rev"] = rev
        self._cache = (rev, market)

    def _today_utc(self) -> dt.date:
        return self._now().astimezone(dt.UTC).date()

    def _today(self, market: Market) -> dt.date:
        return market.local_date(self._now())

    def _catch_up(self, market: Market) -> bool:
        """Advance to yesterday; True when days were simulated."""
        return market.advance_to(self._today(market) - dt.timedelta(days=1)) > 0

    def _read(self, fn: Callable[[Market], T]) -> T:
        """Run a read: consume a queued read fault or advance, answer, save if advanced."""
        error: PlatformError | None = None
        value: T | None = None
        with self._store.transaction(self._key) as state:
            fault = faults.take_fault(state, "read")
            if fault is not None:
                error = faults.fault_error(fault, self.platform)
            else:
                market = self._load(state)
                if self._catch_up(market):
                    self._save(state, market)
                else:
                    self._keep(state, market)
                try:
                    value = fn(market)
                except SimError as exc:
                    error = self._rejected(exc)
        # Raise outside the transaction so the consumed fault and the catch-up are committed.
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def _rejected(self, exc: SimError) -> PlatformRejected:
        return PlatformRejected(exc.message, platform_code=_REJECT_CODES[self.platform][exc.kind])

    # ------------------------------------------------------------------ AdPlatform

    def validate(self) -> AccountInfo:
        return self._read(lambda m: m.account)

    def fetch_snapshot(self, since: dt.date, until: dt.date) -> AccountSnapshot:
        def snap(m: Market) -> AccountSnapshot:
            as_of = max(self._today(m), m.through + dt.timedelta(days=1))
            return reports.snapshot(m, since, min(until, m.through), as_of)

        return self._read(snap)

    def read_state(self, entity_type: EntityType, external_id: str) -> EntityState:
        return self._read(lambda m: _entity_state(m, entity_type, external_id))

    def build_request(self, write: WriteRequest) -> dict[str, Any]:
        with self._store.transaction(self._key) as state:
            market = self._load(state)
            self._keep(state, market)
            enriched = _enrich(market, write)
        try:
            if self.platform == "meta":
                return meta_requests.build_request(
                    enriched,
                    api_version=self._api_version,
                    ad_account_id=market.account.external_id,
                    currency=market.account.currency,
                )
            if self.platform == "tiktok":
                return tiktok_requests.build_request(
                    enriched, advertiser_id=market.account.external_id
                )
            return apple_requests.build_request(
                enriched, ad_account_id=market.account.external_id, currency="USD"
            )
        except ValueError as exc:
            raise PlatformRejected(
                str(exc), platform_code=_REJECT_CODES[self.platform]["invalid_value"]
            ) from None

    def apply(self, write: WriteRequest) -> WriteResult:
        outcome: WriteResult | PlatformError
        with self._store.transaction(self._key) as state:
            now = self._now()
            prior = writelog.applied_entry(state, write.idempotency_key)
            if prior is not None:
                # A repeated key changes nothing and answers what the first send got.
                writelog.record(state, write, now, "replayed", result=prior.get("result"))
                outcome = WriteResult(**(prior.get("result") or {}))
            else:
                outcome = self._apply_fresh(state, write, now)
        if isinstance(outcome, PlatformError):
            raise outcome
        return outcome

    # ------------------------------------------------------------------ extras

    def state(self) -> dict[str, Any]:
        """A copy of the stored state (for write logs and assertions)."""
        with self._store.transaction(self._key) as state:
            self._keep(state, self._load(state))
            return dict(state)

    def market(self) -> Market:
        """A detached copy of the market advanced to yesterday (truth queries, tests)."""
        return self._read(lambda m: Market.from_state(m.to_state()))

    def list_creatives(self) -> list[CreativeRecord]:
        """The account's creative library, including creatives not yet running."""
        return self._read(reports.creatives_data)

    def inject_fault(
        self,
        kind: faults.FaultKind,
        count: int = 1,
        *,
        op: faults.FaultOp = "apply",
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next `count` matching calls fail (see `faults.add_fault`)."""
        with self._store.transaction(self._key) as state:
            self._keep(state, self._load(state))
            faults.add_fault(
                state, kind, count, op=op, code=code, message=message, retry_after=retry_after
            )

    # ------------------------------------------------------------------ writes

    def _apply_fresh(
        self, state: dict[str, Any], write: WriteRequest, now: dt.datetime
    ) -> WriteResult | PlatformError:
        fault = faults.take_fault(state, "apply")
        if fault is not None and fault["kind"] != "lost_response":
            error = faults.fault_error(fault, self.platform)
            kind: writelog.Outcome = "auth"
            if isinstance(error, PlatformRejected):
                kind = "rejected"
            elif isinstance(error, PlatformTransientError):
                kind = "transient"
            writelog.record(state, write, now, kind, error=error.message)
            return error
        if self.platform == "meta" and _budget_edits_last_hour(state, write, now) >= 4:
            # Meta allows 4 budget changes per ad set per hour, then blocks its budget for 1 h.
            writelog.record(state, write, now, "transient", error="budget change limit")
            return PlatformTransientError(
                "(#17) User request limit reached: too many budget changes for this ad set",
                platform_code="17",
                retry_after=3600.0,
            )
        market = self._load(state)
        self._catch_up(market)
        try:
            # The same enrichment as build_request, so the ad created is the one shown.
            result = apply_to_market(market, _enrich(market, write), now)
        except (ValueError, TypeError) as exc:
            # Malformed values (e.g. an hour that is not a number) are refusals too.
            self._save(state, market)
            writelog.record(state, write, now, "rejected", error=str(exc))
            return self._rejected(SimError("invalid_value", str(exc)))
        except SimError as exc:
            self._save(state, market)
            writelog.record(state, write, now, "rejected", error=exc.message)
            return self._rejected(exc)
        self._save(state, market)
        payload = {"created_external_id": result.created_external_id}
        if fault is not None:
            # Applied, but the answer never reached the caller.
            writelog.record(state, write, now, "lost_response", result=payload)
            return faults.fault_error(fault, self.platform)
        writelog.record(state, write, now, "applied", result=payload)
        return result


def _budget_edits_last_hour(state: dict[str, Any], write: WriteRequest, now: dt.datetime) -> int:
    if write.action_type != "update_budget":
        return 0
    since = now - dt.timedelta(hours=1)
    return sum(
        1
        for e in state.get("writes", [])
        if e["action_type"] == "update_budget"
        and e["outcome"] in writelog.CHANGED
        and e["entity"]["external_id"] == write.entity_external_id
        and dt.datetime.fromisoformat(e["at"]) > since
    )


def _need(write: WriteRequest, key: str) -> Any:
    if key not in write.new_value or write.new_value[key] is None:
        raise SimError("invalid_value", f"{write.action_type} needs newValue.{key}")
    return write.new_value[key]


def _creative_ref(write: WriteRequest) -> str:
    ref = write.context.get("creativeExternalId") or write.new_value.get("creativeExternalId")
    if not ref:
        raise SimError("invalid_value", f"{write.action_type} needs the creative's external id")
    return str(ref)


def apply_to_market(market: Market, write: WriteRequest, now: dt.datetime) -> WriteResult:
    """Interpret a normalised write against the market (SimError when it is impossible)."""
    action = write.action_type
    target = write.entity_external_id
    allowed = ACTION_ENTITY_TYPES.get(action)
    if allowed is None or write.entity_type not in allowed:
        raise SimError("invalid_value", f"{action} cannot target a {write.entity_type}")
    # newValue.status "active" is the revert of a pause (a rollback): enable it again.
    status = "active" if write.new_value.get("status") == "active" else "paused"
    if action == "pause_ad":
        market.set_status("ad", target, status, now)
    elif action == "pause_adset":
        market.set_status("adset", target, status, now)
    elif action == "update_status":
        market.set_status(write.entity_type, target, str(_need(write, "status")), now)
    elif action == "update_budget":
        cents = _need(write, "dailyBudgetCents")
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise SimError("invalid_value", "dailyBudgetCents must be an integer")
        market.set_daily_budget(write.entity_type, target, cents, now)
    elif action == "push_creative":
        name = write.context.get("adName")
        ad_id = market.push_creative(target, _creative_ref(write), now, name=name)
        return WriteResult(created_external_id=ad_id)
    elif action == "replace_creative":
        creative = _creative_ref(write)
        if market.platform == "apple":
            return _apple_replace(market, target, creative, now, write.context.get("adName"))
        market.replace_creative(target, creative, now)
    elif action == "prune_creative":
        market.prune_ad(target, now)
    elif action == "update_targeting":
        market.set_geo(target, list(_need(write, "geo")), now)
    else:
        market.set_dayparts(target, list(_need(write, "dayparts")), now)
    return WriteResult()


def _apple_replace(
    market: Market, ad_id: str, creative: str, now: dt.datetime, name: str | None
) -> WriteResult:
    # Apple ads are immutable: the old ad is deleted and a new one created (two calls there).
    # Check everything first so the pair never half-happens.
    a = market.index_of("ad", ad_id)
    market.index_of("creative", creative)
    if int(market.ads.status[a]) == DELETED:
        raise SimError("invalid_state", f"ad {ad_id} is deleted")
    adset_id = market.adsets.id[int(market.ads.adset[a])]
    if int(market.adsets.status[int(market.ads.adset[a])]) == DELETED:
        raise SimError("invalid_state", f"adset {adset_id} is deleted")
    market.prune_ad(ad_id, now)
    new_id = market.push_creative(adset_id, creative, now, name=name or market.ads.name[a])
    return WriteResult(created_external_id=new_id)


def _entity_state(m: Market, entity_type: EntityType, external_id: str) -> EntityState:
    if entity_type == "campaign":
        i = m.index_of("campaign", external_id)
        return EntityState(
            entity_type="campaign",
            external_id=external_id,
            status=STATUS_NAMES[int(m.campaigns.status[i])],
            daily_budget_cents=int(m.campaigns.budget[i]) if m.campaigns.cbo[i] else None,
        )
    if entity_type == "adset":
        i = m.index_of("adset", external_id)
        live = np.flatnonzero((m.ads.adset == i) & (m.ads.status == ACTIVE))
        creatives = sorted({m.creatives.id[int(m.ads.creative[a])] for a in live})
        holder = not m.campaigns.cbo[int(m.adsets.campaign[i])]
        return EntityState(
            entity_type="adset",
            external_id=external_id,
            status=STATUS_NAMES[int(m.adsets.status[i])],
            daily_budget_cents=int(m.adsets.budget[i]) if holder else None,
            active_ads=len(live),
            active_creative_external_ids=tuple(creatives),
            targeting=reports.adset_targeting(m, i),
            schedule=reports.adset_schedule(m, i),
        )
    if entity_type == "ad":
        i = m.index_of("ad", external_id)
        return EntityState(
            entity_type="ad",
            external_id=external_id,
            status=STATUS_NAMES[int(m.ads.status[i])],
            creative_external_id=m.creatives.id[int(m.ads.creative[i])],
        )
    raise SimError("invalid_value", f"unknown entity type {entity_type!r}")


def _enrich(m: Market, write: WriteRequest) -> WriteRequest:
    """Fill in what a request builder needs from the account (creative, ad group, ad name)."""
    ctx = dict(write.context)
    if write.action_type in ("push_creative", "replace_creative"):
        ref = ctx.get("creativeExternalId") or write.new_value.get("creativeExternalId")
        if ref:
            ctx["creativeExternalId"] = str(ref)
            if m.has("creative", str(ref)):
                ctx.setdefault("adName", m.creatives.name[m.index_of("creative", str(ref))])
    if write.action_type == "replace_creative" and m.has("ad", write.entity_external_id):
        a = m.index_of("ad", write.entity_external_id)
        ctx.setdefault("adsetExternalId", m.adsets.id[int(m.ads.adset[a])])
    return replace(write, context=ctx)
