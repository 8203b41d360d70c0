"""Scoring: per-seed results of every policy, and the paired comparisons the report shows.

Lifts of true conversions are geometric means of the per-seed ratios a/b, as percentages
(100·(exp(mean log(a/b)) − 1)), with a paired Student-t 95% interval on the per-seed log ratios:
both policies ran on the same seed, so the account-to-account spread cancels and only the
policies' difference is left. Log ratios keep one account where a policy collapsed from swamping
the mean. A goal's score can be zero or negative, so its lifts are paired differences instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from adpilot.bench.quality.loop import Trace

POLICY_ORDER: tuple[str, ...] = ("oracle", "adpilot", "rules", "do_nothing")


@dataclass
class PolicyRuns:
    """One policy's traces over the seeds of one scenario, in seed order."""

    traces: list[Trace] = field(default_factory=list)

    def conversions(self) -> np.ndarray:
        return np.array([t.total_conversions for t in self.traces], dtype=np.float64)

    def spend(self) -> np.ndarray:
        return np.array([t.total_spend for t in self.traces], dtype=np.float64)

    def cumulative_mean(self) -> np.ndarray:
        if not self.traces:
            return np.zeros(0)
        arr = np.array([np.cumsum(t.conversions) for t in self.traces], dtype=np.float64)
        return np.asarray(arr.mean(axis=0), dtype=np.float64)

    def sum_of(self, attr: str) -> int:
        return int(sum(getattr(t.ledger, attr) for t in self.traces))


def paired_lift(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Geometric-mean lift of a over b in percent, and its paired 95% t interval."""
    log_ratio = np.log(np.maximum(a, 1e-12) / np.maximum(b, 1e-12))
    if len(log_ratio) == 0:
        return math.nan, (math.nan, math.nan)
    mean = float(log_ratio.mean())
    lift = 100.0 * math.expm1(mean)
    if len(log_ratio) < 2:
        return lift, (math.nan, math.nan)
    sd = float(log_ratio.std(ddof=1))
    half = float(stats.t.ppf(0.975, len(log_ratio) - 1)) * sd / math.sqrt(len(log_ratio))
    return lift, (100.0 * math.expm1(mean - half), 100.0 * math.expm1(mean + half))


def _r(x: float, digits: int = 2) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def policy_summary(runs: PolicyRuns, cycles: int) -> dict[str, Any]:
    pauses = runs.sum_of("pauses")
    n = max(len(runs.traces), 1)
    return {
        "conversions_mean": _r(float(runs.conversions().mean()) if runs.traces else math.nan, 1),
        "spend_mean": _r(float(runs.spend().mean()) if runs.traces else math.nan, 0),
        "actions_per_cycle": _r(runs.sum_of("actions") / (n * cycles), 2),
        "pauses": pauses,
        "false_pause_rate": _r(runs.sum_of("false_pauses") / pauses if pauses else 0.0, 3),
        "learning_resets_per_cycle": _r(runs.sum_of("resets") / (n * cycles), 3),
        "guardrail_violations": runs.sum_of("violations"),
    }


def scenario_summary(runs: dict[str, PolicyRuns], cycles: int) -> dict[str, Any]:
    """The scenario's entry of the JSON report (adpilot's figures at the top level)."""
    conv = {name: r.conversions() for name, r in runs.items()}
    oracle = conv["oracle"]
    pct = {
        name: _r(float(np.mean(100.0 * conv[name] / np.maximum(oracle, 1e-12))))
        for name in ("adpilot", "rules", "do_nothing")
    }
    vs_rules, ci_rules = paired_lift(conv["adpilot"], conv["rules"])
    vs_none, ci_none = paired_lift(conv["adpilot"], conv["do_nothing"])
    per_seed = 100.0 * (conv["adpilot"] / np.maximum(conv["do_nothing"], 1e-12) - 1.0)
    worst = float(np.percentile(per_seed, 10)) if len(per_seed) else math.nan
    policies = {name: policy_summary(runs[name], cycles) for name in POLICY_ORDER}
    ours = policies["adpilot"]
    rules_vs_none, rules_ci = paired_lift(conv["rules"], conv["do_nothing"])
    return {
        "pct_of_oracle": pct,
        "adpilot_vs_rules": {"lift_pct": _r(vs_rules), "ci95": [_r(ci_rules[0]), _r(ci_rules[1])]},
        "adpilot_vs_do_nothing": {
            "lift_pct": _r(vs_none),
            "ci95": [_r(ci_none[0]), _r(ci_none[1])],
        },
        "rules_vs_do_nothing": {
            "lift_pct": _r(rules_vs_none),
            "ci95": [_r(rules_ci[0]), _r(rules_ci[1])],
        },
        "worst_decile_vs_do_nothing_pct": _r(worst),
        "false_pause_rate": ours["false_pause_rate"],
        "learning_resets_per_cycle": ours["learning_resets_per_cycle"],
        "guardrail_violations": ours["guardrail_violations"],
        "policies": policies,
    }


# ---------------------------------------------------------------------------- goals

GOAL_POLICIES: tuple[str, ...] = ("adpilot", "rules", "do_nothing")


def goal_scores(goal_type: str, number_cents: float, trace: Trace) -> float:
    """A run's score under its goal, from its true conversions and spend (dollars).

    `target_cpa`: true conversions, less the spend over what the target allows valued at the
    target (conv − max(0, spend − T·conv)/T): a run that crosses the target loses a conversion
    for every T dollars it spent past it. `conversion_value`: net value, conv × value − spend.
    """
    n = number_cents / 100.0
    conv, spend = trace.total_conversions, trace.total_spend
    if goal_type == "target_cpa":
        return conv - max(0.0, spend - n * conv) / n
    return conv * n - spend


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Lift of a over b in percent of b's mean |score|, with a paired 95% t interval.

    For scores that may be near zero or negative (net value), where ratios are meaningless.
    """
    if len(a) == 0:
        return math.nan, (math.nan, math.nan)
    d = a - b
    scale = max(float(np.mean(np.abs(b))), 1e-12)
    lift = 100.0 * float(d.mean()) / scale
    if len(d) < 2:
        return lift, (math.nan, math.nan)
    half = float(stats.t.ppf(0.975, len(d) - 1)) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return lift, (lift - 100.0 * half / scale, lift + 100.0 * half / scale)


