"""Deterministic randomness: per-purpose generators and a counter-based uniform hash."""

from __future__ import annotations

import random
import zlib

import numpy as np
import numpy.typing as npt

_MASK = (1 << 64) - 1

# Streams keep the draws of different purposes apart, so adding draws to one never shifts another.
STREAM_DAY = 1
STREAM_LEARN = 2
STREAM_AD = 3
STREAM_IDS = 4
STREAM_BUILD = 5

# Tags of the hash-uniforms used to thin conversions for attribution lag.
TAG_AD_LAG = 11
TAG_COUNTRY_LAG = 12
TAG_HOUR_LAG = 13


def generator(seed: int, *keys: int) -> np.random.Generator:
    """A generator fixed by (seed, keys): the same keys always give the same draws."""
    return np.random.default_rng(np.random.SeedSequence([seed & _MASK, *(k & _MASK for k in keys)]))


def py_random(seed: int, *keys: int) -> random.Random:
    """A fast scalar generator fixed by (seed, keys), for per-row draws in Python loops."""
    words = np.random.SeedSequence([seed & _MASK, *(k & _MASK for k in keys)]).generate_state(2)
    return random.Random(int(words[0]) << 32 | int(words[1]))


def text_key(text: str) -> int:
    return zlib.crc32(text.encode())


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_uniform(
    seed: int, tag: int, a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike = 0
) -> npt.NDArray[np.float64]:
    """Uniforms in [0, 1) that depend only on (seed, tag, a, b, c), element-wise and broadcast.

    Used where a value must stay fixed no matter when or how often it is computed (e.g. which of a
    day's conversions are already reported), without storing it.
    """
    base = np.uint64(((seed & _MASK) * 0x2545F4914F6CDD1D + tag * 0x9E3779B97F4A7C15) & _MASK)
    ua = np.asarray(a, dtype=np.int64).astype(np.uint64)
    ub = np.asarray(b, dtype=np.int64).astype(np.uint64)
    uc = np.asarray(c, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = _splitmix(np.broadcast_to(base, np.broadcast_shapes(ua.shape, ub.shape, uc.shape)))
        x = _splitmix(x ^ ua)
        x = _splitmix(x ^ ub)
        x = _splitmix(x ^ uc)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
