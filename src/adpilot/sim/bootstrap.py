"""The curated sandbox account: 30 days of history with clear winners, losers and a tired ad."""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from adpilot.platforms.base import PlatformName
from adpilot.sim.builder import CountrySpec, MarketBuilder
from adpilot.sim.market import Market, MarketParams
from adpilot.sim.profiles import HOUR_CVR, PROFILES
from adpilot.sim.reports import ad_matrix, breakdown_totals
from adpilot.sim.rng import text_key
from adpilot.sim.tables import ACTIVE

F8 = npt.NDArray[np.float64]

HISTORY_DAYS = 30
# Days of daily history a sandbox keeps: a 30-day window plus slack, small enough for one DB row.
RETAIN_DAYS = 45
MAX_ATTEMPTS = 60
# Typical CPA the account is built around, in dollars (the pool ends up a little below it).
BASE_CPA: dict[PlatformName, float] = {"meta": 20.0, "tiktok": 14.0, "apple": 3.0}


@dataclass(frozen=True)
class _Ad:
    name: str
    ctr: float = 1.0  # creative quality multipliers
    cvr: float = 1.0
    wear: float | None = None  # exp(-cum/τ) when history starts
    halflife: float | None = None  # days
    age_days: int = 60
    role: str = ""  # "fatigued" | "loser" | "young"


@dataclass(frozen=True)
class _AdSet:
    name: str
    cpa: float  # target true CPA as a multiple of BASE_CPA
    ads: tuple[_Ad, ...]
    budget: float = 0.0  # dollars/day when the ad set holds the budget
    h_mult: float = 2.0
    kappa: float = 1.5
    countries: tuple[CountrySpec, ...] | None = None
    bad_night: bool = False


@dataclass(frozen=True)
class _Campaign:
    name: str
    cbo: bool
    adsets: tuple[_AdSet, ...]
    budget: float = 0.0  # dollars/day under a campaign budget


def _social_layout(platform: PlatformName) -> tuple[_Campaign, ...]:
    fresh = 0.9
    return (
        _Campaign(
            "Installs — Prospecting",
            cbo=False,
            adsets=(
                # The winner: cheap conversions, room to grow, a free creative slot.
                _AdSet(
                    "US 18-34",
                    cpa=0.3,
                    budget=120,
                    h_mult=4.0,
                    countries=(
                        CountrySpec("US", 0.7),
                        CountrySpec("CA", 0.2),
                        CountrySpec("GB", 0.1),
                    ),
                    ads=(
                        _Ad("UGC hook — morning routine", 1.15, wear=fresh),
                        _Ad("Studio demo — 15s", 1.0, wear=0.85),
                        _Ad("Testimonial — Priya", 0.9, wear=0.8),
                    ),
                ),
                _AdSet(
                    "US 35-54",
                    cpa=0.75,
                    budget=120,
                    kappa=1.0,
                    ads=(
                        _Ad("Founder story — 30s", 1.1, wear=0.8),
                        _Ad("Carousel — features", 1.0, wear=0.85),
                        _Ad("Static — offer", 0.95, wear=fresh),
                        # Clicks well, never converts: the clear loser.
                        _Ad("Meme — clickbait", 4.0, cvr=0.005, wear=fresh, role="loser"),
                    ),
                ),
                # The losing ad set: expensive everywhere.
                _AdSet(
                    "Broad 18+ — Intl",
                    cpa=2.6,
                    budget=70,
                    ads=(
                        _Ad("UGC unboxing", 1.0, wear=0.85),
                        _Ad("Studio tutorial", 0.95, wear=0.9),
                        _Ad("Generated static 07", 0.9, wear=fresh),
                    ),
                ),
            ),
        ),
        _Campaign(
            "Installs — Retargeting",
            cbo=True,
            budget=260,
            adsets=(
                _AdSet(
                    "Engaged 30d",
                    cpa=0.8,
                    h_mult=3.5,
                    kappa=1.0,
                    ads=(
                        # Was the best ad; its audience has seen it too often.
                        _Ad(
                            "UGC review — Marco",
                            1.8,
                            wear=0.97,
                            halflife=8.0,
                            age_days=75,
                            role="fatigued",
                        ),
                        _Ad("Studio demo — 30s", 1.0, wear=0.9),
                        _Ad("Static — social proof", 0.95, wear=fresh),
                    ),
                ),
                _AdSet(
                    "Site visitors 14d",
                    cpa=1.1,
                    h_mult=1.5,
                    bad_night=True,
                    ads=(
                        _Ad("Offer — 7-day trial", 1.05, wear=0.85),
                        _Ad("UGC hook — commute", 1.0, wear=fresh),
                        _Ad("Motion — features", 0.95, wear=0.9),
                    ),
                ),
            ),
        ),
        _Campaign(
            "Installs — Creative testing",
            cbo=False,
            adsets=(
                _AdSet(
                    "Testing — US",
                    cpa=1.0,
                    budget=60,
                    ads=(
                        _Ad("Test A — hook v2", 1.05, wear=fresh, age_days=20),
                        _Ad("Test B — hook v3", 0.95, wear=fresh, age_days=14),
                        _Ad("Test C — demo cut", 1.0, wear=fresh, age_days=10),
                        _Ad("Test D — new angle", 1.0, wear=1.0, age_days=2, role="young"),
                    ),
                ),
                _AdSet(
                    "Testing — Intl",
                    cpa=1.15,
                    budget=70,
                    # Brazil converts poorly here: a targeting trim has something to find.
                    countries=(
                        CountrySpec("US", 0.40),
                        CountrySpec("BR", 0.35, cvr=0.2, cpm=0.6),
                        CountrySpec("MX", 0.25, cvr=1.1, cpm=0.7),
                    ),
                    ads=(
                        _Ad("Test E — localized", 1.0, wear=fresh, age_days=25),
                        _Ad("Test F — subtitles", 1.05, wear=fresh, age_days=25),
                        _Ad("Test G — static", 0.95, wear=fresh, age_days=18),
                    ),
                ),
            ),
        ),
    )


