"""The benchmark's outputs: a terminal table, the JSON object, and one PNG per scenario."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from adpilot.bench.quality.metrics import POLICY_ORDER

_LABELS = {
    "oracle": "oracle",
    "adpilot": "adpilot",
    "rules": "±20% rules",
    "do_nothing": "do nothing",
}


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if x is None else fmt.format(x)


def _lift(entry: Mapping[str, Any]) -> str:
    lo, hi = entry["ci95"]
    return f"{_num(entry['lift_pct'], '{:+.1f}')}% [{_num(lo, '{:+.1f}')}, {_num(hi, '{:+.1f}')}]"


def table(result: Mapping[str, Any], titles: Mapping[str, str]) -> Table:
    t = Table(
        title=(
            f"Decision quality — {result['seeds']} seeds × {result['cycles']} weekly cycles "
            "(true conversions at equal spend)"
        )
    )
    for col in (
        "scenario",
        "% of oracle\nadpilot",
        "\nrules",
        "\ndo nothing",
        "adpilot vs do nothing\nlift [95% CI]",
        "adpilot vs rules\nlift [95% CI]",
        "worst decile\nvs do nothing",
        "false pauses\nadpilot / rules",
        "resets per cycle\nadpilot / rules",
        "guardrail\nviolations",
    ):
        t.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=True)
    for key, s in result["scenarios"].items():
        pct = s["pct_of_oracle"]
        pol = s["policies"]
        t.add_row(
            f"{key} {titles.get(key, '')}",
            _num(pct["adpilot"]),
            _num(pct["rules"]),
            _num(pct["do_nothing"]),
            _lift(s["adpilot_vs_do_nothing"]),
            _lift(s["adpilot_vs_rules"]),
            f"{_num(s['worst_decile_vs_do_nothing_pct'], '{:+.1f}')}%",
            f"{_num(s['false_pause_rate'], '{:.0%}')} / "
            f"{_num(pol['rules']['false_pause_rate'], '{:.0%}')}",
            f"{_num(s['learning_resets_per_cycle'], '{:.2f}')} / "
            f"{_num(pol['rules']['learning_resets_per_cycle'], '{:.2f}')}",
            str(s["guardrail_violations"]),
        )
    return t


def plot(path: Path, key: str, title: str, curves: Mapping[str, np.ndarray], seeds: int) -> None:
    """Cumulative true conversions by cycle (mean over seeds), one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name in POLICY_ORDER:
        y = curves.get(name)
        if y is None or len(y) == 0:
            continue
        x = np.arange(1, len(y) + 1)
        ax.plot(x, y, marker="o", markersize=3, label=_LABELS[name])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("cycle (week)")
    ax.set_ylabel("cumulative true conversions (mean per account)")
    ax.set_title(f"{key} — {title} ({seeds} seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
