"""Held and denied reasons read as sentences on the dashboard."""

from __future__ import annotations

from adpilot.dashboard.reasons import sentence


def test_a_cooldown_reads_as_a_sentence_with_words_for_actions_and_hours() -> None:
    assert sentence("cooldown: pause_adset queued 0h ago (72h structural cooldown)") == (
        "Held during a cool-down after a recent change: pause ad set queued less than an hour "
        "ago (72 hours structural cooldown)."
    )
    assert "5 hours ago" in (
        sentence("cooldown: budget changed 5h ago (24h budget cooldown)") or ""
    )


def test_low_confidence_names_both_percentages() -> None:
    assert sentence("low_confidence: 0.55 < 0.70") == (
        "Held because adpilot is not confident enough: 55% confident, at least 70% required."
    )


def test_denials_say_why_in_words() -> None:
    assert (
        sentence("kill_switch_active") == "Denied because the kill switch is on: nothing is sent."
    )
    assert sentence("authority_axis_off") == (
        "Denied because authority for this kind of change is off."
    )


def test_an_unknown_reason_is_shown_as_a_sentence_too() -> None:
    assert sentence("the platform said no") == "The platform said no."
    assert sentence(None) is None
