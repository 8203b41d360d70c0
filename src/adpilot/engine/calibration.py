"""Calibration of proposal confidence: reliability tables, Brier score, ECE and recalibration.

Pure. Each judged proposal gives a pair (confidence it was proposed with, outcome label). The
label is the outcome's `p_true` — the probability the change helped (or the claim of a proposal
not sent held) — so a noisy horizon counts for what it shows rather than being forced to 0 or 1;
the Brier score uses the same soft label. Recalibration is Platt scaling on the logit of the
confidence, p' = σ(a·logit(p) + b), fitted by Newton steps with a weak pull towards the identity
(a = 1, b = 0), and only once a group has `min_count` judged outcomes: below that the raw
confidence stands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_BINS = 10
MIN_COUNT = 30
_EPS = 1e-4


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    mean_confidence: float | None
    observed_rate: float | None  # mean label: how often proposals at this confidence came true


@dataclass(frozen=True)
class Reliability:
    bins: tuple[Bin, ...]
    count: int
    brier: float | None
    ece: float | None  # count-weighted mean |confidence − observed| over the bins

    def to_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "brier": _r(self.brier),
            "ece": _r(self.ece),
            "bins": [
                {
                    "low": b.low,
                    "high": b.high,
                    "count": b.count,
                    "meanConfidence": _r(b.mean_confidence),
                    "observedRate": _r(b.observed_rate),
                }
                for b in self.bins
            ],
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def reliability(
    confidence: Sequence[float], label: Sequence[float], bins: int = DEFAULT_BINS
) -> Reliability:
    """Equal-width bins over [0, 1]; labels are probabilities (0/1 for hard outcomes)."""
    n = len(confidence)
    sums = [[0, 0.0, 0.0] for _ in range(bins)]
    brier = 0.0
    for c, y in zip(confidence, label, strict=True):
        k = min(int(c * bins), bins - 1)
        sums[k][0] += 1
        sums[k][1] += c
        sums[k][2] += y
        brier += (c - y) ** 2
    out = []
    ece = 0.0
    for k, (cnt, sc, sy) in enumerate(sums):
        count = int(cnt)
        mc = sc / count if count else None
        oy = sy / count if count else None
        if count and mc is not None and oy is not None:
            ece += count * abs(mc - oy)
        out.append(Bin(round(k / bins, 4), round((k + 1) / bins, 4), count, mc, oy))
    return Reliability(tuple(out), n, brier / n if n else None, ece / n if n else None)


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@dataclass(frozen=True)
class Recalibration:
    """p' = σ(a·logit(p) + b), fitted on `count` judged outcomes."""

    a: float
    b: float
    count: int

    def apply(self, p: float) -> float:
        return round(min(0.999, max(0.001, _sigmoid(self.a * _logit(p) + self.b))), 3)

    def to_json(self) -> dict[str, float | int]:
        return {"a": round(self.a, 5), "b": round(self.b, 5), "count": self.count}

    @classmethod
    def from_json(cls, d: dict[str, float | int]) -> Recalibration:
        return cls(float(d["a"]), float(d["b"]), int(d["count"]))


def fit_recalibration(
    confidence: Sequence[float],
    label: Sequence[float],
    min_count: int = MIN_COUNT,
    prior_weight: float = 2.0,
) -> Recalibration | None:
    """Platt scaling with soft labels; None below `min_count` (the raw confidence stands)."""
    n = len(confidence)
    if n < min_count:
        return None
    xs = [_logit(c) for c in confidence]
    ys = [min(max(y, 0.0), 1.0) for y in label]
    a, b = 1.0, 0.0
    for _ in range(50):
        # Gradient and Hessian of the negative log-likelihood plus a Gaussian pull to (1, 0).
        ga, gb = prior_weight * (a - 1.0), prior_weight * b
        haa = hbb = prior_weight
        hab = 0.0
        for x, y in zip(xs, ys, strict=True):
            p = _sigmoid(a * x + b)
            r = p - y
            w = p * (1.0 - p)
            ga += r * x
            gb += r
            haa += w * x * x
            hab += w * x
            hbb += w
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-8:
            break
    return Recalibration(a, b, n)
