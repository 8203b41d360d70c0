"""Attribution lag: how many of a day's conversions a report shows when the day is N days old."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from adpilot.sim.profiles import LAG_AGES


def reported_share(age: npt.ArrayLike, shares: Sequence[float]) -> npt.NDArray[np.float64]:
    """Share of a day's conversions reported at `age` days (0 = the same day)."""
    ages = np.asarray(age, dtype=np.float64)
    share = np.interp(ages, np.asarray(LAG_AGES, dtype=np.float64), np.asarray(shares))
    return np.where(ages < 0, 0.0, share)


def thin(
    conversions: npt.ArrayLike, share: npt.ArrayLike, u: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """Reported conversions: floor(n·share + u) with a fixed uniform u per cell.

    With u fixed per (entity, day) the count never shrinks as the day ages (share only grows),
    equals the truth once share reaches 1, and is right on average at every age.
    """
    n = np.asarray(conversions, dtype=np.float64)
    out = np.floor(n * np.asarray(share, dtype=np.float64) + np.asarray(u, dtype=np.float64))
    return np.minimum(out, n).astype(np.int64)
