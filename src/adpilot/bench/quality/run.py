"""Run the quality benchmark: every scenario × seed × goal × policy, paired on seeds."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from adpilot.bench.quality.metrics import POLICY_ORDER, PolicyRuns, goal_summary, scenario_summary
from adpilot.bench.quality.proof import ProofRuns
from adpilot.bench.quality.report import plot
from adpilot.bench.quality.scenarios import SCENARIOS
from adpilot.bench.quality.seed import SeedRun, run_seed
from adpilot.engine.types import GOAL_TYPES


def _runs(seeds: list[SeedRun], goal_type: str) -> dict[str, PolicyRuns]:
    return {
        name: PolicyRuns([s.traces[goal_type][name] for s in seeds])  # type: ignore[index]
        for name in POLICY_ORDER
    }


def summarise(key: str, seeds: list[SeedRun], cycles: int) -> dict[str, Any]:
    """The scenario's JSON entry: today's fields (adpilot and the others under the target-CPA
    goal, read as true conversions), then `goals` and the model `families` its seeds drew."""
    seeds = sorted(seeds, key=lambda s: s.index)
    out = scenario_summary(_runs(seeds, "target_cpa"), cycles)
    out["goals"] = {
        g: goal_summary(
            g,
            np.array([s.goals[g].cents for s in seeds], dtype=np.float64),
            _runs(seeds, g),
            cycles,
        )
        for g in GOAL_TYPES
    }
    proof = ProofRuns()
    for s in seeds:
        if s.proof is not None:
            proof.extend(s.proof)
    out["proof"] = proof.summary()
    counts = Counter(name for s in seeds for name in s.families)
    out["families"] = sorted(counts)
    out["family_seeds"] = dict(sorted(counts.items()))
    return out


def bench_quality(
    *,
    seeds: int = 200,
    cycles: int = 12,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    out_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int = 1,
    time_limit_s: float | None = None,
    proof_seeds: int = 0,
) -> dict[str, Any]:
    """The JSON-able result; writes one PNG per scenario into `out_dir` when given.

    With `workers` > 1 the seeds run in that many processes (each seed is independent). Seeds
    are started in rounds (seed 0 of every scenario, then seed 1, …); with `time_limit_s` no
    seed starts after that many seconds, and the result covers the first n seeds every scenario
    finished (`seeds` in the result; `seeds_requested` is what was asked for). The first
    `proof_seeds` seeds of each scenario also run the ground-truth checks (`proof`).
    """
    started = time.monotonic()
    tasks = [(key, i) for i in range(seeds) for key in scenarios]
    done: dict[str, dict[int, SeedRun]] = {key: {} for key in scenarios}

    def late() -> bool:
        # The first round (seed 0 of every scenario) always finishes, so a result exists
        # however short the limit or busy the machine.
        first_round = all(0 in done[key] for key in scenarios)
        return (
            time_limit_s is not None and time.monotonic() - started > time_limit_s and first_round
        )

    def collect(key: str, run: SeedRun) -> None:
        done[key][run.index] = run
        if progress is not None:
            progress(key, len(done[key]), seeds)

    if workers <= 1:
        for key, i in tasks:
            if late():
                break
            collect(key, run_seed(key, i, cycles, i < proof_seeds))
    else:
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [
                (key, pool.submit(run_seed, key, i, cycles, i < proof_seeds)) for key, i in tasks
            ]
            for key, fut in futures:
                if late():
                    break
                collect(key, fut.result())
            pool.shutdown(wait=True, cancel_futures=True)
            for key, fut in futures:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    done[key].setdefault(fut.result().index, fut.result())
    # Paired and equal: the first n seeds that every scenario finished.
    n = min(_prefix(done[key]) for key in scenarios) if scenarios else 0
    result: dict[str, Any] = {"seeds": n, "cycles": cycles, "scenarios": {}}
    if n < seeds:
        result["seeds_requested"] = seeds
    for key in scenarios:
        runs = [done[key][i] for i in range(n)]
        result["scenarios"][key] = summarise(key, runs, cycles)
        if out_dir is not None:
            curves: dict[str, dict[str, np.ndarray]] = {
                g: {name: _cumulative(runs, g, name) for name in POLICY_ORDER} for g in GOAL_TYPES
            }
            plot(out_dir / f"quality-{key}.png", key, SCENARIOS[key].title, curves, n)
    return result


def _prefix(runs: dict[int, SeedRun]) -> int:
    n = 0
    while n in runs:
        n += 1
    return n


def _cumulative(seeds: list[SeedRun], goal_type: str, name: str) -> np.ndarray:
    """Mean over seeds of the cumulative score by cycle: conversions, or net value in dollars."""
    rows = []
    for s in seeds:
        t = s.traces[goal_type][name]  # type: ignore[index]
        conv, spend = np.asarray(t.conversions), np.asarray(t.spend)
        if goal_type == "conversion_value":
            rows.append(np.cumsum(conv * s.goals["conversion_value"].cents / 100.0 - spend))
        else:
            rows.append(np.cumsum(conv))
    return np.asarray(np.mean(rows, axis=0), dtype=np.float64) if rows else np.zeros(0)
