"""The dashboard's proof page: the holdout report as the API gives it, and backtests started from
a form through the same service, audit and scope as the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.backtest.service import BACKTEST_KIND
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.holdout import incrementality
from adpilot.holdout.assign import period_start
from adpilot.holdout.models import HoldoutAssignment
from adpilot.kit.clock import utcnow
from adpilot.runs.models import Job
from tests.api.test_dashboard_support import form_value, sign_in
from tests.api.test_dashboard_support import run as run  # a fixture, re-exported
from tests.conftest import Api


def proof_url(boot: dict[str, Any]) -> str:
    return f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}/proof"


def backtest_jobs(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(
            session.scalar(select(func.count()).select_from(Job).where(Job.kind == BACKTEST_KIND))
            or 0
        )


def started_events(partner: Api) -> list[dict[str, Any]]:
    body = partner.get(
        "/v1/audit-log", params={"eventType": "ads.optimizer.backtest.started"}
    ).json()
    items: list[dict[str, Any]] = body["items"]
    return items


def text_of(html: str) -> str:
    """The page's words without tags, so a sentence can be matched across its markup."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


ENOUGH = incrementality.Report(
    True,
    "6 treated and 4 held-out budget holders over 21 days.",
    treated=6,
    held_out=4,
    post_days=21,
    lift=0.124,
    low=0.051,
    high=0.203,
    cpa_change=-0.087,
    cpa_low=-0.151,
    cpa_high=-0.019,
    added_conversions=41.26,
    added_low=17.84,
    added_high=62.11,
)


