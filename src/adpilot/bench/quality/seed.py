"""One seed of one scenario: its account, its two goals, and every policy's run under each goal."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from adpilot.bench.quality.loop import Trace, bench_settings, run_policy, warmup_target_cpa
from adpilot.bench.quality.oracle import Oracle
from adpilot.bench.quality.policies import Adpilot, DoNothing, Policy, Rules
from adpilot.bench.quality.proof import ProofRuns
from adpilot.bench.quality.scenarios import SCENARIOS, market_seed
from adpilot.engine.types import GOAL_TYPES, Goal, GoalType
from adpilot.sim.rng import py_random

# What one conversion is worth under `conversion_value`, as a multiple of the account's target
# CPA (drawn log-uniformly per seed): at least what a conversion costs on average today.
VALUE_OVER_TARGET = (1.0, 1.6)


def goal_policies() -> list[Policy]:
    """The policies run once per goal (doing nothing is the same under both)."""
    return [Oracle(), Adpilot(), Rules()]


@dataclass
class SeedRun:
    """Every policy's trace on one seed, per goal, and the account's goals and families."""

    index: int
    families: tuple[str, ...]
    goals: dict[GoalType, Goal]
    traces: dict[GoalType, dict[str, Trace]] = field(default_factory=dict)
    proof: ProofRuns | None = None  # the ground-truth checks, on the seeds that run them


def seed_goals(base_seed: int, target_cpa_cents: int) -> dict[GoalType, Goal]:
    rng = py_random(base_seed, 904)
    lo, hi = VALUE_OVER_TARGET
    value = target_cpa_cents * math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return {
        "target_cpa": Goal.target_cpa(target_cpa_cents),
        "conversion_value": Goal.conversion_value(max(round(value), 1)),
    }


def run_seed(key: str, index: int, cycles: int, proof: bool = False) -> SeedRun:
    """One warm-up shared by every policy and goal: the same start, the same randomness.

    With `proof`, the seed also runs the ground-truth checks of outcomes, calibration, holdout
    and backtest (under the target-CPA goal)."""
    settings = bench_settings()
    seed = market_seed(key, index)
    base = SCENARIOS[key].build(seed)
    goals = seed_goals(seed, warmup_target_cpa(base))
    run = SeedRun(index, base.families, goals)
    nothing = run_policy(
        base, DoNothing(), cycles=cycles, goal=goals["target_cpa"], settings=settings
    )
    for goal_type in GOAL_TYPES:
        goal = goals[goal_type]
        traces = {
            p.name: run_policy(base, p, cycles=cycles, goal=goal, settings=settings)
            for p in goal_policies()
        }
        traces["do_nothing"] = nothing
        for t in traces.values():
            t.ledger.history.clear()  # not needed past the run; keeps the result small to ship
        run.traces[goal_type] = traces
    if proof:
        run.proof = ProofRuns()
        run.proof.add_seed(
            index, base, goals["target_cpa"].cents, settings, cycles, f"{key}:{index}"
        )
    return run
