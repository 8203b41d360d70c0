"""A compact builder of EngineInput for tests, examples and what-if checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from adpilot.engine.types import (
    AdInput,
    AdSetInput,
    BreakdownRow,
    CampaignInput,
    CreativeInput,
    EngineInput,
    EngineSettings,
    HistoryEntry,
    MetricArrays,
)
from adpilot.platforms.base import ActionType, PlatformName

DEFAULT_NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
Daily = float | Sequence[float] | None


def spread(total: float, days: int, n_days: int) -> list[float]:
    """`total` spread evenly over the last `days` of `n_days` as whole units (oldest first)."""
    out = [0.0] * n_days
    days = max(1, min(days, n_days))
    # Cumulative rounding keeps every window's share of the total proportional to its length.
    marks = [round(total * k / days) for k in range(days + 1)]
    for k in range(days):
        out[n_days - days + k] = float(marks[k + 1] - marks[k])
    return out


class AccountBuilder:
    """Builds one account's entities and daily metrics; ids are generated when not given."""

    def __init__(
        self,
        *,
        now: dt.datetime = DEFAULT_NOW,
        platform: PlatformName = "meta",
        currency: str = "USD",
        n_days: int = 30,
        target_cpa_cents: int | None = None,
        settings: EngineSettings | None = None,
    ) -> None:
        self.now = now
        self.platform: PlatformName = platform
        self.currency = currency
        self.n_days = n_days
        self.target_cpa_cents = target_cpa_cents
        self.settings = settings or EngineSettings()
        self.campaigns: list[CampaignInput] = []
        self.adsets: list[AdSetInput] = []
        self.ads: list[AdInput] = []
        self.rows: dict[str, dict[str, list[float]]] = {}
        self.breakdowns: list[BreakdownRow] = []
        self.creatives: list[CreativeInput] = []
        self.history: list[HistoryEntry] = []

    def _ago(self, days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=days)

    def _series(self, value: Daily) -> list[float]:
        if value is None:
            return [0.0] * self.n_days
        if isinstance(value, (int, float)):
            return [float(value)] * self.n_days
        values = [float(v) for v in value]
        if len(values) != self.n_days:
            raise ValueError(f"expected {self.n_days} daily values, got {len(values)}")
        return values

    def campaign(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        budget_mode: str = "adset",
        daily_budget_cents: int | None = None,
        age_days: float = 90,
        status: str = "active",
    ) -> str:
        cid = id or f"cmp_{len(self.campaigns):04d}"
        self.campaigns.append(
            CampaignInput(
                id=cid,
                name=name or f"Campaign {len(self.campaigns)}",
                status=status,
                created_at=self._ago(age_days),
                budget_mode="campaign" if budget_mode == "campaign" else "adset",
                daily_budget_cents=daily_budget_cents,
            )
        )
        return cid

    def adset(
        self,
        campaign_id: str,
        *,
        id: str | None = None,
        name: str | None = None,
        daily_budget_cents: int | None = None,
        geo: Sequence[str] = ("US",),
        dayparts: Sequence[int] | None = None,
        learning: str | None = None,
        age_days: float = 90,
        status: str = "active",
    ) -> str:
        sid = id or f"adg_{len(self.adsets):04d}"
        self.adsets.append(
            AdSetInput(
                id=sid,
                campaign_id=campaign_id,
                name=name or f"Ad set {len(self.adsets)}",
                status=status,
                created_at=self._ago(age_days),
                daily_budget_cents=daily_budget_cents,
                targeting={"geo": list(geo)},
                schedule={"dayparts": list(dayparts if dayparts is not None else range(24))},
                learning=learning,
            )
        )
        return sid

    def ad(
        self,
        adset_id: str,
        *,
        id: str | None = None,
        name: str | None = None,
        creative: str | None = None,
        age_days: float = 90,
        status: str = "active",
        spend: Daily = None,
        impressions: Daily = None,
        clicks: Daily = None,
        conversions: Daily = None,
        frequency: Daily = None,
    ) -> str:
        aid = id or f"ad_{len(self.ads):05d}"
        campaign_id = next(s.campaign_id for s in self.adsets if s.id == adset_id)
        self.ads.append(
            AdInput(
                id=aid,
                adset_id=adset_id,
                campaign_id=campaign_id,
                name=name or f"Ad {len(self.ads)}",
                status=status,
                created_at=self._ago(age_days),
                ads_content_id=creative,
            )
        )
        self.rows[aid] = {
            "spend": self._series(spend),
            "impressions": self._series(impressions),
            "clicks": self._series(clicks),
            "conversions": self._series(conversions),
            "frequency": self._series(frequency)
            if frequency is not None
            else [np.nan] * self.n_days,
        }
        return aid

    def steady_ad(
        self,
        adset_id: str,
        *,
        spend_per_day: float,
        cpa_cents: float | None,
        ctr: float = 0.01,
        cpm_cents: float = 1000.0,
        **kwargs: Any,
    ) -> str:
        """An ad with constant daily spend and conversions at `cpa_cents` (None → none)."""
        total_spend = spend_per_day * self.n_days
        total_conv = 0.0 if cpa_cents is None else total_spend / cpa_cents
        imps = spend_per_day / cpm_cents * 1000.0
        return self.ad(
            adset_id,
            spend=spend_per_day,
            impressions=round(imps),
            clicks=round(imps * ctr),
            conversions=spread(total_conv, self.n_days, self.n_days),
            **kwargs,
        )

    def creative(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        organic_score: float | None = 6.0,
        override: str | None = None,
        safety_failed: bool = False,
        age_days: float = 5,
    ) -> str:
        cid = id or f"adc_{len(self.creatives):04d}"
        self.creatives.append(
            CreativeInput(
                id=cid,
                name=name or f"Creative {len(self.creatives)}",
                organic_score=organic_score,
                override=override,  # type: ignore[arg-type]
                safety_failed=safety_failed,
                created_at=self._ago(age_days),
            )
        )
        return cid

    def breakdown(
        self,
        adset_id: str,
        dimension: str,
        key: str,
        *,
        spend_cents: int,
        conversions: int,
        impressions: int | None = None,
        clicks: int | None = None,
    ) -> None:
        imps = impressions if impressions is not None else spend_cents
        self.breakdowns.append(
            BreakdownRow(
                adset_id=adset_id,
                dimension="hour" if dimension == "hour" else "country",
                key=key,
                spend_cents=spend_cents,
                impressions=imps,
                clicks=clicks if clicks is not None else imps // 100,
                conversions=conversions,
            )
        )

    def record(
        self,
        entity_id: str,
        action_type: ActionType,
        status: str,
        hours_ago: float,
        fingerprint: str | None = None,
        *,
        adset_id: str | None = None,
        creative_id: str | None = None,
    ) -> None:
        self.history.append(
            HistoryEntry(
                entity_id=entity_id,
                action_type=action_type,
                status=status,  # type: ignore[arg-type]
                at=self.now - dt.timedelta(hours=hours_ago),
                evidence_fingerprint=fingerprint,
                adset_id=adset_id,
                creative_id=creative_id,
            )
        )

    def build(self) -> EngineInput:
        ids = [a.id for a in self.ads]

        def stack(metric: str) -> np.ndarray:
            if not ids:
                return np.zeros((0, self.n_days))
            return np.array([self.rows[i][metric] for i in ids], dtype=np.float64)

        today = self.now.date()
        return EngineInput(
            now=self.now,
            platform=self.platform,
            currency=self.currency,
            dates=[today - dt.timedelta(days=self.n_days - k) for k in range(self.n_days)],
            metrics=MetricArrays(
                ad_ids=ids,
                spend_cents=stack("spend"),
                impressions=stack("impressions"),
                clicks=stack("clicks"),
                conversions=stack("conversions"),
                frequency=stack("frequency"),
            ),
            campaigns=list(self.campaigns),
            adsets=list(self.adsets),
            ads=list(self.ads),
            target_cpa_cents=self.target_cpa_cents,
            settings=self.settings,
            breakdowns=list(self.breakdowns),
            creatives=list(self.creatives),
            history=list(self.history),
        )
