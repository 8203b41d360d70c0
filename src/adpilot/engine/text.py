"""Human text for proposals: money in the account currency, entity names, hours and counts."""

from __future__ import annotations

from collections.abc import Sequence

_SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£"}
_ENTITY_LABEL: dict[str, str] = {"campaign": "campaign", "adset": "ad set", "ad": "ad"}
CLASS_LABEL: dict[str, str] = {
    "TOO_YOUNG": "Too young",
    "LEARNING_PHASE": "Learning",
    "TOP_PERFORMER": "Top performer",
    "HEALTHY": "Healthy",
    "UNDERPERFORMING": "Underperforming",
    "FATIGUED": "Fatigued",
    "CRITICAL": "Critical",
}


def money(cents: float, currency: str) -> str:
    """`$50.00`, `€1,250.00`, `£3.10`; other currencies as `50.00 XYZ`."""
    value = round(float(cents)) / 100.0
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.2f}"
    code = currency.upper()
    symbol = _SYMBOLS.get(code)
    if symbol is not None:
        return f"{sign}{symbol}{body}"
    return f"{sign}{body} {code}"


def percent(p: float) -> str:
    """A probability as a whole percentage; never "100%" or "0%" unless exactly certain."""
    value = round(100.0 * p)
    if p < 1.0:
        value = min(value, 99)
    if p > 0.0:
        value = max(value, 1)
    return f"{value}%"


def signed_percent(fraction: float) -> str:
    return f"{'+' if fraction >= 0 else '-'}{abs(round(100.0 * fraction))}%"


def quoted(name: str) -> str:
    return f"“{name}”"


def entity_ref(entity_type: str, name: str) -> str:
    """`ad set “US 18-34”`."""
    return f"{_ENTITY_LABEL.get(entity_type, entity_type)} {quoted(name)}"


def plural(n: int, singular: str, many: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else (many or singular + 's')}"


def join_words(items: Sequence[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"


def hour_ranges(hours: Sequence[int]) -> list[str]:
    """Contiguous runs of hours as clock ranges: [1, 2, 3, 23] → ['01:00–04:00', '23:00–24:00']."""
    runs: list[tuple[int, int]] = []
    for h in sorted(set(hours)):
        if runs and runs[-1][1] == h - 1:
            runs[-1] = (runs[-1][0], h)
        else:
            runs.append((h, h))
    return [f"{a:02d}:00–{b + 1:02d}:00" for a, b in runs]


def cpa_phrase(
    spend_cents: float, conversions: int, days: int, currency: str, versus: str | None = None
) -> str:
    """Observed CPA over a window (optionally `vs target $7.00`), or spend that bought nothing."""
    if conversions <= 0:
        tail = f" ({versus})" if versus else ""
        return f"no conversions for {money(spend_cents, currency)} spent over {days} days{tail}"
    cpa = spend_cents / conversions
    vs = f" vs {versus}" if versus else ""
    return (
        f"CPA is {money(cpa, currency)}{vs} over {days} days "
        f"({plural(conversions, 'conversion')}, {money(spend_cents, currency)} spent)"
    )
