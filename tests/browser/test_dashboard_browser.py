"""The dashboard in a real browser: sign in, every page at desktop and phone widths, deciding,
and the customer's controls, with the results checked over the API."""

from __future__ import annotations

from typing import Any

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