def test_the_holdout_report_shows_the_apis_figures_in_sentences(
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    assert partner.patch(f"/v1/layers/{layer_id}", json={"holdoutShare": 0.2}).status_code == 200
    # This period's arms as a run would have drawn them: one holder held out, two treated.
    now = utcnow()
    with transaction(session_factory) as session:
        for entity_id, held in (("cmp_a", True), ("cmp_b", False), ("cmp_c", False)):
            session.add(
                HoldoutAssignment(
                    layer_id=layer_id,
                    period_start=period_start(now.date()),
                    entity_id=entity_id,
                    entity_type="campaign",
                    held=held,
                    share=0.2,
                    assigned_at=now,
                )
            )
    # A report with enough data, for the API and the page alike: they must agree on its figures.
    monkeypatch.setattr(incrementality, "estimate", lambda units, seed=0: ENOUGH)
    api = partner.get(f"/v1/layers/{layer_id}/holdout").json()
    inc = api["incrementality"]
    assert inc["enoughData"] is True

    sign_in(client, boot["customerKey"])
    layer_page = client.get(f"/app/projects/{boot['projectId']}/layers/{layer_id}")
    assert f'href="{proof_url(boot)}"' in layer_page.text
    page = client.get(proof_url(boot))
    assert page.status_code == 200
    words = text_of(page.text)
    assert "20% of budget holders are held out" in words
    assert f"every {api['cadenceDays']} days" in words
    period = api["currentPeriod"]
    assert (len(period["heldOut"]), len(period["treated"])) == (1, 2)
    assert f"this period ({period['start']} to {period['end']}) holds out 1 and treats 2" in words
    assert 'data-enough="yes"' in page.text
    lo, hi = inc["addedConversionsCi95"]
    assert (
        f"added {inc['addedConversions']:+.1f} conversions (95% interval {lo:+.1f} to {hi:+.1f})"
        in words
    )
    lift_lo, lift_hi = inc["conversionLiftCi95Pct"]
    lift = f"{inc['conversionLiftPct']:+.1f}%"
    assert f"changed by {lift} (95% interval {lift_lo:+.1f}% to {lift_hi:+.1f}%)" in words
    cpa_lo, cpa_hi = inc["cpaChangeCi95Pct"]
    assert (
        f"CPA by {inc['cpaChangePct']:+.1f}% (95% interval {cpa_lo:+.1f}% to {cpa_hi:+.1f}%"
        in words
    )
    assert f"with {inc['treatedHolders']} treated and {inc['heldOutHolders']} held-out" in words


def test_the_holdout_report_says_when_there_is_not_enough_data_and_how_long_to_wait(
    client: TestClient, boot: dict[str, Any], partner: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer_id = boot["layers"]["meta_ads"]
    sign_in(client, boot["customerKey"])
    # Before any period has run: the API's own sentence, and the holdout said to be off.
    inc = partner.get(f"/v1/layers/{layer_id}/holdout").json()["incrementality"]
    page = client.get(proof_url(boot))
    assert 'data-enough="no"' in page.text
    assert str(escape(inc["message"])) in page.text
    assert "The holdout is off" in page.text

    too_wide = incrementality.Report(
        False,
        "Not enough data yet: the interval is ±31%; about 3 more weeks would narrow it enough.",
        treated=5,
        held_out=3,
        post_days=10,
        weeks_needed=3,
    )
    monkeypatch.setattr(incrementality, "estimate", lambda units, seed=0: too_wide)
    inc = partner.get(f"/v1/layers/{layer_id}/holdout").json()["incrementality"]
    assert inc["weeksNeeded"] == 3
    page = client.get(proof_url(boot))
    assert str(escape(inc["message"])) in page.text
    assert 'data-weeks-needed="3"' in page.text and "about 3 more weeks of data" in page.text


def test_the_form_starts_exactly_one_backtest_and_its_result_is_shown(
    run: dict[str, Any],
    client: TestClient,
    boot: dict[str, Any],
    partner: Api,
    job_runtime: Any,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=proof_url(boot))
    assert 'id="backtest-form"' in page.text and "No backtest of this layer yet." in page.text
    form = {
        "csrf": form_value(page.text, "csrf"),
        "form_key": form_value(page.text, "form_key"),
        "weeks": "6",
    }
    done = client.post(proof_url(boot).replace("/proof", "/backtest"), data=form)
    assert "Backtest started: replaying the last 6 weeks." in done.text
    # The same form sent again (a double click, a resend) starts nothing more.
    again = client.post(proof_url(boot).replace("/proof", "/backtest"), data=form)
    assert "This backtest was already started" in again.text
    assert backtest_jobs(session_factory) == 1
    events = started_events(partner)
    assert len(events) == 1 and events[0]["data"]["weeks"] == 6
    assert events[0]["actorType"] == "customer"

    backtest_id = events[0]["data"]["backtestId"]
    job_runtime.wait(backtest_id, timeout=120)
    api = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/backtests/{backtest_id}"
    ).json()
    assert api["status"] == "completed"
    shown = client.get(proof_url(boot))
    assert f'data-backtest="{backtest_id}" data-status="completed"' in shown.text
    assert str(escape(api["summary"]["sentence"])) in shown.text
    assert 'data-live="off"' in shown.text
    assert api["byWeek"], "the run's sync stored history to replay"
    for week in api["byWeek"]:
        assert f'data-week="{week["weekStart"]}"' in shown.text
    # The section that refreshes itself has a route of its own that shows the same backtests
    # without recomputing the holdout report on every poll.
    from adpilot.dashboard import proof

    def no_holdout(*args: Any) -> Any:
        raise AssertionError("the backtests section recomputed the holdout report")

    monkeypatch.setattr(proof, "holdout_report", no_holdout)
    part = client.get(proof_url(boot) + "/backtests")
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="backtests"') and "<html" not in part.text
    assert f'data-backtest="{backtest_id}" data-status="completed"' in part.text
    assert str(escape(api["summary"]["sentence"])) in part.text


def test_bad_weeks_are_refused_in_words_and_start_nothing(
    client: TestClient, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    page = sign_in(client, boot["customerKey"], next_path=proof_url(boot))
    csrf = form_value(page.text, "csrf")
    url = f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}/backtest"
    for weeks, said in (
        ("13", "Weeks: Input should be less than or equal to 12."),
        ("0", "Weeks: Input should be greater than or equal to 1."),
        ("twelve", "Weeks must be a whole number from 1 to 12."),
        ("-3", "Weeks must be a whole number from 1 to 12."),
    ):
        refused = client.post(url, data={"csrf": csrf, "form_key": f"k-{weeks}", "weeks": weeks})
        assert refused.status_code == 200, weeks
        assert said in refused.text, weeks
    assert backtest_jobs(session_factory) == 0


def test_a_read_only_key_sees_the_report_but_cannot_start_a_backtest(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        issued = auth_service.create_api_key(
            session,
            secret_key=settings.secret_key,
            organization_id=boot["organizationId"],
            scopes=["ads:read"],
            actor_type="customer",
        )
    page = sign_in(client, issued.key, next_path=proof_url(boot))
    assert 'id="holdout"' in page.text
    assert 'id="backtest-form"' not in page.text
    assert "This key may not start backtests." in page.text
    url = f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}/backtest"
    refused = client.post(
        url, data={"csrf": form_value(page.text, "csrf"), "form_key": "k", "weeks": "12"}
    )
    assert "lacks the ads:write:optimizer_trigger scope" in refused.text
    # Without the session's CSRF token nothing is started either.
    forged = client.post(url, data={"csrf": "nope", "weeks": "12"})
    assert forged.status_code == 403
    assert backtest_jobs(session_factory) == 0
