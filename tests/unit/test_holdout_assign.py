"""The holdout draw: stable for a holder within a period, fresh in the next, near the share."""

from __future__ import annotations

import datetime as dt

from adpilot.holdout.assign import CADENCE_DAYS, Holder, assign, period_start

HOLDERS = [Holder("adset", f"adg_{i}") for i in range(2000)]


def test_a_holder_keeps_its_arm_all_period_and_is_drawn_again_in_the_next() -> None:
    start = period_start(dt.date(2026, 12, 7))
    same = [assign(HOLDERS, "lyr_1", 0.15, start + dt.timedelta(days=d)) for d in (0, 13, 27)]
    assert same[0] == same[1] == same[2]
    nxt = assign(HOLDERS, "lyr_1", 0.15, start + dt.timedelta(days=CADENCE_DAYS))
    assert nxt != same[0]


def test_the_share_of_held_out_holders_is_close_to_the_setting_and_zero_means_off() -> None:
    held = sum(assign(HOLDERS, "lyr_1", 0.15, dt.date(2026, 12, 7)).values())
    assert 0.12 * len(HOLDERS) < held < 0.18 * len(HOLDERS)
    assert not any(assign(HOLDERS, "lyr_1", 0.0, dt.date(2026, 12, 7)).values())