def _lift_entry(lift: float, ci: tuple[float, float]) -> dict[str, Any]:
    return {"lift_pct": _r(lift), "ci95": [_r(ci[0]), _r(ci[1])]}


def goal_summary(
    goal_type: str,
    numbers: np.ndarray,
    runs: dict[str, PolicyRuns],
    cycles: int,
) -> dict[str, Any]:
    """One goal's entry of a scenario: each policy scored against that goal's oracle.

    `numbers` holds each seed's goal number in cents (target CPA, or value per conversion).
    """
    score = {
        name: np.array(
            [goal_scores(goal_type, float(n), t) for n, t in zip(numbers, r.traces, strict=True)]
        )
        for name, r in runs.items()
    }
    oracle = score["oracle"]
    a, rules, none = score["adpilot"], score["rules"], score["do_nothing"]
    # Either score can be near zero or negative on a seed (net value; conversions charged for
    # spend past the target, when an account's costs run far over it): ratios of sums and
    # differences of means, never per-seed ratios, which one such seed would swamp.
    total = max(float(np.sum(oracle)), 1e-12)
    pct = {n: _r(100.0 * float(np.sum(score[n])) / total) for n in GOAL_POLICIES}
    vs_rules = paired_difference(a, rules)
    vs_none = paired_difference(a, none)
    gap = None
    if pct["adpilot"] is not None and pct["rules"] is not None and 100.0 - pct["rules"] > 0.5:
        gap = round((pct["adpilot"] - pct["rules"]) / (100.0 - pct["rules"]), 3)
    # Per seed, adpilot against doing nothing, in percent of doing nothing's |score| (floored at
    # 5% of its spend's worth, so a seed where doing nothing breaks even does not blow it up).
    floor = 0.05 * runs["do_nothing"].spend() / np.maximum(numbers / 100.0, 1e-12)
    if goal_type == "conversion_value":
        floor = 0.05 * runs["do_nothing"].spend()
    per_seed = 100.0 * (a - none) / np.maximum(np.abs(none), np.maximum(floor, 1e-12))
    worst = float(np.percentile(per_seed, 10)) if len(per_seed) else math.nan
    policies: dict[str, dict[str, Any]] = {}
    for name in POLICY_ORDER:
        entry = policy_summary(runs[name], cycles)
        entry["score_mean"] = _r(float(score[name].mean()) if len(score[name]) else math.nan, 1)
        if goal_type == "target_cpa":
            entry["cpa_over_target_share"] = _r(_over_target_share(runs[name], numbers), 3)
        policies[name] = entry
    ours = policies["adpilot"]
    out: dict[str, Any] = {
        "pct_of_oracle": pct,
        "adpilot_vs_rules": _lift_entry(*vs_rules),
        "adpilot_vs_do_nothing": _lift_entry(*vs_none),
        "gap_closed": gap,
        "false_pause_rate": ours["false_pause_rate"],
        "guardrail_violations": ours["guardrail_violations"],
        "worst_decile_vs_do_nothing_pct": _r(worst),
    }
    if goal_type == "target_cpa":
        out["cpa_over_target_share"] = ours["cpa_over_target_share"]
    out["policies"] = policies
    return out


def _over_target_share(runs: PolicyRuns, targets: np.ndarray) -> float:
    """Share of seeds whose blended true CPA over the whole run ended over the target."""
    if not runs.traces:
        return math.nan
    spend, conv = runs.spend(), runs.conversions()
    cpa = np.where(conv > 0, spend / np.maximum(conv, 1e-12), np.inf)
    return float(np.mean(cpa > targets / 100.0 * (1.0 + 1e-9)))
