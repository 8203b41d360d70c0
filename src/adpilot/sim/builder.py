"""Assemble a market row by row: shared by the random generator and the curated bootstrap."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from adpilot.platforms.base import AccountInfo, PlatformName
from adpilot.sim import tables
from adpilot.sim.delivery import plan_day
from adpilot.sim.ids import IdKind, new_external_id
from adpilot.sim.market import LEARNING_PENALTY, NO_FATIGUE_TAU, Market, MarketParams
from adpilot.sim.profiles import HOUR_CVR, HOUR_TRAFFIC, PROFILES, lognormal_params
from adpilot.sim.rng import STREAM_BUILD, STREAM_IDS, py_random
from adpilot.sim.tables import ACTIVE, LEARN_NONE, LEARNED, LEARNING

_HOUR_W = np.asarray(HOUR_TRAFFIC) / np.sum(HOUR_TRAFFIC)
_POOLS = ("generated", "ugc", "manual")


def _add(rows: list[dict[str, Any]], **values: Any) -> int:
    rows.append(values)
    return len(rows) - 1


@dataclass(frozen=True)
class CountrySpec:
    code: str
    weight: float  # share of the ad set's traffic
    cvr: float = 1.0  # conversion-rate multiplier
    cpm: float = 1.0  # CPM multiplier


class MarketBuilder:
    """Collects entities, then derives fatigue scales and starting wear from expected delivery.

    Every draw comes from generators fixed by the seed, so the same calls give the same market.
    """

    def __init__(
        self,
        platform: PlatformName,
        seed: int,
        *,
        today: dt.date,
        history_days: int,
        timezone: str = "UTC",
        account_external_id: str | None = None,
        account_name: str | None = None,
        countries: Sequence[str] | None = None,
    ) -> None:
        self.platform: PlatformName = platform
        self.profile = PROFILES[platform]
        self.seed = seed
        self.today = today
        self.start = today - dt.timedelta(days=history_days)  # first day of history
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        # Python's generator: per-row scalar draws are much cheaper than numpy's.
        self.rng = py_random(seed, STREAM_BUILD)
        self._id_rng = py_random(seed, STREAM_IDS)
        self._taken: set[str] = set()
        self.countries = list(countries or self.profile.countries)
        # Rows are collected as dicts and turned into column arrays once, in build().
        self.campaigns: list[dict[str, Any]] = []
        self.adsets: list[dict[str, Any]] = []
        self.ads: list[dict[str, Any]] = []
        self.creatives: list[dict[str, Any]] = []
        self.account = AccountInfo(
            external_id=account_external_id or self._new_id("account"),
            name=account_name or f"Sandbox {platform} account",
            currency="USD",
            timezone=timezone,
        )
        # Per ad: the wanted starting wear (exp(-cum/τ)) and an optional half-life override.
        self._ad_stage: list[float | None] = []
        self._ad_halflife: list[float | None] = []
        # Per ad set: a target true CPA in dollars to calibrate CVR to, when given.
        self._target_cpa: dict[int, float] = {}
        self._h_mult: dict[int, float] = {}

    # ------------------------------------------------------------------ helpers

    def _new_id(self, kind: IdKind) -> str:
        external_id = new_external_id(self.platform, kind, self._id_rng, self._taken)
        self._taken.add(external_id)
        return external_id

    def _lognormal(self, band: tuple[float, float]) -> float:
        mu, sigma = lognormal_params(band)
        lo, hi = band
        return min(max(math.exp(self.rng.gauss(mu, sigma)), lo / 1.5), hi * 1.5)

    def timestamp(self, day: dt.date, hour: int | None = None) -> int:
        """Unix seconds of a moment on `day` in the account time zone."""
        h = self.rng.randrange(8, 19) if hour is None else hour
        local = dt.datetime.combine(day, dt.time(h, self.rng.randrange(60)))
        return int(local.replace(tzinfo=self._zone).timestamp())

    # ------------------------------------------------------------------ rows

    def campaign(
        self, name: str, *, cbo: bool, budget_cents: int, created: dt.date, status: int = ACTIVE
    ) -> int:
        return _add(
            self.campaigns,
            id=self._new_id("campaign"),
            name=name,
            status=status,
            cbo=cbo,
            budget=budget_cents if cbo else 0,
            created=self.timestamp(created),
            day=created.toordinal(),
        )

    def adset(
        self,
        campaign: int,
        name: str,
        *,
        created: dt.date,
        budget_cents: int = 0,
        countries: Sequence[CountrySpec] | None = None,
        hour_cvr: Sequence[float] | None = None,
        target_cpa: float | None = None,
        cpm: float | None = None,
        ctr: float | None = None,
        cvr: float | None = None,
        h_mult: float | None = None,
        kappa: float | None = None,
        shape: float = 1.0,
        status: int = ACTIVE,
    ) -> int:
        p = self.profile
        specs = list(countries) if countries is not None else self.random_countries()
        n_geo = len(self.countries)
        cw, ccvr, ccpm = np.zeros(n_geo), np.ones(n_geo), np.ones(n_geo)
        for spec in specs:
            g = self.countries.index(spec.code)
            cw[g], ccvr[g], ccpm[g] = spec.weight, spec.cvr, spec.cpm
        cw = cw / cw.sum()
        hcvr = (
            np.asarray(hour_cvr, dtype=float)
            if hour_cvr is not None
            else np.asarray(HOUR_CVR) * np.exp([self.rng.gauss(0.0, 0.04) for _ in range(24)])
        )
        # Normalise so the ad set's base rates are its traffic-weighted averages.
        hcvr = hcvr / float(np.sum(_HOUR_W * hcvr))
        ccvr = ccvr / float(np.sum(cw * ccvr))
        ccpm = ccpm / float(np.sum(cw * ccpm))
        cbo = bool(self.campaigns[campaign]["cbo"])
        learn = LEARN_NONE
        learn_until = 0
        pen = 1.0
        if p.learning_events > 0:
            learn = LEARNED
            if created.toordinal() + p.learning_days > self.start.toordinal():
                # Still inside its first learning window when history starts.
                learn = LEARNING
                learn_until = created.toordinal() + p.learning_days
                pen = self.rng.uniform(*LEARNING_PENALTY)
        row = _add(
            self.adsets,
            id=self._new_id("adset"),
            name=name,
            campaign=campaign,
            status=status,
            budget=0 if cbo else budget_cents,
            created=self.timestamp(created),
            day=created.toordinal(),
            cpm=cpm if cpm is not None else self._lognormal(p.cpm),
            ctr=ctr if ctr is not None else self._lognormal(p.ctr),
            cvr=cvr if cvr is not None else self._lognormal(p.cvr),
            h=1.0,  # set in build() from expected spend
            kappa=kappa if kappa is not None else self.rng.uniform(*p.kappa),
            cw=cw,
            ccvr=ccvr,
            ccpm=ccpm,
            geo=cw > 0,
            hours=np.ones(24, dtype=bool),
            hcvr=hcvr,
            learn=learn,
            learn_until=learn_until,
            learn_events=0.0,
            learn_pen=pen,
            shape=shape,
        )
        self._h_mult[row] = h_mult if h_mult is not None else self.rng.uniform(0.5, 4.0)
        if target_cpa is not None:
            self._target_cpa[row] = target_cpa
        return row

    def random_countries(self) -> list[CountrySpec]:
        others = list(self.countries[1:])
        n_extra = self.rng.randrange(2, min(4, len(others)) + 1)
        picked = self.rng.sample(others, n_extra)
        main = self.rng.uniform(0.45, 0.7)
        # Dirichlet(2, …, 2) shares of the rest, from gamma draws.
        gammas = [self.rng.gammavariate(2.0, 1.0) for _ in range(n_extra)]
        rest = [g / sum(gammas) * (1.0 - main) for g in gammas]
        specs = [CountrySpec(self.countries[0], main, 1.0, 1.0)]
        for code, w in zip(picked, rest, strict=True):
            # Most markets are cheaper than the primary one, and their clicks are worth less too:
            # CPA differs between countries far less than CPM does.
            cpm = math.exp(self.rng.gauss(-0.3, 0.25))
            cvr = cpm**0.8 * math.exp(self.rng.gauss(0.0, 0.15))
            specs.append(CountrySpec(code, float(w), cvr=cvr, cpm=cpm))
        return specs

    def creative(
        self,
        name: str,
        *,
        pool: str | None = None,
        ctr: float | None = None,
        cvr: float | None = None,
        score: float | None = None,
        safety_failed: bool = False,
        floor: float | None = None,
        halflife: float | None = None,
    ) -> int:
        p = self.profile
        z = self.rng.gauss(0.0, 1.0)
        quality = ctr if ctr is not None else math.exp(z * p.creative_ctr_sigma)
        z_q = math.log(quality) / max(p.creative_ctr_sigma, 1e-9)
        # The organic score tracks true quality loosely (ρ ≈ 0.6).
        organic = score
        if organic is None:
            organic = min(max(5.6 + 1.6 * (0.6 * z_q + 0.8 * self.rng.gauss(0.0, 1.0)), 0.0), 10.0)
        life = halflife
        if life is None:
            life = NO_FATIGUE_TAU if p.halflife_days is None else self.rng.uniform(*p.halflife_days)
        return _add(
            self.creatives,
            id=self._new_id("creative"),
            name=name,
            pool=pool or _POOLS[self.rng.randrange(len(_POOLS))],
            score=round(organic, 1),
            safety=safety_failed,
            ctr=quality,
            cvr=cvr if cvr is not None else math.exp(self.rng.gauss(0.0, p.creative_cvr_sigma)),
            floor=floor if floor is not None else self.rng.uniform(*p.fatigue_floor),
            halflife=life,
        )

    def ad(
        self,
        adset: int,
        creative: int,
        *,
        created: dt.date,
        name: str | None = None,
        wear: float | None = None,
        halflife: float | None = None,
        ctr: float | None = None,
        cvr: float | None = None,
        status: int = ACTIVE,
    ) -> int:
        """An ad; `wear` is exp(-cum/τ) when history starts (1 = fresh), drawn from age if None.

        `ctr`/`cvr` override the multipliers the creative would give (e.g. Apple keywords, which
        share one product page but differ a lot).
        """
        k = self.creatives[creative]
        row = _add(
            self.ads,
            id=self._new_id("ad"),
            name=name or k["name"],
            adset=adset,
            status=status,
            created=self.timestamp(created),
            day=created.toordinal(),
            creative=creative,
            ctr=ctr if ctr is not None else k["ctr"] * math.exp(self.rng.gauss(0.0, 0.08)),
            cvr=cvr if cvr is not None else k["cvr"] * math.exp(self.rng.gauss(0.0, 0.05)),
            floor=float(k["floor"]),
            tau=NO_FATIGUE_TAU,
            cum=0.0,
            born=created.toordinal(),
        )
        self._ad_stage.append(wear)
        self._ad_halflife.append(halflife)
        return row

    # ------------------------------------------------------------------ finish

    def build(self, params: MarketParams) -> Market:
        """The market as of the day before history starts (call `advance_to` to fill history)."""
        widths = {"countries": len(self.countries)}
        m = Market(
            platform=self.platform,
            seed=self.seed,
            account=self.account,
            countries=self.countries,
            through=self.start - dt.timedelta(days=1),
            campaigns=tables.from_rows(tables.Campaigns, self.campaigns, widths),
            adsets=tables.from_rows(tables.AdSets, self.adsets, widths),
            ads=tables.from_rows(tables.Ads, self.ads, widths),
            creatives=tables.from_rows(tables.Creatives, self.creatives, widths),
            params=params,
        )
        self._set_saturation(m)
        self._set_fatigue(m, params.fatigue_strength)
        self._calibrate(m)
        return m

    def _expected_spend(self, m: Market) -> np.ndarray:
        plan = plan_day(m, self.today.toordinal(), neutral=True)
        return plan.spend

    def _set_saturation(self, m: Market) -> None:
        # h: the spend at which the ad set's CPM has doubled, around its budget × U[0.5, 4].
        m.adsets.h = np.ones(len(m.adsets.id)) * 1e9
        spend = self._expected_spend(m)
        for s in range(len(m.adsets.id)):
            base = spend[s] if spend[s] > 0 else max(float(m.adsets.budget[s]) / 100.0, 10.0)
            m.adsets.h[s] = base * self._h_mult[s]

    def _set_fatigue(self, m: Market, strength: float) -> None:
        plan = plan_day(m, self.today.toordinal(), neutral=True)
        ads = m.ads
        a_set = ads.adset
        per_ad = plan.impressions[a_set] * plan.share
        start = self.start.toordinal()
        for a in range(len(ads.id)):
            life = self._ad_halflife[a]
            if life is None:
                life = float(m.creatives.halflife[int(ads.creative[a])])
            if self.profile.halflife_days is None or strength <= 0 or life >= NO_FATIGUE_TAU:
                ads.tau[a] = NO_FATIGUE_TAU
                continue
            daily = max(float(per_ad[a]), 100.0)
            tau = daily * life / strength / math.log(2.0)
            ads.tau[a] = tau
            wear = self._ad_stage[a]
            age = start - int(ads.day[a])
            if wear is None:
                if age <= 0:
                    wear = 1.0
                else:
                    # Older ads have worn their audience more (with some luck either way).
                    used = age / (life / strength) * math.log(2.0) * self.rng.uniform(0.3, 1.0)
                    wear = math.exp(-min(used, 3.0))
            ads.cum[a] = float(round(-math.log(max(wear, 1e-6)) * tau))

    def _calibrate(self, m: Market, rounds: int = 5) -> None:
        """Scale ad sets given a target CPA so their expected CPA over the history lands on it.

        Each round replays the history without noise (fatigue accruing, campaign budgets
        re-splitting), then moves the ad set's CVR and CPM so its average CPA meets the target.
        """
        if not self._target_cpa:
            return
        a_set = m.ads.adset
        n_sets = len(m.adsets.id)
        start_cum = m.ads.cum.copy()
        for _ in range(rounds):
            spend = np.zeros(n_sets)
            conv = np.zeros(n_sets)
            for day in range(self.start.toordinal(), self.today.toordinal()):
                plan = plan_day(m, day, neutral=True)
                imps = plan.impressions[a_set] * plan.share
                spend += np.bincount(a_set, weights=imps * plan.cpm_eff[a_set], minlength=n_sets)
                conv += np.bincount(a_set, weights=imps * plan.ctr * plan.cvr, minlength=n_sets)
                m.ads.cum = m.ads.cum + imps
            m.ads.cum = start_cum.copy()
            spend /= 1000.0
            for s, target in self._target_cpa.items():
                if conv[s] <= 0 or spend[s] <= 0:
                    continue
                # Split the correction between CVR and CPM (in log space), keeping CVR < 0.9.
                factor = (spend[s] / conv[s]) / target
                cvr = min(m.adsets.cvr[s] * math.sqrt(factor), 0.9)
                m.adsets.cpm[s] /= factor / (cvr / m.adsets.cvr[s])
                m.adsets.cvr[s] = cvr