def _apple_layout() -> tuple[_Campaign, ...]:
    kw = _Ad
    return (
        _Campaign(
            "Brand — US",
            cbo=True,
            budget=150,
            adsets=(
                _AdSet(
                    "Brand exact",
                    cpa=0.35,
                    h_mult=4.0,
                    ads=(
                        kw("brand name [exact]", 1.2),
                        kw("brand app [exact]", 1.0),
                        kw("brand login [exact]", 0.8),
                    ),
                ),
                _AdSet(
                    "Brand broad",
                    cpa=0.75,
                    ads=(kw("brand [broad]", 1.0), kw("brand reviews [broad]", 0.9)),
                ),
            ),
        ),
        _Campaign(
            "Category — US",
            cbo=True,
            budget=220,
            adsets=(
                _AdSet(
                    "Category exact",
                    cpa=1.0,
                    h_mult=3.0,
                    kappa=1.0,
                    ads=(
                        kw("habit tracker [exact]", 1.1),
                        kw("daily planner [exact]", 1.0),
                        # Lots of taps, no installs.
                        kw("free planner [exact]", 8.0, cvr=0.001, role="loser"),
                    ),
                ),
                _AdSet(
                    "Category broad",
                    cpa=2.8,
                    ads=(
                        kw("planner [broad]", 1.0),
                        kw("productivity [broad]", 1.0),
                        kw("organizer [broad]", 0.9),
                    ),
                ),
                _AdSet(
                    "Discovery",
                    cpa=1.2,
                    ads=(kw("search match", 1.0), kw("todo [broad]", 0.9)),
                ),
            ),
        ),
        _Campaign(
            "Competitor — Intl",
            cbo=True,
            budget=100,
            adsets=(
                _AdSet(
                    "Competitor exact",
                    cpa=1.1,
                    countries=(
                        CountrySpec("US", 0.5),
                        CountrySpec("GB", 0.25),
                        CountrySpec("DE", 0.25, cvr=0.2, cpm=0.8),
                    ),
                    ads=(kw("rival app [exact]", 1.0), kw("rival planner [exact]", 0.9)),
                ),
                _AdSet(
                    "Competitor broad",
                    cpa=1.3,
                    bad_night=True,
                    ads=(
                        kw("rival [broad]", 1.0),
                        kw("alternative to rival", 1.1),
                        kw("rival vs", 0.9),
                    ),
                ),
            ),
        ),
    )


