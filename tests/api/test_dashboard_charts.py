"""The chart geometry behind the campaign page's inline SVG."""

from __future__ import annotations

from adpilot.dashboard import charts


def days(values: list[int | None]) -> list[tuple[str, int | None]]:
    return [(f"2026-11-{i + 1:02d}", v) for i, v in enumerate(values)]


def test_nice_ceiling_rounds_up_to_a_readable_top() -> None:
    assert charts.nice_ceiling(0) == 1
    assert charts.nice_ceiling(7) == 10
    assert charts.nice_ceiling(12_300) == 20_000
    assert charts.nice_ceiling(2_400) == 2_500
    assert charts.nice_ceiling(5_000) == 5_000


def test_bar_heights_are_proportional_to_the_values() -> None:
    chart = charts.bar_chart("Spend", "spend", days([1000, 500, 0, None]), str, str)
    assert [b.value for b in chart.bars] == [1000, 500, 0]
    full = chart.bottom - chart.top
    assert chart.bars[0].height == full
    assert chart.bars[1].height == full / 2
    assert chart.bars[2].height == 0
    assert [t.label for t in chart.ticks] == ["0.0", "250.0", "500.0", "750.0", "1000.0"]
    assert not chart.empty


def test_a_day_without_a_value_breaks_the_line() -> None:
    chart = charts.line_chart("CPA", "cpa", days([400, 500, None, 300]), str, str, reference=450)
    assert [d.value for d in chart.dots] == [400, 500, 300]
    assert chart.path.count("M") == 2 and chart.path.count("L") == 1
    assert chart.reference is not None and chart.reference.label == "target 450"
    assert chart.dots[1].y < chart.reference.y < chart.dots[0].y


def test_an_empty_series_still_draws_axes() -> None:
    chart = charts.line_chart("CPA", "cpa", days([None] * 30), str, str)
    assert chart.empty and chart.dots == [] and chart.path == ""
    assert len(chart.ticks) == charts.TICKS + 1
    assert [label for _, label in chart.x_labels] == [
        "2026-11-01",
        "2026-11-08",
        "2026-11-15",
        "2026-11-22",
        "2026-11-29",
    ]
