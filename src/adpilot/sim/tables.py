"""Column tables of the market's entities, and their compact JSON form (flat lists per column)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]
BA = npt.NDArray[np.bool_]

ACTIVE, PAUSED, DELETED = 0, 1, 2
STATUS_NAMES: tuple[str, ...] = ("active", "paused", "deleted")
STATUS_CODES: dict[str, int] = {name: code for code, name in enumerate(STATUS_NAMES)}

# Learning state of an ad set.
LEARN_NONE, LEARNING, LEARNED, LIMITED = 0, 1, 2, 3
LEARN_NAMES: tuple[str | None, ...] = (None, "learning", "learned", "limited")


def _col(
    dtype: str, width: int | str | None = None, default: float | str | None = None
) -> dict[str, Any]:
    # `width` marks a 2-D column; "countries" resolves to the market's country count on load.
    # `default` fills a column a stored state predates: a number, or the name of a column to copy.
    return {"dtype": dtype, "width": width, "default": default}


_TEXT: dict[str, Any] = {}  # a column of strings


@dataclass
class Campaigns:
    id: list[str] = field(metadata=_TEXT)
    name: list[str] = field(metadata=_TEXT)
    status: I8 = field(metadata=_col("i8"))
    cbo: BA = field(metadata=_col("?"))  # campaign budget mode: the campaign holds the budget
    budget: I8 = field(metadata=_col("i8"))  # cents; 0 when the ad sets hold the budgets
    created: I8 = field(metadata=_col("i8"))  # unix seconds
    day: I8 = field(metadata=_col("i8"))  # local date ordinal of `created`


@dataclass
class AdSets:
    id: list[str] = field(metadata=_TEXT)
    name: list[str] = field(metadata=_TEXT)
    campaign: I8 = field(metadata=_col("i8"))
    status: I8 = field(metadata=_col("i8"))
    budget: I8 = field(metadata=_col("i8"))  # cents; 0 under a campaign budget
    created: I8 = field(metadata=_col("i8"))
    day: I8 = field(metadata=_col("i8"))
    # Ground truth, never shown by reads.
    cpm: F8 = field(metadata=_col("f8"))  # dollars
    ctr: F8 = field(metadata=_col("f8"))
    cvr: F8 = field(metadata=_col("f8"))
    h: F8 = field(metadata=_col("f8"))  # saturation spend, dollars/day
    kappa: F8 = field(metadata=_col("f8"))
    # Traffic weight per country (0 outside the ad set's reach).
    cw: F8 = field(metadata=_col("f8", "countries"))
    ccvr: F8 = field(metadata=_col("f8", "countries"))  # CVR multiplier per country
    ccpm: F8 = field(metadata=_col("f8", "countries"))  # CPM multiplier per country
    geo: BA = field(metadata=_col("?", "countries"))  # targeted countries
    hours: BA = field(metadata=_col("?", 24))  # dayparts
    hcvr: F8 = field(metadata=_col("f8", 24))  # CVR multiplier per hour
    learn: I8 = field(metadata=_col("i8"))  # LEARN_* code
    learn_until: I8 = field(metadata=_col("i8"))  # first day ordinal after the learning window
    learn_events: F8 = field(metadata=_col("f8"))
    learn_pen: F8 = field(metadata=_col("f8"))  # efficiency multiplier while learning
    # Response-curve shape: the Hill exponent of conversions in spend (1 = Michaelis–Menten).
    shape: F8 = field(metadata=_col("f8", default=1.0))


@dataclass
class Ads:
    id: list[str] = field(metadata=_TEXT)
    name: list[str] = field(metadata=_TEXT)
    adset: I8 = field(metadata=_col("i8"))
    status: I8 = field(metadata=_col("i8"))
    created: I8 = field(metadata=_col("i8"))
    day: I8 = field(metadata=_col("i8"))
    creative: I8 = field(metadata=_col("i8"))
    # Ground truth.
    ctr: F8 = field(metadata=_col("f8"))  # CTR multiplier on the ad set's CTR
    cvr: F8 = field(metadata=_col("f8"))  # CVR multiplier on the ad set's CVR
    floor: F8 = field(metadata=_col("f8"))  # fatigue floor
    tau: F8 = field(metadata=_col("f8"))  # fatigue scale, impressions
    cum: F8 = field(metadata=_col("f8"))  # cumulative impressions (integral)
    born: I8 = field(metadata=_col("i8", default="day"))  # day its current creative started


@dataclass
class Creatives:
    id: list[str] = field(metadata=_TEXT)
    name: list[str] = field(metadata=_TEXT)
    pool: list[str] = field(metadata=_TEXT)  # generated | ugc | manual
    score: F8 = field(metadata=_col("f8"))  # organic score 0–10
    safety: BA = field(metadata=_col("?"))  # failed a safety check
    # Ground truth.
    ctr: F8 = field(metadata=_col("f8"))
    cvr: F8 = field(metadata=_col("f8"))
    floor: F8 = field(metadata=_col("f8"))
    halflife: F8 = field(metadata=_col("f8"))  # days at typical delivery


T = TypeVar("T", Campaigns, AdSets, Ads, Creatives)


def empty(cls: type[T], widths: dict[str, int]) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if "dtype" not in f.metadata:
            kwargs[f.name] = []
            continue
        width = _width(f.metadata["width"], widths)
        shape: tuple[int, ...] = (0,) if width is None else (0, width)
        kwargs[f.name] = np.zeros(shape, dtype=f.metadata["dtype"])
    return cls(**kwargs)


def append(table: T, **values: Any) -> int:
    """Append one row (every column given) and return its index."""
    for f in fields(table):
        current = getattr(table, f.name)
        value = values[f.name]
        if "dtype" not in f.metadata:
            current.append(value)
        else:
            row = np.asarray(value, dtype=current.dtype)
            setattr(table, f.name, np.concatenate([current, row[None, ...]], axis=0))
    return len(table.id) - 1


def from_rows(cls: type[T], rows: list[dict[str, Any]], widths: dict[str, int]) -> T:
    """A table from row dicts (one key per column): the fast way to build many rows at once."""
    if not rows:
        return empty(cls, widths)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        values = [row[f.name] for row in rows]
        if "dtype" not in f.metadata:
            kwargs[f.name] = list(values)
            continue
        arr = np.asarray(values, dtype=f.metadata["dtype"])
        width = _width(f.metadata["width"], widths)
        kwargs[f.name] = arr if width is None else arr.reshape(-1, width)
    return cls(**kwargs)


def to_state(table: Campaigns | AdSets | Ads | Creatives) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in fields(table):
        value = getattr(table, f.name)
        if isinstance(value, np.ndarray):
            flat = value.ravel()
            out[f.name] = (flat.astype(np.int8) if flat.dtype == np.bool_ else flat).tolist()
        else:
            out[f.name] = list(value)
    return out


def from_state(cls: type[T], data: dict[str, Any], widths: dict[str, int]) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        default = f.metadata.get("default")
        if f.name not in data and default is not None:
            raw = data[default] if isinstance(default, str) else [default] * len(data["id"])
        else:
            raw = data[f.name]
        if "dtype" not in f.metadata:
            kwargs[f.name] = [str(v) for v in raw]
            continue
        arr = np.asarray(raw, dtype=f.metadata["dtype"])
        width = _width(f.metadata["width"], widths)
        kwargs[f.name] = arr if width is None else arr.reshape(-1, width)
    return cls(**kwargs)


def _width(spec: int | str | None, widths: dict[str, int]) -> int | None:
    if spec is None:
        return None
    return widths[spec] if isinstance(spec, str) else spec
