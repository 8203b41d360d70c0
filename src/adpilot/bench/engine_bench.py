"""Speed benchmark of the decision engine on a synthetic account (`bench_engine`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
import time
from typing import Any

import numpy as np

from adpilot.engine.guardrails import apply_guardrails, build_context
from adpilot.engine.run import evaluate
from adpilot.engine.types import (
    AdInput,
    AdSetInput,
    BreakdownRow,
    CampaignInput,
    CreativeInput,
    EngineInput,
    HistoryEntry,
    MetricArrays,
)

_NOW = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC)
_COUNTRIES = ("US", "GB", "DE", "FR", "CA")


def synthetic_input(
    n_ads: int = 10_000,
    n_days: int = 30,
    seed: int = 0,
    ads_per_adset: int = 4,
    adsets_per_campaign: int = 8,
    platform: str = "tiktok",
) -> EngineInput:
    """A plausible account: log-normal CPMs/CTRs/CVRs, some fatigue, young ads, lagged reports."""
    rng = np.random.default_rng(seed)
    n_sets = math.ceil(n_ads / ads_per_adset)
    n_camps = math.ceil(n_sets / adsets_per_campaign)
    today = _NOW.date()
    dates = [today - dt.timedelta(days=n_days - k) for k in range(n_days)]

    camp_budget_mode = rng.random(n_camps) < 0.5
    set_budget = np.round(rng.lognormal(math.log(5000), 0.6, n_sets), -2)
    campaigns = [
        CampaignInput(
            id=f"cmp_{c:06d}",
            name=f"Campaign {c}",
            status="active",
            created_at=_NOW - dt.timedelta(days=int(rng.integers(20, 200))),
            budget_mode="campaign" if camp_budget_mode[c] else "adset",
            daily_budget_cents=None,
        )
        for c in range(n_camps)
    ]
    set_camp = np.arange(n_sets) // adsets_per_campaign
    for c in range(n_camps):
        if camp_budget_mode[c]:
            total = int(set_budget[set_camp == c].sum())
            campaigns[c] = dataclasses.replace(campaigns[c], daily_budget_cents=total)
    set_age = rng.integers(2, 120, n_sets)
    adsets = [
        AdSetInput(
            id=f"adg_{j:06d}",
            campaign_id=f"cmp_{int(set_camp[j]):06d}",
            name=f"Ad set {j}",
            status="active",
            created_at=_NOW - dt.timedelta(days=int(set_age[j])),
            daily_budget_cents=None if camp_budget_mode[set_camp[j]] else int(set_budget[j]),
            targeting={"geo": list(_COUNTRIES[: 2 + j % 4])},
            schedule={"dayparts": list(range(24))},
            learning="learning" if rng.random() < 0.05 else "learned",
        )
        for j in range(n_sets)
    ]
    ad_set = np.arange(n_ads) // ads_per_adset
    ad_age = np.maximum(rng.integers(1, 90, n_ads), 0)
    ad_age = np.minimum(ad_age, set_age[ad_set])
    n_creatives = max(50, n_ads // 20)
    ads = [
        AdInput(
            id=f"ad_{i:07d}",
            adset_id=f"adg_{int(ad_set[i]):06d}",
            campaign_id=f"cmp_{int(set_camp[ad_set[i]]):06d}",
            name=f"Ad {i}",
            status="active" if rng.random() < 0.92 else "paused",
            created_at=_NOW - dt.timedelta(days=int(ad_age[i]), hours=3),
            ads_content_id=f"adc_{int(rng.integers(0, n_creatives)):06d}",
        )
        for i in range(n_ads)
    ]

    # Truth: CPM per ad set, CTR per ad, CVR per ad set; fatigue on a fifth of the ads.
    cpm = rng.lognormal(math.log(1200), 0.25, n_sets)  # cents per 1000 impressions
    ctr = rng.lognormal(math.log(0.012), 0.25, n_ads)
    cvr = rng.lognormal(math.log(0.04), 0.3, n_sets)
    day = np.arange(n_days)
    alive = day[None, :] >= (n_days - ad_age)[:, None]
    fatigue = np.ones((n_ads, n_days))
    tired = rng.random(n_ads) < 0.2
    fatigue[tired] = 0.4 + 0.6 * np.exp(-day[None, :] / rng.uniform(8, 20, (int(tired.sum()), 1)))
    weight = (ctr[:, None] * fatigue) ** 2 * alive
    set_weight = np.zeros((n_sets, n_days))
    np.add.at(set_weight, ad_set, weight)
    share = np.divide(weight, set_weight[ad_set], out=np.zeros_like(weight), where=weight > 0)
    set_daily = set_budget[:, None] * rng.uniform(0.85, 1.05, (n_sets, n_days))
    spend = np.round(set_daily[ad_set] * share)
    impressions = rng.poisson(spend / cpm[ad_set, None] * 1000.0)
    clicks = rng.binomial(impressions, np.clip(ctr[:, None] * fatigue, 0, 1))
    conv_true = rng.binomial(clicks, cvr[ad_set, None])
    lag = np.interp(
        np.arange(n_days)[::-1], [0, 1, 2, 3, 7, 14, 28], [0.5, 0.8, 0.87, 0.9, 0.95, 0.98, 1]
    )
    conversions = rng.binomial(conv_true, lag[None, :])
    frequency = np.where(
        rng.random((n_ads, n_days)) < 0.8, 1.0 + np.cumsum(impressions, axis=1) / 2e4, np.nan
    )
    metrics = MetricArrays(
        ad_ids=[a.id for a in ads],
        spend_cents=spend,
        impressions=impressions,
        clicks=clicks,
        conversions=conversions,
        frequency=frequency,
    )

    set_spend = np.zeros(n_sets)
    np.add.at(set_spend, ad_set, spend.sum(axis=1))
    set_conv = np.zeros(n_sets)
    np.add.at(set_conv, ad_set, conversions.sum(axis=1))
    set_imps = np.zeros(n_sets)
    np.add.at(set_imps, ad_set, impressions.sum(axis=1))
    breakdowns: list[BreakdownRow] = []
    for j in range(n_sets):
        geo = adsets[j].targeting["geo"]
        for dim, keys in (("country", geo), ("hour", [str(h) for h in range(24)])):
            w = rng.dirichlet(np.ones(len(keys)) * 3)
            quality = rng.lognormal(0, 0.4, len(keys))
            conv_share = w * quality / float((w * quality).sum())
            for key, ws, cs in zip(keys, w, conv_share, strict=True):
                breakdowns.append(
                    BreakdownRow(
                        adset_id=adsets[j].id,
                        dimension=dim,  # type: ignore[arg-type]
                        key=key,
                        spend_cents=int(set_spend[j] * ws),
                        impressions=int(set_imps[j] * ws),
                        clicks=int(set_imps[j] * ws * 0.012),
                        conversions=int(rng.poisson(set_conv[j] * cs)),
                    )
                )
    creatives = [
        CreativeInput(
            id=f"adc_{k:06d}",
            name=f"Creative {k}",
            organic_score=float(np.round(rng.uniform(0, 10), 1)),
            override="include" if k % 50 == 0 else ("exclude" if k % 47 == 0 else None),
            safety_failed=k % 61 == 0,
            pool=("generated", "ugc", "manual")[k % 3],
            created_at=_NOW - dt.timedelta(days=int(rng.integers(1, 60))),
        )
        for k in range(n_creatives)
    ]
    history = [
        HistoryEntry(
            entity_id=adsets[int(j)].id,
            action_type="update_budget",
            status=("pending", "dispatched", "rejected")[int(j) % 3],
            at=_NOW - dt.timedelta(hours=float(rng.uniform(1, 200))),
        )
        for j in rng.integers(0, n_sets, max(1, n_sets // 10))
    ]
    return EngineInput(
        now=_NOW,
        platform=platform,  # type: ignore[arg-type]
        currency="USD",
        dates=dates,
        metrics=metrics,
        campaigns=campaigns,
        adsets=adsets,
        ads=ads,
        target_cpa_cents=None,
        breakdowns=breakdowns,
        creatives=creatives,
        history=history,
    )


def bench_engine(
    n_ads: int = 10_000, n_days: int = 30, repeats: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Time `evaluate` (and the guardrails) on one synthetic account: wall and CPU seconds."""
    inp = synthetic_input(n_ads=n_ads, n_days=n_days, seed=seed)
    timings: list[float] = []
    cpu_timings: list[float] = []
    guard_timings: list[float] = []
    result = None
    for _ in range(max(1, repeats)):
        c0, t0 = time.process_time(), time.perf_counter()
        result = evaluate(inp)
        c1, t1 = time.process_time(), time.perf_counter()
        apply_guardrails(result.proposals, build_context(inp, result))
        t2 = time.perf_counter()
        timings.append(t1 - t0)
        cpu_timings.append(c1 - c0)
        guard_timings.append(t2 - t1)
    assert result is not None
    counts: dict[str, int] = {}
    for p in result.proposals:
        counts[p.action_type] = counts.get(p.action_type, 0) + 1
    return {
        "n_ads": n_ads,
        "n_days": n_days,
        "repeats": len(timings),
        "median_s": statistics.median(timings),
        "min_s": min(timings),
        # CPU seconds of this process: the wall clock figures include time lost to other load.
        "cpu_median_s": statistics.median(cpu_timings),
        "cpu_min_s": min(cpu_timings),
        "guardrails_median_s": statistics.median(guard_timings),
        "entities_evaluated": result.entities_evaluated,
        "proposals": len(result.proposals),
        "proposals_by_type": counts,
    }


if __name__ == "__main__":  # pragma: no cover
    print(bench_engine())
