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
from adpilot.bench.quality.metrics import goal_scores, paired_difference, paired_lift
from adpilot.bench.quality.observe import observe, run_time
from adpilot.bench.quality.policies import Adpilot, DoNothing, Rules
from adpilot.bench.quality.run import bench_quality
from adpilot.bench.quality.scenarios import SCENARIOS, market_seed
from adpilot.bench.quality.seed import seed_goals
from adpilot.cli import app
from adpilot.engine.plan import make_proposal
from adpilot.engine.types import GOAL_TYPES, Goal

SEEDS = 6
CYCLES = 6


@pytest.fixture(scope="module")
def small_run() -> dict:
    started = time.process_time()
    result = bench_quality(seeds=SEEDS, cycles=CYCLES, scenarios=("S1", "S2"))
    assert time.process_time() - started < 60.0
    return result


@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_oracle_beats_adpilot_whose_conversions_cost_less_than_doing_nothings(
    small_run: dict, scenario: str
) -> None:
    # The top-level figures are the target-CPA runs read as true conversions. Holding the target
    # may cost conversions that doing nothing buys over it, so against doing nothing adpilot is
    # held to the goal's score (below) and to a cheaper blended CPA, not to more conversions.
    s = small_run["scenarios"][scenario]
    pol = s["policies"]
    conv = {name: p["conversions_mean"] for name, p in pol.items()}
    cpa = {name: p["spend_mean"] / p["conversions_mean"] for name, p in pol.items()}
    assert conv["oracle"] >= conv["adpilot"]
    assert cpa["adpilot"] < cpa["do_nothing"]
    assert s["pct_of_oracle"]["adpilot"] <= 100.0


@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_no_policy_breaks_a_guardrail(small_run: dict, scenario: str) -> None:
    s = small_run["scenarios"][scenario]
    assert s["guardrail_violations"] == 0
    assert all(p["guardrail_violations"] == 0 for p in s["policies"].values())


@pytest.mark.parametrize("scenario", ["S1", "S2"])
@pytest.mark.parametrize("goal", GOAL_TYPES)
def test_under_each_goal_oracle_beats_adpilot_beats_doing_nothing(
    small_run: dict, scenario: str, goal: str
) -> None:
    g = small_run["scenarios"][scenario]["goals"][goal]
    score = {name: p["score_mean"] for name, p in g["policies"].items()}
    assert score["oracle"] >= score["adpilot"] >= score["do_nothing"]


@pytest.mark.parametrize("scenario", ["S1", "S2"])
@pytest.mark.parametrize("goal", GOAL_TYPES)
def test_no_policy_breaks_a_guardrail_under_either_goal(
    small_run: dict, scenario: str, goal: str
) -> None:
    g = small_run["scenarios"][scenario]["goals"][goal]
    assert g["guardrail_violations"] == 0
    assert all(p["guardrail_violations"] == 0 for p in g["policies"].values())


@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_the_target_cpa_oracle_keeps_the_blended_cpa_under_target(
    small_run: dict, scenario: str
) -> None:
    g = small_run["scenarios"][scenario]["goals"]["target_cpa"]
    assert g["policies"]["oracle"]["cpa_over_target_share"] == 0


@pytest.mark.xfail(strict=True, reason="a seed of the small run still ends over its target CPA")
@pytest.mark.parametrize("scenario", ["S1", "S2"])
def test_adpilot_keeps_the_blended_cpa_under_a_target_cpa_goal(
    small_run: dict, scenario: str
) -> None:
    assert small_run["scenarios"][scenario]["goals"]["target_cpa"]["cpa_over_target_share"] == 0


def test_spend_moves_only_by_a_policys_own_writes(small_run: dict) -> None:
    for s in small_run["scenarios"].values():
        for g in s["goals"].values():
            pol = g["policies"]
            # Doing nothing spends the same under both goals; the oracle moves its total.
            assert pol["do_nothing"]["spend_mean"] == s["policies"]["do_nothing"]["spend_mean"]
            assert pol["oracle"]["spend_mean"] != pol["do_nothing"]["spend_mean"]


