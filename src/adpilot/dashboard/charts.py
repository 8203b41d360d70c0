"""Inline-SVG chart geometry for daily series: spend as bars, CPA as a line with gaps."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

RIGHT, TOP, BOTTOM = 12, 14, 28
TICKS = 4


@dataclass(frozen=True)
class Size:
    """A chart's drawing box; the page shows the one that fits the screen at near 1:1 scale,
    so axis labels stay readable on a phone."""

    width: int
    height: int
    left: int  # room for the value labels


WIDE = Size(720, 240, 72)
NARROW = Size(360, 240, 58)


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Mark:
    """One day: a bar (x, y, width, height) or a dot (x, y), with the exact value it shows."""

    date: str
    value: int
    label: str
    x: float
    y: float
    width: float = 0.0
    height: float = 0.0


@dataclass(frozen=True)
class Chart:
    title: str
    series: str
    size: Size = WIDE
    ticks: list[Tick] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    bars: list[Mark] = field(default_factory=list)
    dots: list[Mark] = field(default_factory=list)
    path: str = ""
    reference: Tick | None = None
    empty: bool = True

    @property
    def width(self) -> int:
        return self.size.width

    @property
    def height(self) -> int:
        return self.size.height

    @property
    def left(self) -> int:
        return self.size.left

    @property
    def right(self) -> int:
        return self.size.width - RIGHT

    @property
    def top(self) -> int:
        return TOP

    @property
    def bottom(self) -> int:
        return self.size.height - BOTTOM


def nice_ceiling(value: float) -> float:
    """The smallest 1/2/2.5/5 × 10^k at or above `value`, so tick labels are round."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _r(v: float) -> float:
    return round(v, 1)


class _Frame:
    """Maps (day index, value) to SVG coordinates for one chart."""

    def __init__(self, days: int, top_value: float, size: Size) -> None:
        self.days = max(days, 1)
        self.top_value = top_value
        self.size = size
        self.slot = (size.width - RIGHT - size.left) / self.days
        self.plot_height = size.height - BOTTOM - TOP

    def x_center(self, index: int) -> float:
        return _r(self.size.left + (index + 0.5) * self.slot)

    def y(self, value: float) -> float:
        return _r(self.size.height - BOTTOM - (value / self.top_value) * self.plot_height)


def _axes(
    frame: _Frame, dates: Sequence[str], fmt: Callable[[float], str], date_fmt: Callable[[str], str]
) -> tuple[list[Tick], list[tuple[float, str]]]:
    ticks = [
        Tick(frame.y(frame.top_value * i / TICKS), fmt(frame.top_value * i / TICKS))
        for i in range(TICKS + 1)
    ]
    # A label a week, plus the last day unless it would crowd the previous label.
    shown = list(range(0, len(dates), 7))
    if dates and len(dates) - 1 - shown[-1] >= 4:
        shown.append(len(dates) - 1)
    return ticks, [(frame.x_center(i), date_fmt(dates[i])) for i in shown]


def bar_chart(
    title: str,
    series: str,
    points: Sequence[tuple[str, int | None]],
    fmt: Callable[[float], str],
    date_fmt: Callable[[str], str],
    size: Size = WIDE,
) -> Chart:
    """One bar per day; days without a value draw nothing."""
    present = [v for _, v in points if v is not None]
    frame = _Frame(len(points), nice_ceiling(max(present, default=0)), size)
    ticks, x_labels = _axes(frame, [d for d, _ in points], fmt, date_fmt)
    bar_width = frame.slot * 0.7
    bars = [
        Mark(
            date=day,
            value=value,
            label=fmt(value),
            x=_r(frame.x_center(i) - bar_width / 2),
            y=frame.y(value),
            width=_r(bar_width),
            height=_r(frame.y(0) - frame.y(value)),
        )
        for i, (day, value) in enumerate(points)
        if value is not None
    ]
    return Chart(
        title, series, size, ticks=ticks, x_labels=x_labels, bars=bars, empty=not any(present)
    )


def line_chart(
    title: str,
    series: str,
    points: Sequence[tuple[str, int | None]],
    fmt: Callable[[float], str],
    date_fmt: Callable[[str], str],
    reference: int | None = None,
    reference_label: str = "target",
    size: Size = WIDE,
) -> Chart:
    """A line through the days that have a value; a missing day breaks the line (a CPA with no
    conversions is undefined, not zero)."""
    present = [v for _, v in points if v is not None]
    highest = max([*present, reference or 0], default=0)
    frame = _Frame(len(points), nice_ceiling(highest), size)
    ticks, x_labels = _axes(frame, [d for d, _ in points], fmt, date_fmt)
    dots: list[Mark] = []
    segments: list[str] = []
    previous_present = False
    for i, (day, value) in enumerate(points):
        if value is None:
            previous_present = False
            continue
        x, y = frame.x_center(i), frame.y(value)
        segments.append(f"{'L' if previous_present else 'M'}{x} {y}")
        dots.append(Mark(date=day, value=value, label=fmt(value), x=x, y=y))
        previous_present = True
    ref = (
        Tick(frame.y(reference), f"{reference_label} {fmt(reference)}")
        if reference is not None
        else None
    )
    return Chart(
        title,
        series,
        size,
        ticks=ticks,
        x_labels=x_labels,
        dots=dots,
        path=" ".join(segments),
        reference=ref,
        empty=not present,
    )
