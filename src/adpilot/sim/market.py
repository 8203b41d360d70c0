"""The simulated market: entities with hidden ground truth, its history, writes, and JSON state."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from adpilot.platforms.base import AccountInfo, EntityType, PlatformName
from adpilot.sim import tables
from adpilot.sim.delivery import CVR_VISIBILITY, plan_day, simulate_day
from adpilot.sim.ids import new_external_id
from adpilot.sim.profiles import LAG_NORMAL, PROFILES, PlatformProfile
from adpilot.sim.rng import STREAM_AD, STREAM_DAY, STREAM_LEARN, generator, py_random, text_key
from adpilot.sim.tables import (
    ACTIVE,
    DELETED,
    LEARNING,
    STATUS_CODES,
    Ads,
    AdSets,
    Campaigns,
    Creatives,
)

STATE_VERSION = 1
# Large but finite: JSON has no infinity, and an ad with this scale never visibly tires.
NO_FATIGUE_TAU = 1e15
# Meta and TikTok treat a budget change of more than ~20% as significant: it restarts learning.
SIGNIFICANT_BUDGET_CHANGE = 0.2
# The efficiency multiplier of a learning phase is drawn uniformly from this range.
LEARNING_PENALTY = (0.7, 0.95)

SimErrorKind = Literal["not_found", "invalid_value", "invalid_state"]


class SimError(Exception):
    """A write the market refuses; adapters turn it into a platform-shaped rejection."""

    def __init__(self, kind: SimErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: SimErrorKind = kind
        self.message = message


@dataclass(frozen=True)
class RegimeShift:
    """From `start` (inclusive) to `end` (exclusive) CPM or CVR is multiplied by `multiplier`."""

    kind: Literal["cpm", "cvr"]
    start: dt.date
    end: dt.date
    multiplier: float


@dataclass(frozen=True)
class _Regime:
    kind: Literal["cpm", "cvr"]
    start: int
    end: int
    multiplier: float


@dataclass(frozen=True)
class Shock:
    """One account-wide day-level shock: CPM or CVR multiplied on one day (a date ordinal)."""

    day: int
    kind: Literal["cpm", "cvr"]
    multiplier: float


@dataclass
class MarketParams:
    lag: tuple[float, ...] = LAG_NORMAL
    regime: _Regime | None = None
    fatigue_strength: float = 1.0
    breakdowns: bool = True
    retain_days: int = 60  # days of daily history kept; older days are dropped
    pace_sigma: float = 0.05
    cpm_noise: float = 0.10  # account-wide day-to-day CPM noise (log sd)
    cpm_noise_adset: float = 0.06
    # How much the platform's delivery split reads an ad's post-click quality: 0.5 weighs
    # conversions in, 0 splits on clicks alone (a platform that favours clicky ads).
    cvr_visibility: float = CVR_VISIBILITY
    # The efficiency multiplier of a learning phase restarted by an edit is drawn from this range.
    learning_penalty: tuple[float, float] = LEARNING_PENALTY
    # Fatigue by age as well as by cumulative frequency: an ad's CTR also halves every
    # (creative half-life / age_fatigue) days since its creative started (0 = no age fatigue).
    age_fatigue: float = 0.0
    shocks: tuple[Shock, ...] = ()


@dataclass
class History:
    """Daily history: one array per stored day (ads added later make later arrays longer)."""

    day0: int  # date ordinal of the first stored day
    spend: list[npt.NDArray[np.int64]] = field(default_factory=list)  # cents per ad
    impressions: list[npt.NDArray[np.int64]] = field(default_factory=list)
    clicks: list[npt.NDArray[np.int64]] = field(default_factory=list)
    conversions: list[npt.NDArray[np.int64]] = field(default_factory=list)  # true, unlagged
    frequency: list[npt.NDArray[np.float64]] = field(default_factory=list)
    by_country: list[npt.NDArray[np.int32]] = field(default_factory=list)  # (S, G, 4)
    by_hour: list[npt.NDArray[np.int32]] = field(default_factory=list)  # (S, 24, 4)

    @property
    def days(self) -> int:
        return len(self.spend)


class Market:
    """One ad account's simulated market.

    Days are simulated whole, in the account's time zone, each from a generator fixed by
    (seed, day), so the result never depends on how `advance_to` calls are split or on a
    save/load in between. Writes take effect from the first day not yet simulated.
    """

    def __init__(
        self,
        *,
        platform: PlatformName,
        seed: int,
        account: AccountInfo,
        countries: Sequence[str],
        through: dt.date,
        campaigns: Campaigns,
        adsets: AdSets,
        ads: Ads,
        creatives: Creatives,
        params: MarketParams | None = None,
        history: History | None = None,
        edits: int = 0,
    ) -> None:
        self.platform: PlatformName = platform
        self.profile: PlatformProfile = PROFILES[platform]
        self.seed = seed
        self.account = account
        self.tz = ZoneInfo(account.timezone)
        self.countries: list[str] = list(countries)
        self._through = through.toordinal()
        self.campaigns = campaigns
        self.adsets = adsets
        self.ads = ads
        self.creatives = creatives
        self.params = params or MarketParams()
        self.history = history or History(day0=self._through + 1)
        self.edits = edits
        self._index: dict[str, dict[str, int]] | None = None
        # (day ordinal, expected conversions, expected spend in dollars) of recently simulated
        # days, before count noise; transient (not part of the saved state).
        self.expected_days: list[tuple[int, float, float]] = []
        # Names of the model families a benchmark drew this market's truth from; transient.
        self.families: tuple[str, ...] = ()

    # ---------------------------------------------------------------- time

    @property
    def through(self) -> dt.date:
        """The last simulated day."""
        return dt.date.fromordinal(self._through)

    @property
    def history_start(self) -> dt.date:
        return dt.date.fromordinal(self.history.day0)

    def local_date(self, at: dt.datetime) -> dt.date:
        aware = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
        return aware.astimezone(self.tz).date()

    def advance_to(self, day: dt.date) -> int:
        """Simulate every whole day up to and including `day`; returns how many were simulated."""
        target = day.toordinal()
        done = 0
        while self._through < target:
            current = self._through + 1
            result = simulate_day(self, current, generator(self.seed, STREAM_DAY, current))
            hist = self.history
            hist.spend.append(result.spend)
            hist.impressions.append(result.impressions)
            hist.clicks.append(result.clicks)
            hist.conversions.append(result.conversions)
            hist.frequency.append(result.frequency)
            self.expected_days.append((current, result.expected_conversions, result.expected_spend))
            if result.by_country is not None and result.by_hour is not None:
                hist.by_country.append(result.by_country)
                hist.by_hour.append(result.by_hour)
            self._through = current
            done += 1
        if done:
            self._trim_history()
        return done

    def _trim_history(self) -> None:
        self.expected_days = self.expected_days[-self.params.retain_days :]
        hist = self.history
        extra = hist.days - self.params.retain_days
        if extra <= 0:
            return
        for name in ("spend", "impressions", "clicks", "conversions", "frequency"):
            setattr(hist, name, getattr(hist, name)[extra:])
        if hist.by_country:
            hist.by_country = hist.by_country[extra:]
            hist.by_hour = hist.by_hour[extra:]
        hist.day0 += extra

    # ---------------------------------------------------------------- lookups

    def _lookup(self) -> dict[str, dict[str, int]]:
        if self._index is None:
            self._index = {
                "campaign": {x: i for i, x in enumerate(self.campaigns.id)},
                "adset": {x: i for i, x in enumerate(self.adsets.id)},
                "ad": {x: i for i, x in enumerate(self.ads.id)},
                "creative": {x: i for i, x in enumerate(self.creatives.id)},
            }
        return self._index

    def index_of(self, kind: EntityType | Literal["creative"], external_id: str) -> int:
        """Row of an entity by external id; SimError('not_found') when there is none."""
        found = self._lookup()[kind].get(external_id)
        if found is None:
            raise SimError("not_found", f"{kind} {external_id} does not exist")
        return found

    def has(self, kind: EntityType | Literal["creative"], external_id: str) -> bool:
        return external_id in self._lookup()[kind]

    def status_of(self, kind: EntityType, external_id: str) -> str:
        table = self._table(kind)
        return tables.STATUS_NAMES[int(table.status[self.index_of(kind, external_id)])]

    def budget_holder(self, kind: EntityType, external_id: str) -> bool:
        """Whether this campaign or ad set holds a daily budget."""
        if kind == "campaign":
            return bool(self.campaigns.cbo[self.index_of(kind, external_id)])
        if kind == "adset":
            i = self.index_of(kind, external_id)
            return not bool(self.campaigns.cbo[self.adsets.campaign[i]])
        return False

    def _table(self, kind: EntityType) -> Campaigns | AdSets | Ads:
        if kind == "campaign":
            return self.campaigns
        return self.adsets if kind == "adset" else self.ads

    # ---------------------------------------------------------------- writes

    def _edit_day(self, at: dt.datetime) -> int:
        # A write lands on the first day not yet simulated, or later if its clock says so.
        return max(self.local_date(at).toordinal(), self._through + 1)

    def _start_learning(self, adset_rows: Iterable[int], at: dt.datetime) -> None:
        """A significant edit: the ad set's efficiency drops until it re-learns."""
        profile = self.profile
        if profile.learning_events <= 0:
            return
        start = self._edit_day(at)
        sets = self.adsets
        for i in adset_rows:
            self.edits += 1
            rng = py_random(self.seed, STREAM_LEARN, self.edits)
            sets.learn[i] = LEARNING
            sets.learn_until[i] = start + profile.learning_days
            sets.learn_events[i] = 0.0
            sets.learn_pen[i] = rng.uniform(*self.params.learning_penalty)

    def set_status(self, kind: EntityType, external_id: str, status: str, at: dt.datetime) -> None:
        """Pause, enable or delete a campaign, ad set or ad."""
        if status == "removed":
            status = "deleted"
        code = STATUS_CODES.get(status)
        if code is None:
            raise SimError("invalid_value", f"unknown status {status!r}")
        table = self._table(kind)
        i = self.index_of(kind, external_id)
        current = int(table.status[i])
        if current == DELETED and code != DELETED:
            raise SimError("invalid_state", f"{kind} {external_id} is deleted")
        if current == code:
            return
        table.status[i] = code
        if kind == "ad":
            # Pausing, enabling or removing an ad reshuffles its ad set's delivery.
            self._start_learning([int(self.ads.adset[i])], at)
        elif kind == "adset" and code == ACTIVE:
            self._start_learning([i], at)

    def set_daily_budget(
        self, kind: EntityType, external_id: str, cents: int, at: dt.datetime
    ) -> None:
        if kind not in ("campaign", "adset"):
            raise SimError("invalid_value", "only campaigns and ad sets hold budgets")
        i = self.index_of(kind, external_id)
        if not self.budget_holder(kind, external_id):
            raise SimError(
                "invalid_value",
                f"{kind} {external_id} does not hold the budget "
                f"({'its campaign does' if kind == 'adset' else 'its ad sets do'})",
            )
        minimum = (
            self.profile.min_campaign_budget_cents
            if kind == "campaign"
            else self.profile.min_adset_budget_cents
        )
        if cents < minimum:
            raise SimError(
                "invalid_value", f"daily budget {cents} cents is below the minimum {minimum}"
            )
        table = self.campaigns if kind == "campaign" else self.adsets
        if int(table.status[i]) == DELETED:
            raise SimError("invalid_state", f"{kind} {external_id} is deleted")
        old = int(table.budget[i])
        table.budget[i] = cents
        if old <= 0 or abs(cents - old) / old > SIGNIFICANT_BUDGET_CHANGE:
            rows = (
                [int(j) for j in np.flatnonzero(self.adsets.campaign == i)]
                if kind == "campaign"
                else [i]
            )
            self._start_learning(rows, at)

    def set_geo(self, adset_id: str, countries: Sequence[str], at: dt.datetime) -> None:
        i = self._live_adset(adset_id)
        wanted = [str(c).upper() for c in countries]
        if not wanted:
            raise SimError("invalid_value", "targeting needs at least one country")
        unknown = sorted(set(wanted) - set(self.countries))
        if unknown:
            raise SimError("invalid_value", f"unsupported location(s): {', '.join(unknown)}")
        mask = np.isin(np.asarray(self.countries), wanted)
        if np.array_equal(mask, self.adsets.geo[i]):
            return
        self.adsets.geo[i] = mask
        self._start_learning([i], at)

    def set_dayparts(self, adset_id: str, hours: Sequence[int], at: dt.datetime) -> None:
        i = self._live_adset(adset_id)
        picked = sorted({int(h) for h in hours})
        if not picked or picked[0] < 0 or picked[-1] > 23:
            raise SimError("invalid_value", "dayparts must be a non-empty list of hours 0–23")
        mask = np.zeros(24, dtype=bool)
        mask[picked] = True
        if np.array_equal(mask, self.adsets.hours[i]):
            return
        self.adsets.hours[i] = mask
        self._start_learning([i], at)

    def push_creative(
        self, adset_id: str, creative_id: str, at: dt.datetime, *, name: str | None = None
    ) -> str:
        """A new active ad in the ad set running the creative; returns the new ad's id."""
        i = self._live_adset(adset_id)
        k = self.index_of("creative", creative_id)
        row = len(self.ads.id)
        rng = py_random(self.seed, STREAM_AD, row)
        external_id = new_external_id(self.platform, "ad", rng, self._lookup()["ad"])
        ctr, cvr = self._ad_quality(k, rng)
        tables.append(
            self.ads,
            id=external_id,
            name=name or str(self.creatives.name[k]),
            adset=i,
            status=ACTIVE,
            created=int(at.timestamp()),
            day=self._edit_day(at),
            creative=k,
            ctr=ctr,
            cvr=cvr,
            floor=float(self.creatives.floor[k]),
            tau=NO_FATIGUE_TAU,
            cum=0.0,
            born=self._edit_day(at),
        )
        self._index = None
        self.ads.tau[row] = self._fatigue_tau(row)
        self._start_learning([i], at)
        return external_id

    def replace_creative(self, ad_id: str, creative_id: str, at: dt.datetime) -> None:
        """Swap the ad's creative in place: new quality, fatigue starts over."""
        a = self.index_of("ad", ad_id)
        if int(self.ads.status[a]) == DELETED:
            raise SimError("invalid_state", f"ad {ad_id} is deleted")
        k = self.index_of("creative", creative_id)
        self.edits += 1
        ctr, cvr = self._ad_quality(k, py_random(self.seed, STREAM_AD, a, self.edits))
        ads = self.ads
        ads.creative[a] = k
        ads.ctr[a], ads.cvr[a] = ctr, cvr
        ads.floor[a] = float(self.creatives.floor[k])
        ads.cum[a] = 0.0
        ads.born[a] = self._edit_day(at)
        ads.tau[a] = self._fatigue_tau(a)
        self._start_learning([int(ads.adset[a])], at)

    def prune_ad(self, ad_id: str, at: dt.datetime) -> None:
        self.set_status("ad", ad_id, "deleted", at)

    def _live_adset(self, adset_id: str) -> int:
        i = self.index_of("adset", adset_id)
        if int(self.adsets.status[i]) == DELETED:
            raise SimError("invalid_state", f"adset {adset_id} is deleted")
        return i

    def _ad_quality(self, creative: int, rng: random.Random) -> tuple[float, float]:
        # The creative sets the quality; placement and copy add a little per-ad spread.
        ctr = float(self.creatives.ctr[creative] * math.exp(rng.gauss(0.0, 0.08)))
        cvr = float(self.creatives.cvr[creative] * math.exp(rng.gauss(0.0, 0.05)))
        return ctr, cvr

    def _fatigue_tau(self, ad_row: int) -> float:
        """τ so the ad's CTR tires halfway in its creative's half-life at expected delivery."""
        halflife = float(self.creatives.halflife[int(self.ads.creative[ad_row])])
        if self.profile.halflife_days is None or halflife <= 0 or halflife >= NO_FATIGUE_TAU:
            return NO_FATIGUE_TAU
        plan = plan_day(self, self._through + 1, neutral=True)
        s = int(self.ads.adset[ad_row])
        active = max(int(np.sum(plan.ad_on & (self.ads.adset == s))), 1)
        daily = max(float(plan.impressions[s]) / active, 100.0)
        strength = max(self.params.fatigue_strength, 1e-6)
        return daily * halflife / strength / math.log(2.0)

    # ---------------------------------------------------------------- state

    def to_state(self) -> dict[str, Any]:
        """A JSON-compatible dict (lists, numbers, strings) that `from_state` restores exactly."""
        p = self.params
        hist = self.history
        regime = None
        if p.regime is not None:
            regime = {
                "kind": p.regime.kind,
                "start": dt.date.fromordinal(p.regime.start).isoformat(),
                "end": dt.date.fromordinal(p.regime.end).isoformat(),
                "multiplier": p.regime.multiplier,
            }
        return {
            "v": STATE_VERSION,
            "platform": self.platform,
            "seed": self.seed,
            "account": {
                "id": self.account.external_id,
                "name": self.account.name,
                "currency": self.account.currency,
                "timezone": self.account.timezone,
            },
            "countries": list(self.countries),
            "through": self.through.isoformat(),
            "edits": self.edits,
            "params": {
                "lag": list(p.lag),
                "regime": regime,
                "fatigue_strength": p.fatigue_strength,
                "breakdowns": p.breakdowns,
                "retain_days": p.retain_days,
                "pace_sigma": p.pace_sigma,
                "cpm_noise": p.cpm_noise,
                "cpm_noise_adset": p.cpm_noise_adset,
                "cvr_visibility": p.cvr_visibility,
                "learning_penalty": list(p.learning_penalty),
                "age_fatigue": p.age_fatigue,
                "shocks": [[x.day, x.kind, x.multiplier] for x in p.shocks],
            },
            "campaigns": tables.to_state(self.campaigns),
            "adsets": tables.to_state(self.adsets),
            "ads": tables.to_state(self.ads),
            "creatives": tables.to_state(self.creatives),
            "history": {
                "day0": dt.date.fromordinal(hist.day0).isoformat(),
                "spend": [d.tolist() for d in hist.spend],
                "impressions": [d.tolist() for d in hist.impressions],
                "clicks": [d.tolist() for d in hist.clicks],
                "conversions": [d.tolist() for d in hist.conversions],
                "frequency": [d.tolist() for d in hist.frequency],
                "by_country": [d.ravel().tolist() for d in hist.by_country],
                "by_hour": [d.ravel().tolist() for d in hist.by_hour],
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Market:
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported market state version {state.get('v')!r}")
        countries = [str(c) for c in state["countries"]]
        widths = {"countries": len(countries)}
        raw = state["params"]
        regime = None
        if raw.get("regime"):
            r = raw["regime"]
            regime = _Regime(
                kind=r["kind"],
                start=dt.date.fromisoformat(r["start"]).toordinal(),
                end=dt.date.fromisoformat(r["end"]).toordinal(),
                multiplier=float(r["multiplier"]),
            )
        params = MarketParams(
            lag=tuple(float(x) for x in raw["lag"]),
            regime=regime,
            fatigue_strength=float(raw["fatigue_strength"]),
            breakdowns=bool(raw["breakdowns"]),
            retain_days=int(raw["retain_days"]),
            pace_sigma=float(raw["pace_sigma"]),
            cpm_noise=float(raw["cpm_noise"]),
            cpm_noise_adset=float(raw["cpm_noise_adset"]),
            cvr_visibility=float(raw.get("cvr_visibility", CVR_VISIBILITY)),
            learning_penalty=_pair(raw.get("learning_penalty", LEARNING_PENALTY)),
            age_fatigue=float(raw.get("age_fatigue", 0.0)),
            shocks=tuple(Shock(int(d), k, float(x)) for d, k, x in raw.get("shocks", [])),
        )
        h = state["history"]
        g = len(countries)
        history = History(
            day0=dt.date.fromisoformat(h["day0"]).toordinal(),
            spend=[np.asarray(d, dtype=np.int64) for d in h["spend"]],
            impressions=[np.asarray(d, dtype=np.int64) for d in h["impressions"]],
            clicks=[np.asarray(d, dtype=np.int64) for d in h["clicks"]],
            conversions=[np.asarray(d, dtype=np.int64) for d in h["conversions"]],
            frequency=[np.asarray(d, dtype=np.float64) for d in h["frequency"]],
            by_country=[np.asarray(d, dtype=np.int32).reshape(-1, g, 4) for d in h["by_country"]],
            by_hour=[np.asarray(d, dtype=np.int32).reshape(-1, 24, 4) for d in h["by_hour"]],
        )
        acct = state["account"]
        return cls(
            platform=state["platform"],
            seed=int(state["seed"]),
            account=AccountInfo(
                external_id=acct["id"],
                name=acct["name"],
                currency=acct["currency"],
                timezone=acct["timezone"],
            ),
            countries=countries,
            through=dt.date.fromisoformat(state["through"]),
            campaigns=tables.from_state(Campaigns, state["campaigns"], widths),
            adsets=tables.from_state(AdSets, state["adsets"], widths),
            ads=tables.from_state(Ads, state["ads"], widths),
            creatives=tables.from_state(Creatives, state["creatives"], widths),
            params=params,
            history=history,
            edits=int(state["edits"]),
        )


def _pair(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = values
    return float(lo), float(hi)


def regime_internal(shift: RegimeShift | None) -> _Regime | None:
    if shift is None:
        return None
    return _Regime(shift.kind, shift.start.toordinal(), shift.end.toordinal(), shift.multiplier)


def account_key_seed(text: str) -> int:
    """A stable seed from a text key (an account id)."""
    return text_key(text)


def creative_ids_in_state(state: dict[str, Any]) -> set[str]:
    """The creative external ids of a stored market, read without rebuilding the market."""
    return {str(c) for c in state.get("creatives", {}).get("id", [])}