def test_each_scenario_draws_its_accounts_from_several_model_families(small_run: dict) -> None:
    for key, s in small_run["scenarios"].items():
        fams = set(s["families"])
        assert len({f.split("_")[0] for f in fams}) >= 5, (key, fams)
        assert sum(s["family_seeds"][f] for f in fams if f.startswith("curve_")) == SEEDS
    assert "fatigue_frequency" in small_run["scenarios"]["S2"]["families"]
    assert not any(f.startswith("fatigue") for f in small_run["scenarios"]["S1"]["families"])


def test_goal_scores_penalise_spend_past_the_target_and_value_net_of_spend() -> None:
    from adpilot.bench.quality.loop import Trace

    within = Trace(conversions=[10.0], spend=[90.0])
    over = Trace(conversions=[10.0], spend=[120.0])
    assert goal_scores("target_cpa", 1000, within) == 10.0
    assert goal_scores("target_cpa", 1000, over) == pytest.approx(8.0)
    assert goal_scores("conversion_value", 1500, over) == pytest.approx(30.0)
    lift, (lo, hi) = paired_difference(np.array([12.0, 9.0, 14.0]), np.array([10.0, 8.0, 11.0]))
    assert lift == pytest.approx(100 * 2.0 / (29.0 / 3)) and lo < lift < hi


def test_every_seed_has_a_target_and_a_value_at_or_above_it() -> None:
    for i in range(5):
        goals = seed_goals(market_seed("S1", i), 2000)
        assert goals["target_cpa"] == Goal.target_cpa(2000)
        assert 2000 <= goals["conversion_value"].cents <= 3200


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
    goal = Goal.target_cpa(warmup_target_cpa(base))
    a = run_policy(base, DoNothing(), cycles=2, goal=goal, settings=bench_settings())
    b = run_policy(base, DoNothing(), cycles=2, goal=goal, settings=bench_settings())
    assert a.conversions == b.conversions
    # The shared warm-up is never touched by a policy's run.
    assert base.through == SCENARIOS["S1"].build(market_seed("S1", 3)).through
    r = run_policy(base, Rules(), cycles=2, goal=goal, settings=bench_settings())
    e = run_policy(base, Adpilot(), cycles=2, goal=goal, settings=bench_settings())
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
    inp = observe(m, goal=Goal.target_cpa(1000), settings=bench_settings())
    assert len(inp.dates) == 28 and inp.target_cpa_cents == 1000
    assert inp.goal == Goal.target_cpa(1000)
    value = observe(m, goal=Goal.conversion_value(1500), settings=bench_settings())
    assert value.goal == Goal.conversion_value(1500) and value.target_cpa_cents is None


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
    for goal in GOAL_TYPES:
        g = s["goals"][goal]
        assert set(g["pct_of_oracle"]) == {"adpilot", "rules", "do_nothing"}
        assert len(g["adpilot_vs_rules"]["ci95"]) == 2
        for key in (
            "gap_closed",
            "false_pause_rate",
            "guardrail_violations",
            "worst_decile_vs_do_nothing_pct",
        ):
            assert key in g
    assert "cpa_over_target_share" in s["goals"]["target_cpa"]
    assert "cpa_over_target_share" not in s["goals"]["conversion_value"]
    assert s["families"] and all(isinstance(f, str) for f in s["families"])
    assert (out / "quality-S1.png").stat().st_size > 0
    assert (out / "quality-S7.png").exists()
    assert json.loads((out / "quality.json").read_text()) == data


def test_cli_refuses_an_unknown_scenario() -> None:
    res = CliRunner().invoke(app, ["bench", "quality", "--scenarios", "S9"])
    assert res.exit_code == 2


def test_a_time_limit_reports_the_seeds_every_scenario_finished() -> None:
    # No seed starts after the limit; the ones already running finish and are paired.
    res = bench_quality(seeds=4, cycles=1, scenarios=("S1", "S7"), workers=2, time_limit_s=0.0)
    assert 1 <= res["seeds"] < 4 and res["seeds_requested"] == 4
    for s in res["scenarios"].values():
        assert (
            sum(n for f, n in s["family_seeds"].items() if f.startswith("curve_")) == res["seeds"]
        )