_POOL_SOCIAL = (
    # name, pool, organic score, ctr quality, safety failed
    ("UGC hook — gym bag", "ugc", 7.8, 1.35, False),
    ("UGC review — Lena", "ugc", 7.1, 1.25, False),
    ("Studio demo — 6s bumper", "manual", 6.4, 1.1, False),
    ("Generated static — bold offer", "generated", 5.9, 1.05, False),
    ("Generated video — feature tour", "generated", 5.2, 1.0, False),
    ("Motion — testimonial quotes", "manual", 4.6, 0.95, False),
    ("UGC duet — reaction", "ugc", 4.2, 1.15, False),
    ("Generated static — plain", "generated", 3.1, 0.8, False),
    ("Studio — long form 60s", "manual", 2.4, 0.7, False),
    ("UGC — before/after claim", "ugc", 8.3, 1.4, True),
)
_POOL_APPLE = (
    ("CPP — dark mode", "manual", 7.2, 1.2, False),
    ("CPP — widgets", "manual", 6.1, 1.1, False),
    ("CPP — family sharing", "generated", 5.0, 1.0, False),
    ("CPP — onboarding", "generated", 4.4, 0.95, False),
    ("CPP — legacy screenshots", "manual", 2.8, 0.75, False),
    ("CPP — discount claim", "generated", 7.9, 1.3, True),
)


def _build(
    platform: PlatformName,
    seed: int,
    today: dt.date,
    timezone: str,
    account_external_id: str | None,
    account_name: str | None,
) -> Market:
    b = MarketBuilder(
        platform,
        seed,
        today=today,
        history_days=HISTORY_DAYS,
        timezone=timezone,
        account_external_id=account_external_id,
        account_name=account_name,
    )
    rng = b.rng
    base = BASE_CPA[platform]
    layout = _apple_layout() if platform == "apple" else _social_layout(platform)
    # Running ads other than the planted tired one wear slowly, so the planted signals stay put.
    social_life = (45.0, 60.0) if platform == "meta" else (28.0, 40.0)
    pool_life = PROFILES[platform].halflife_days or (1e15, 1e15)
    default_page = -1
    if platform == "apple":
        default_page = b.creative(
            "Default product page", pool="manual", ctr=1.0, cvr=1.0, score=6.0
        )
    for c_i, camp in enumerate(layout):
        c_created = today - dt.timedelta(days=rng.randrange(150, 240) - 10 * c_i)
        c = b.campaign(
            camp.name, cbo=camp.cbo, budget_cents=int(camp.budget * 100), created=c_created
        )
        for spec in camp.adsets:
            hour_cvr = None
            if spec.bad_night:
                # Late-night traffic barely converts: an hour trim has something to find.
                hour_cvr = [v * (0.25 if h < 6 else 1.0) for h, v in enumerate(HOUR_CVR)]
            s = b.adset(
                c,
                spec.name,
                created=c_created + dt.timedelta(days=rng.randrange(1, 20)),
                budget_cents=int(spec.budget * 100),
                countries=spec.countries,
                hour_cvr=hour_cvr,
                target_cpa=spec.cpa * base,
                h_mult=spec.h_mult * rng.uniform(0.9, 1.1),
                kappa=spec.kappa,
            )
            for ad in spec.ads:
                ctr = ad.ctr * math.exp(rng.gauss(0.0, 0.05))
                if platform == "apple":
                    # Keywords share the app's default product page; they differ by themselves.
                    k = default_page
                else:
                    k = b.creative(
                        ad.name,
                        ctr=ctr,
                        cvr=ad.cvr,
                        score=round(rng.uniform(4.5, 8.5), 1),
                        floor=0.3 if ad.role == "fatigued" else rng.uniform(0.45, 0.6),
                        halflife=ad.halflife or rng.uniform(*social_life),
                    )
                b.ad(
                    s,
                    k,
                    created=today - dt.timedelta(days=ad.age_days),
                    name=ad.name,
                    wear=ad.wear,
                    ctr=ctr,
                    cvr=ad.cvr,
                )
    for name, pool, score, quality, unsafe in _POOL_APPLE if platform == "apple" else _POOL_SOCIAL:
        b.creative(
            name,
            pool=pool,
            ctr=quality * math.exp(rng.gauss(0.0, 0.05)),
            cvr=1.0,
            score=score,
            safety_failed=unsafe,
            halflife=rng.uniform(*pool_life),
        )
    market = b.build(MarketParams(retain_days=RETAIN_DAYS))
    market.advance_to(today - dt.timedelta(days=1))
    return market


