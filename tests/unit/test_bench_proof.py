"""The benchmark's ground-truth checks of adpilot's own measurement, on a CI-sized run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adpilot.bench.quality.run import bench_quality
from adpilot.cli import app


def test_each_scenario_carries_a_proof_object_scored_against_the_truth() -> None:
    result = bench_quality(seeds=2, cycles=6, scenarios=("S1",), proof_seeds=2)
    proof = result["scenarios"]["S1"]["proof"]
    assert set(proof) >= {
        "verdict_accuracy",
        "calibration",
        "interval_coverage",
        "holdout",
        "backtest_right_rate",
    }
    assert set(proof["calibration"]) >= {"ece_raw", "ece"}
    assert set(proof["holdout"]) >= {"coverage", "mean_abs_error_pct"}
    # Sent changes were judged and scored; the simulator knows whether each truly helped.
    assert sum(proof["verdicts"].values()) > 0
    for key in ("verdict_accuracy", "interval_coverage", "backtest_right_rate"):
        assert 0.0 <= proof[key] <= 1.0
    assert 0.0 <= proof["calibration"]["ece_raw"] <= 1.0
    assert proof["backtest_judged"] > 0
    # Verdicts that cannot tell right from wrong would sit near a coin toss.
    assert proof["verdict_accuracy"] > 0.6


def test_the_terminal_output_shows_the_proof_table(tmp_path: Path) -> None:
    args = ["bench", "quality", "--seeds", "1", "--cycles", "4", "--scenarios", "S1"]
    res = CliRunner().invoke(app, [*args, "--proof-seeds", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "Self-measurement against ground truth" in res.stdout
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert "proof" in saved["scenarios"]["S1"]
