"""The engine speed benchmark runs and reports its figures (a small account, to stay quick)."""

from __future__ import annotations

from adpilot.bench.engine_bench import bench_engine, synthetic_input
from adpilot.engine.guardrails import apply_guardrails, build_context
from adpilot.engine.run import evaluate


def test_bench_engine_reports_timings() -> None:
    out = bench_engine(n_ads=400, n_days=30, repeats=2, seed=1)
    assert out["n_ads"] == 400 and out["repeats"] == 2
    assert 0 < out["min_s"] <= out["median_s"]
    assert out["entities_evaluated"] > 400
    assert sum(out["proposals_by_type"].values()) == out["proposals"]


def test_synthetic_account_exercises_most_proposal_types_within_guardrails() -> None:
    inp = synthetic_input(n_ads=800, seed=2)
    result = evaluate(inp)
    kinds = {p.action_type for p in result.proposals}
    assert {"update_budget", "push_creative", "update_targeting", "update_schedule"} <= kinds
    guarded = apply_guardrails(result.proposals, build_context(inp, result))
    passed = [g for g in guarded if not g.held]
    assert 0 < len(passed) <= inp.settings.max_actions_per_run
    assert all(0.0 <= p.confidence <= 1.0 for p in result.proposals)