def _window_sums(arr: npt.NDArray[Any], days: int) -> F8:
    """Per-row sums of the last `days` columns."""
    return np.asarray(arr[:, -days:].sum(axis=1), dtype=np.float64)


def _cpa(spend: npt.NDArray[Any], conv: npt.NDArray[Any]) -> F8:
    return np.where(conv > 0, spend / np.where(conv > 0, conv, 1), np.inf)


def _segment_problems(m: Market, today: dt.date) -> list[str]:
    """The planted poor country and poor night hours must show in the breakdowns."""
    by_country, by_hour = breakdown_totals(m, today - dt.timedelta(days=HISTORY_DAYS), m.through)
    problems: list[str] = []
    country_found = False
    for s in range(len(m.adsets.id)):
        spend = by_country[s, :, 0].astype(float)
        conv = by_country[s, :, 3].astype(float)
        if conv.sum() == 0:
            continue
        overall = spend.sum() / conv.sum()
        big = spend > 0.1 * spend.sum()
        if np.any(big & (_cpa(spend, conv) > 2.0 * overall)):
            country_found = True
    if not country_found:
        problems.append("no poor country in any breakdown")
    night = by_hour[:, :6, :].sum(axis=1).astype(float)
    day = by_hour[:, 8:22, :].sum(axis=1).astype(float)
    day_cpa = _cpa(day[:, 0], day[:, 3])
    # Enough night spend that its conversions (or their absence) mean something.
    enough = night[:, 0] >= 2 * day_cpa
    if not np.any(enough & (_cpa(night[:, 0], night[:, 3]) > 2.5 * day_cpa)):
        problems.append("no poor night hours in any breakdown")
    return problems


