"""Run the quality benchmark: every scenario × seed × policy, paired on seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from adpilot.bench.quality.loop import bench_settings, run_policy, warmup_target_cpa
from adpilot.bench.quality.metrics import PolicyRuns, scenario_summary
from adpilot.bench.quality.oracle import Oracle
from adpilot.bench.quality.policies import Adpilot, DoNothing, Policy, Rules
from adpilot.bench.quality.proof import ProofRuns
from adpilot.bench.quality.report import plot
from adpilot.bench.quality.scenarios import SCENARIOS, market_seed


def policies() -> list[Policy]:
    return [Oracle(), Adpilot(), Rules(), DoNothing()]


def bench_quality(
    *,
    seeds: int = 200,
    cycles: int = 12,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    out_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    proof_seeds: int = 0,
) -> dict[str, Any]:
    """The JSON-able result; writes one PNG per scenario into `out_dir` when given.

    The first `proof_seeds` seeds of each scenario also run the ground-truth checks (`proof`).
    """
    settings = bench_settings()
    result: dict[str, Any] = {"seeds": seeds, "cycles": cycles, "scenarios": {}}
    for key in scenarios:
        scenario = SCENARIOS[key]
        pols = policies()
        runs = {p.name: PolicyRuns() for p in pols}
        proof = ProofRuns()
        for i in range(seeds):
            # One warm-up per seed, shared by every policy: the same start, the same randomness.
            base = scenario.build(market_seed(key, i))
            target = warmup_target_cpa(base)
            for policy in pols:
                trace = run_policy(
                    base, policy, cycles=cycles, target_cpa_cents=target, settings=settings
                )
                runs[policy.name].traces.append(trace)
            if i < proof_seeds:
                proof.add_seed(i, base, target, settings, cycles, f"{key}:{i}")
            if progress is not None:
                progress(key, i + 1, seeds)
        result["scenarios"][key] = {**scenario_summary(runs, cycles), "proof": proof.summary()}
        if out_dir is not None:
            curves = {name: r.cumulative_mean() for name, r in runs.items()}
            plot(out_dir / f"quality-{key}.png", key, scenario.title, curves, seeds)
    return result
