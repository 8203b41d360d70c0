"""The dashboard in a real browser: sign in, every page at desktop and phone widths, deciding,
and the customer's controls, with the results checked over the API.

Fixtures that wait on durable jobs (`run`) come before `browser` in each signature: Playwright's
synchronous API runs an event loop in the test's thread, where the job engine's waits refuse."""

from __future__ import annotations

from typing import Any

from tests.api.test_dashboard_support import queued_ids
from tests.api.test_dashboard_support import run as run  # a fixture, re-exported
from tests.browser.conftest import DESKTOP, PHONE, Browser
from tests.conftest import Api


def sign_in(browser: Browser, key: str) -> None:
    browser.goto("/app")
    browser.page.fill("#key", key)
    browser.page.click("button:has-text('Sign in')")
    browser.page.wait_for_load_state("load")


def test_a_customer_signs_in_and_sees_the_project(browser: Browser, boot: dict[str, Any]) -> None:
    browser.goto("/app")
    assert browser.page.locator("h1").inner_text() == "Sign in"
    browser.screenshot("signin")
    sign_in(browser, boot["customerKey"])
    assert browser.page.url.endswith(f"/app/projects/{boot['projectId']}")
    assert browser.page.locator(".layer").count() == 3
    cookies = {c["name"]: c for c in browser.page.context.cookies()}
    assert cookies["adpilot_session"]["httpOnly"]
    assert boot["customerKey"] not in cookies["adpilot_session"]["value"]


def test_every_page_fits_a_desktop_and_a_phone(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    project = f"/app/projects/{boot['projectId']}"
    layer = f"{project}/layers/{boot['layers']['meta_ads']}"
    campaign = next(c for c in run["changes"] if c["entityType"] in ("campaign", "adset", "ad"))
    campaigns = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"platform": "meta_ads"}
    ).json()["items"]
    assert campaign
    pending_id = next(c["pendingId"] for c in run["changes"] if c["outcome"] == "queued")
    pages = {
        "project": project,
        "layer": layer,
        "pending": f"{layer}/pending",
        "pending-row": f"{layer}/pending/{pending_id}",
        "run": f"{project}/runs/{run['runId']}",
        "campaign": f"{project}/campaigns/{campaigns[0]['campaignId']}",
    }
    sign_in(browser, boot["customerKey"])
    for size in (DESKTOP, PHONE):
        browser.width(size)
        for name, path in pages.items():
            response = browser.goto(path)
            assert response.status == 200, name
            assert browser.page_overflow() <= 0, f"{name} scrolls sideways at {size['width']} px"
            browser.screenshot(name)
    # On the phone the campaign's charts span the card and their labels stay readable.
    browser.goto(pages["campaign"])
    chart = browser.page.locator("svg.chart-narrow[data-series=spend]")
    box = chart.bounding_box()
    assert box is not None and box["width"] >= 320 and box["height"] >= 200
    label = chart.locator("text.tick").first.bounding_box()
    assert label is not None and label["height"] >= 11
    assert not browser.page.locator("svg.chart-wide[data-series=spend]").is_visible()


def pending_path(boot: dict[str, Any]) -> str:
    return f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}/pending"


def row_status(partner: Api, boot: dict[str, Any], pending_id: str) -> str:
    path = f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pending_id}"
    status: str = partner.get(path).json()["status"]
    return status


def expect_flash(browser: Browser, text: str) -> None:
    """Wait for the one-time message the page shows after a form (it replaces the last one)."""
    from playwright.sync_api import expect

    expect(browser.page.locator(".flash.ok, .flash.error").first).to_contain_text(text)