def bootstrap_problems(m: Market) -> list[str]:
    """What the curated account promises but this market lacks (empty when all is there)."""
    today = m.through + dt.timedelta(days=1)
    mx = ad_matrix(m, today - dt.timedelta(days=HISTORY_DAYS), m.through)
    spend, conv, imps, clicks = mx.spend, mx.conversions, mx.impressions, mx.clicks
    problems: list[str] = []
    pool_cpa = spend.sum() / max(conv.sum(), 1)
    a_set = m.ads.adset
    s_camp = m.adsets.campaign

    # A budget holder well below the pool CPA with plenty of conversions (14 days).
    s14 = np.bincount(a_set, weights=_window_sums(spend, 14), minlength=len(m.adsets.id))
    c14 = np.bincount(a_set, weights=_window_sums(conv, 14), minlength=len(m.adsets.id))
    cbo = m.campaigns.cbo[s_camp]
    holder_spend = np.concatenate(
        [s14[~cbo], np.bincount(s_camp[cbo], weights=s14[cbo], minlength=len(m.campaigns.id))]
    )
    holder_conv = np.concatenate(
        [c14[~cbo], np.bincount(s_camp[cbo], weights=c14[cbo], minlength=len(m.campaigns.id))]
    )
    winners = (_cpa(holder_spend, holder_conv) <= 0.6 * pool_cpa) & (holder_conv >= 30)
    if not winners.any():
        problems.append("no winning budget holder")

    # A losing ad beside others: > $50 and no conversions in 7 days, and a 30-day CPA above
    # 2.5× the pool (both, so no estimator can mistake it for bad luck).
    s7, c7 = _window_sums(spend, 7), _window_sums(conv, 7)
    s30, c30 = _window_sums(spend, 30), _window_sums(conv, 30)
    live = m.ads.status == ACTIVE
    siblings = np.bincount(a_set[live], minlength=len(m.adsets.id))[a_set]
    loser = live & (siblings > 1) & (s7 > 5000) & (c7 == 0) & (_cpa(s30, c30) > 2.5 * pool_cpa)
    if not loser.any():
        problems.append("no losing ad")

    problems.extend(_segment_problems(m, today))

    if m.platform == "apple":
        set_cpa = _cpa(
            np.bincount(a_set, weights=s30, minlength=len(m.adsets.id)),
            np.bincount(a_set, weights=c30, minlength=len(m.adsets.id)),
        )
        if not (set_cpa > 2.0 * pool_cpa).any():
            problems.append("no losing ad group")
        return problems

    # A tired ad: CTR falling, CPA worse in each shorter window, high frequency, real spend.
    ctr_first = clicks[:, :7].sum(axis=1) / np.maximum(imps[:, :7].sum(axis=1), 1)
    ctr_last = clicks[:, -7:].sum(axis=1) / np.maximum(imps[:, -7:].sum(axis=1), 1)
    cpas = [_cpa(_window_sums(spend, w), _window_sums(conv, w)) for w in (3, 7, 14, 30)]
    freq_last = np.where(
        imps[:, -7:].sum(axis=1) > 0,
        (mx.frequency[:, -7:] * imps[:, -7:]).sum(axis=1) / np.maximum(imps[:, -7:].sum(axis=1), 1),
        0.0,
    )
    fatigued = (
        live
        & (ctr_last < 0.75 * ctr_first)
        & (cpas[0] > cpas[1])
        & (cpas[1] > cpas[2])
        & (cpas[2] > cpas[3])
        & (freq_last >= 2.0)
        & (s30 > 3 * pool_cpa)
    )
    if not fatigued.any():
        problems.append("no fatigued ad")

    active_per_set = np.bincount(a_set[live], minlength=len(m.adsets.id))
    if not ((active_per_set < 4) & (m.adsets.status == ACTIVE)).any():
        problems.append("no ad set with a free creative slot")
    return problems


def bootstrap_market(
    platform: PlatformName,
    seed: int,
    today: dt.date,
    *,
    timezone: str = "UTC",
    account_external_id: str | None = None,
    account_name: str | None = None,
) -> Market:
    """The sandbox account: 30 days of history ending yesterday, reproducible from `seed`.

    Meta/TikTok: three campaigns (one under a campaign budget) of two or three ad sets with
    three to four ads each; Apple: three campaigns holding the budgets, with ad groups of
    keyword-like ads. The layout plants a winner, a losing ad set, a losing ad, a tired ad
    (Meta/TikTok), poor countries and night hours, free creative slots, a young ad and unused
    creatives in the library. Noise is drawn per seed; a draw that blurs any planted signal is
    skipped for the next derived seed, so every seed yields the promised account.
    """
    market: Market | None = None
    for attempt in range(MAX_ATTEMPTS):
        sub_seed = seed if attempt == 0 else text_key(f"{seed}:{attempt}")
        market = _build(platform, sub_seed, today, timezone, account_external_id, account_name)
        if not bootstrap_problems(market):
            return market
    assert market is not None
    return market


@functools.lru_cache(maxsize=32)
def bootstrap_market_cached(
    platform: PlatformName,
    seed: int,
    today: dt.date,
    timezone: str = "UTC",
    account_external_id: str | None = None,
) -> Market:
    """`bootstrap_market`, remembered per arguments: building one takes a few hundred ms.

    The returned market is shared: callers must only read it (`to_state()` gives a copy).
    """
    return bootstrap_market(
        platform, seed, today, timezone=timezone, account_external_id=account_external_id
    )
