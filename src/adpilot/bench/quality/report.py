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


_GOAL_LABELS = {"target_cpa": "target CPA", "conversion_value": "conversion value"}


def table(result: Mapping[str, Any], titles: Mapping[str, str]) -> Table:
    """One row per scenario and goal, each policy scored against that goal's oracle."""
    t = Table(
        title=(
            f"Decision quality — {result['seeds']} seeds × {result['cycles']} weekly cycles, "
            "under each goal (target CPA: true conversions within the target; conversion value: "
            "net value)"
        )
    )
    for col in (
        "scenario",
        "goal",
        "% of oracle\nadpilot",
        "\nrules",
        "\ndo nothing",
        "adpilot vs rules\nlift [95% CI]",
        "gap\nclosed",
        "adpilot vs do nothing\nlift [95% CI]",
        "worst decile\nvs do nothing",
        "false pauses\nadpilot / rules",
        "CPA over\ntarget",
        "resets per cycle\nadpilot / rules",
        "guardrail\nviolations",
    ):
        t.add_column(col, justify="left" if col in ("scenario", "goal") else "right", no_wrap=True)
    for key, s in result["scenarios"].items():
        for n, (goal, g) in enumerate(s["goals"].items()):
            pct = g["pct_of_oracle"]
            pol = g["policies"]
            over = g.get("cpa_over_target_share")
            t.add_row(
                f"{key} {titles.get(key, '')}" if n == 0 else "",
                _GOAL_LABELS.get(goal, goal),
                _num(pct["adpilot"]),
                _num(pct["rules"]),
                _num(pct["do_nothing"]),
                _lift(g["adpilot_vs_rules"]),
                _num(g["gap_closed"], "{:.2f}"),
                _lift(g["adpilot_vs_do_nothing"]),
                f"{_num(g['worst_decile_vs_do_nothing_pct'], '{:+.1f}')}%",
                f"{_num(g['false_pause_rate'], '{:.0%}')} / "
                f"{_num(pol['rules']['false_pause_rate'], '{:.0%}')}",
                "" if over is None else _num(over, "{:.0%}"),
                f"{_num(pol['adpilot']['learning_resets_per_cycle'], '{:.2f}')} / "
                f"{_num(pol['rules']['learning_resets_per_cycle'], '{:.2f}')}",
                str(g["guardrail_violations"]),
            )
    return t


def plot(
    path: Path,
    key: str,
    title: str,
    curves: Mapping[str, Mapping[str, np.ndarray]],
    seeds: int,
) -> None:
    """Per goal, the cumulative score by cycle (mean over seeds), one line per policy: true
    conversions under the target-CPA goal, net value under the conversion-value goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(curves), figsize=(6.5 * len(curves), 4.2), dpi=110)
    for ax, (goal, lines) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        for name in POLICY_ORDER:
            y = lines.get(name)
            if y is None or len(y) == 0:
                continue
            x = np.arange(1, len(y) + 1)
            ax.plot(x, y, marker="o", markersize=3, label=_LABELS[name])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("cycle (week)")
        ax.set_ylabel(
            "cumulative net value, $ (mean per account)"
            if goal == "conversion_value"
            else "cumulative true conversions (mean per account)"
        )
        ax.set_title(f"goal: {_GOAL_LABELS.get(goal, goal)}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{key} — {title} ({seeds} seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
