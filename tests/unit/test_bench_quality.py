"""A CI-sized decision-quality benchmark: a regression in the engine fails here."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from adpilot.bench.quality.apply import Ledger, audit_and_apply
from adpilot.bench.quality.loop import bench_settings, run_policy, warmup_target_cpa
from adpilot.bench.quality.metrics import paired_lift
from adpilot.bench.quality.observe import observe, run_time
from adpilot.bench.quality.policies import Adpilot, DoNothing, Rules
from adpilot.bench.quality.run import bench_quality
from adpilot.bench.quality.scenarios import SCENARIOS, market_seed
from adpilot.cli import app
from adpilot.engine.plan import make_proposal

SEEDS = 6
CYCLES = 6


@pytest.fixture(scope="module")
def small_run() -> dict:
    started = time.process_time()
    result = bench_quality(seeds=SEEDS, cycles=CYCLES, scenarios=("S1", "S2"))
    assert time.process_time() - started < 60.0
    return result


@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_oracle_beats_adpilot_beats_doing_nothing(small_run: dict, scenario: str) -> None:
    s = small_run["scenarios"][scenario]
    conv = {name: p["conversions_mean"] for name, p in s["policies"].items()}
    assert conv["oracle"] >= conv["adpilot"] >= conv["do_nothing"]
    assert s["adpilot_vs_do_nothing"]["lift_pct"] > 0
    assert s["pct_of_oracle"]["adpilot"] <= 100.0


@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_no_policy_breaks_a_guardrail(small_run: dict, scenario: str) -> None:
    s = small_run["scenarios"][scenario]
    assert s["guardrail_violations"] == 0
    assert all(p["guardrail_violations"] == 0 for p in s["policies"].values())


def test_policies_spend_the_same(small_run: dict) -> None:
    for s in small_run["scenarios"].values():
        spend = [p["spend_mean"] for p in s["policies"].values()]
        assert max(spend) / min(spend) < 1.01


def test_paired_lift_is_the_geometric_mean_ratio_with_a_t_interval() -> None:
    a = np.array([110.0, 120.0, 105.0, 115.0])
    b = np.array([100.0, 100.0, 100.0, 100.0])
    lift, (lo, hi) = paired_lift(a, b)
    assert lift == pytest.approx(100 * (np.exp(np.log(a / b).mean()) - 1))
    assert 0 < lo < lift < hi
    # One seed where the other policy collapsed does not swamp the estimate.
    lift2, _ = paired_lift(np.append(a, 100.0), np.append(b, 0.5))
    assert lift2 < 300


def test_the_same_seed_gives_every_policy_the_same_start() -> None:
    base = SCENARIOS["S1"].build(market_seed("S1", 3))
    target = warmup_target_cpa(base)
    a = run_policy(base, DoNothing(), cycles=2, target_cpa_cents=target, settings=bench_settings())
    b = run_policy(base, DoNothing(), cycles=2, target_cpa_cents=target, settings=bench_settings())
    assert a.conversions == b.conversions
    # The shared warm-up is never touched by a policy's run.
    assert base.through == SCENARIOS["S1"].build(market_seed("S1", 3)).through
    r = run_policy(base, Rules(), cycles=2, target_cpa_cents=target, settings=bench_settings())
    e = run_policy(base, Adpilot(), cycles=2, target_cpa_cents=target, settings=bench_settings())
    assert r.ledger.violations == e.ledger.violations == 0


def test_the_audit_counts_a_write_past_the_guardrails() -> None:
    m = SCENARIOS["S1"].build(market_seed("S1", 0))
    holder = next(j for j in range(len(m.adsets.id)) if not m.campaigns.cbo[m.adsets.campaign[j]])
    budget = int(m.adsets.budget[holder])
    too_big = make_proposal(
        action_type="update_budget",
        entity_type="adset",
        entity_id=m.adsets.id[holder],
        entity_name="x",
        campaign_id=None,
        adset_id=m.adsets.id[holder],
        current={"dailyBudgetCents": budget},
        new={"dailyBudgetCents": budget * 3},
        summary="",
        rationale="",
        confidence=0.9,
        evidence={},
        fingerprint={},
    )
    ledger = Ledger()
    audit_and_apply(m, [too_big], ledger, bench_settings(), run_time(m))
    assert ledger.violations == 1
    inp = observe(m, target_cpa_cents=1000, settings=bench_settings())
    assert len(inp.dates) == 28 and inp.target_cpa_cents == 1000


def test_cli_prints_one_json_object_and_writes_plots(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    res = CliRunner().invoke(
        app,
        [
            "bench",
            "quality",
            "--seeds",
            "2",
            "--cycles",
            "2",
            "--scenarios",
            "S1,S7",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["seeds"] == 2 and data["cycles"] == 2
    s = data["scenarios"]["S7"]
    assert set(s["pct_of_oracle"]) == {"adpilot", "rules", "do_nothing"}
    assert len(s["adpilot_vs_rules"]["ci95"]) == 2
    for key in (
        "adpilot_vs_do_nothing",
        "worst_decile_vs_do_nothing_pct",
        "false_pause_rate",
        "learning_resets_per_cycle",
        "guardrail_violations",
    ):
        assert key in s
    assert (out / "quality-S1.png").stat().st_size > 0
    assert (out / "quality-S7.png").exists()
    assert json.loads((out / "quality.json").read_text()) == data


def test_cli_refuses_an_unknown_scenario() -> None:
    res = CliRunner().invoke(app, ["bench", "quality", "--scenarios", "S9"])
    assert res.exit_code == 2