def test_approve_and_reject_from_the_queue(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    sign_in(browser, boot["customerKey"])
    browser.goto(pending_path(boot))
    first, second = queued_ids(run)[:2]
    approve = browser.page.locator(f"article[id='{first}'] form[action$='/approve']")
    approve.locator("input[name=comment]").fill("from the browser")
    approve.locator("button").click()
    expect_flash(browser, "Approved. The change is being sent to Meta.")
    assert row_status(partner, boot, first) in ("approved", "dispatched")

    reject = browser.page.locator(f"article[id='{second}'] form[action$='/reject']")
    reject.locator("input[name=reason]").fill("not now")
    reject.locator("button").click()
    expect_flash(browser, "Rejected with the reason")
    assert row_status(partner, boot, second) == "rejected"


def test_bulk_approve_of_ticked_rows(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    sign_in(browser, boot["customerKey"])
    browser.width(PHONE)
    browser.goto(pending_path(boot))
    chosen = queued_ids(run)[:3]
    for pending_id in chosen:
        browser.page.check(f"input[name=ids][value='{pending_id}']")
    browser.page.fill("#bulk-form input[name=text]", "batch")
    browser.page.click("#bulk-form button[value=approve]")
    expect_flash(browser, "Approved 3 actions.")
    assert browser.page_overflow() <= 0
    for pending_id in chosen:
        assert row_status(partner, boot, pending_id) in ("approved", "dispatched")
    untouched = queued_ids(run)[3:]
    assert all(row_status(partner, boot, p) == "pending" for p in untouched)


def test_changing_the_defaults_and_pinning_a_campaign(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    project = f"/v1/projects/{boot['projectId']}/ads/meta"
    sign_in(browser, boot["customerKey"])
    browser.goto(f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}")
    browser.page.select_option("#defaults-form select[name=tactical]", "auto")
    browser.page.click("#defaults-form button")
    expect_flash(browser, "Defaults saved")
    assert partner.get(f"{project}/defaults").json()["defaults"]["tactical"] == "auto"

    campaign_id = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/campaigns", params={"platform": "meta_ads"}
    ).json()["items"][0]["campaignId"]
    browser.goto(f"/app/projects/{boot['projectId']}/campaigns/{campaign_id}")
    browser.page.select_option("#campaign-authority-form select[name=structural]", "off")
    browser.page.click("#campaign-authority-form button")
    expect_flash(browser, "Pinned to this campaign")
    authority = partner.get(f"{project}/campaigns/{campaign_id}/authority").json()
    assert authority["source"] == "per_campaign"
    assert authority["authority"] == {"creative": "draft", "tactical": "auto", "structural": "off"}
    browser.page.click("#campaign-unpin-form button")
    expect_flash(browser, "Unpinned")
    assert partner.get(f"{project}/campaigns/{campaign_id}/authority").json()["source"] == (
        "layer_defaults"
    )


def test_the_kill_switch_asks_first_and_says_what_it_stops(
    boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    defaults = f"/v1/projects/{boot['projectId']}/ads/meta/defaults"
    sign_in(browser, boot["customerKey"])
    browser.goto(f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}")
    confirm = browser.page.locator("#kill-switch button")
    assert not confirm.is_visible()
    browser.page.click("#kill-switch summary")
    assert "This stops every write adpilot makes to Meta" in browser.page.inner_text("#kill-switch")
    assert partner.get(defaults).json()["killSwitchActive"] is False
    confirm.click()
    expect_flash(browser, "Kill switch on")
    assert partner.get(defaults).json()["killSwitchActive"] is True
    assert "Kill switch on" in browser.page.inner_text("#authority")
    browser.page.click("#kill-switch-form button")
    expect_flash(browser, "Kill switch off")
    assert partner.get(defaults).json()["killSwitchActive"] is False


def test_the_run_page_follows_a_decision_taken_elsewhere(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    sign_in(browser, boot["customerKey"])
    browser.goto(f"/app/projects/{boot['projectId']}/runs/{run['runId']}")
    pending_id = queued_ids(run)[0]
    item = f"li[data-pending='{pending_id}']"
    assert browser.page.get_attribute(item, "data-state") == "pending"
    partner.post(
        f"/v1/projects/{boot['projectId']}/ads/meta/pending/{pending_id}/reject",
        json={"reason": "decided in another tab"},
    )
    browser.page.wait_for_selector(f"{item}[data-state='rejected']", timeout=30_000)
    assert "Rejected" in browser.page.inner_text(item)


def test_a_backtest_started_from_the_proof_page_shows_its_result_on_a_phone(
    run: dict[str, Any], boot: dict[str, Any], partner: Api, browser: Browser
) -> None:
    from playwright.sync_api import expect

    sign_in(browser, boot["customerKey"])
    browser.width(PHONE)
    layer = f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}"
    browser.goto(layer)
    browser.page.click("a.pill:has-text('Proof')")
    expect(browser.page.locator("#holdout")).to_contain_text("Not enough data yet")
    browser.page.fill("#backtest-form input[name=weeks]", "8")
    browser.page.click("#backtest-form button")
    expect_flash(browser, "Backtest started: replaying the last 8 weeks.")
    # The section polls while the backtest replays and stops once its result is in.
    done = browser.page.locator("section.backtest[data-status='completed']").first
    expect(done).to_contain_text("Over the last 8 weeks adpilot would have made", timeout=90_000)
    backtest_id = done.get_attribute("data-backtest")
    api = partner.get(
        f"/v1/projects/{boot['projectId']}/ads/optimizer/backtests/{backtest_id}"
    ).json()
    assert api["summary"]["sentence"] in done.inner_text()
    assert done.locator("tbody tr").count() == len(api["byWeek"]) > 0
    expect(browser.page.locator("#backtests")).to_have_attribute("data-live", "off")
    # The weekly table scrolls inside its card; the page itself never scrolls sideways.
    assert browser.page_overflow() <= 0
    browser.screenshot("proof")
    assert browser.errors == []
