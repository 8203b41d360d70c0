"""The terminal table of the ground-truth checks (the `proof` object of each scenario)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, fmt: str) -> str:
    return "—" if x is None else fmt.format(x)


def proof_table(result: Mapping[str, Any], titles: Mapping[str, str]) -> Table:
    t = Table(title="Self-measurement against ground truth (estimates adpilot shows customers)")
    for col in (
        "scenario",
        "verdict accuracy\n(worked / no effect / backfired)",
        "calibration ECE\nraw → recalibrated",
        "95% effect interval\ncoverage",
        "holdout interval\ncovers true lift",
        "holdout |error|\n(true lift)",
        "backtest right rate\n(truly right)",
    ):
        t.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=True)
    for key, s in result["scenarios"].items():
        p = s.get("proof")
        if not p:
            continue
        by = p["verdict_accuracy_by_verdict"]
        h = p["holdout"]
        t.add_row(
            f"{key} {titles.get(key, '')}",
            f"{_pct(p['verdict_accuracy'])} ({_pct(by['worked'])} / {_pct(by['no_effect'])} / "
            f"{_pct(by['backfired'])})",
            f"{_num(p['calibration']['ece_raw'], '{:.3f}')} → "
            f"{_num(p['calibration']['ece'], '{:.3f}')}",
            _pct(p["interval_coverage"]),
            f"{_pct(h['coverage'])} of {h['seeds']}",
            f"{_num(h['mean_abs_error_pct'], '{:.1f}')} pts "
            f"({_num(h['mean_true_lift_pct'], '{:+.1f}')}%)",
            f"{_pct(p['backtest_right_rate'])} ({_pct(p['backtest_true_right_rate'])})",
        )
    return t
