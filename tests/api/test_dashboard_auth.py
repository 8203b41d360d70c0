"""Dashboard sign-in, sign-out, tenancy and CSRF (SPEC §10, §2.1 tenancy)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from adpilot.auth import service as auth_service
from adpilot.bootstrap import bootstrap_org
from adpilot.config import Settings
from adpilot.db import transaction
from tests.api.test_dashboard_support import form_value, sign_in


def test_the_sign_in_form_is_shown_without_a_session(client: TestClient) -> None:
    page = client.get("/app")
    assert page.status_code == 200
    assert 'name="key"' in page.text and 'action="/app/sign-in"' in page.text
    assert "Content-Security-Policy" in page.headers


def test_a_customer_key_signs_in_to_its_project(client: TestClient, boot: dict[str, Any]) -> None:
    form = client.get("/app")
    token = form_value(form.text, "signin_token")
    response = client.post(
        "/app/sign-in",
        data={"signin_token": token, "key": boot["customerKey"], "next": "/app"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "adpilot_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/app" in cookie
    page = client.get("/app")
    assert page.status_code == 200
    assert str(page.url).endswith(f"/app/projects/{boot['projectId']}")
    for platform in ("Meta", "TikTok", "Apple Ads"):
        assert platform in page.text
    for layer_id in boot["layers"].values():
        assert f"/layers/{layer_id}" in page.text


def test_a_partner_key_signs_in_too(client: TestClient, boot: dict[str, Any]) -> None:
    page = sign_in(client, boot["partnerKey"])
    assert page.status_code == 200
    assert str(page.url).endswith(f"/app/projects/{boot['projectId']}")
    assert "partner key" in page.text


def test_a_bad_key_is_refused_with_a_message(client: TestClient, boot: dict[str, Any]) -> None:
    page = sign_in(client, "adp_live_nope")
    assert page.status_code == 401
    assert "malformed" in page.text
    assert "adpilot_session" not in client.cookies
    secret = "x" * 43
    unknown = sign_in(client, f"adp_live_{'a' * 16}_{secret}")
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.text


def test_a_killed_key_is_sent_back_to_sign_in(
    client: TestClient, boot: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    assert sign_in(client, boot["customerKey"]).status_code == 200
    # Key format adp_<env>_<public id>_<secret>; the key row's id is key_<public id>.
    key_id = "key_" + boot["customerKey"].split("_")[2]
    with transaction(session_factory) as session:
        auth_service.kill_key(session, key_id)
    page = client.get(f"/app/projects/{boot['projectId']}")
    assert page.status_code == 401
    assert "killed" in page.text and 'name="key"' in page.text
    assert "adpilot_session" not in client.cookies
    again = sign_in(client, boot["customerKey"])
    assert again.status_code == 401 and "killed" in again.text


def test_a_sign_in_post_without_the_form_token_is_refused(
    client: TestClient, boot: dict[str, Any]
) -> None:
    response = client.post("/app/sign-in", data={"key": boot["customerKey"]})
    assert response.status_code == 403
    assert "adpilot_session" not in client.cookies


def test_next_never_leaves_the_dashboard(client: TestClient, boot: dict[str, Any]) -> None:
    form = client.get("/app")
    token = form_value(form.text, "signin_token")
    response = client.post(
        "/app/sign-in",
        data={"signin_token": token, "key": boot["customerKey"], "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/app"


def test_a_page_without_a_session_asks_to_sign_in_and_returns_there(
    client: TestClient, boot: dict[str, Any]
) -> None:
    target = f"/app/projects/{boot['projectId']}/layers/{boot['layers']['meta_ads']}"
    page = client.get(target)
    assert page.status_code == 401 and 'name="key"' in page.text
    assert form_value(page.text, "next") == target
    landed = sign_in(client, boot["customerKey"], next_path=target)
    assert landed.status_code == 200 and str(landed.url).endswith(target)


def test_another_orgs_project_is_not_found(
    client: TestClient,
    boot: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    other = bootstrap_org(settings, session_factory, name="Other org", seed=20261122)
    sign_in(client, boot["customerKey"])
    base = f"/app/projects/{other['projectId']}"
    assert client.get(base).status_code == 404
    layer = other["layers"]["meta_ads"]
    assert client.get(f"{base}/layers/{layer}").status_code == 404
    assert client.get(f"{base}/layers/{layer}/pending").status_code == 404
    # Our project with their layer is not found either.
    mine = f"/app/projects/{boot['projectId']}"
    assert client.get(f"{mine}/layers/{layer}").status_code == 404
    assert client.get(mine).status_code == 200


def test_sign_out_needs_the_token_and_clears_the_cookie(
    client: TestClient, boot: dict[str, Any]
) -> None:
    page = sign_in(client, boot["customerKey"])
    refused = client.post("/app/sign-out", data={})
    assert refused.status_code == 403
    assert "adpilot_session" in client.cookies
    out = client.post("/app/sign-out", data={"csrf": form_value(page.text, "csrf")})
    assert out.status_code == 200 and 'name="key"' in out.text
    assert "adpilot_session" not in client.cookies
    assert client.get(f"/app/projects/{boot['projectId']}").status_code == 401


def test_static_files_are_served_locally(client: TestClient) -> None:
    css = client.get("/app/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/app/static/htmx.min.js").status_code == 200
    assert client.get("/app/static/..%2Froutes.py").status_code == 404


def _session_cookie(response_cookie_header: str) -> str:
    value = response_cookie_header.split("adpilot_session=", 1)[1].split(";", 1)[0]
    return value


def test_the_session_cookie_holds_no_api_key(client: TestClient, boot: dict[str, Any]) -> None:
    sign_in(client, boot["customerKey"])
    token = client.cookies["adpilot_session"]
    assert token and boot["customerKey"] not in token
    # adp_<env>_<16-char public id>_<secret>; the secret itself may contain "_".
    _adp, _env, public_id, secret = boot["customerKey"].split("_", 3)
    assert secret not in token and public_id not in token and "adp_" not in token


def test_sign_out_revokes_the_session_even_for_a_copied_cookie(
    client: TestClient, boot: dict[str, Any]
) -> None:
    page = sign_in(client, boot["customerKey"])
    copied = client.cookies["adpilot_session"]
    client.post("/app/sign-out", data={"csrf": form_value(page.text, "csrf")})
    client.cookies.set("adpilot_session", copied, path="/app")
    again = client.get(f"/app/projects/{boot['projectId']}")
    assert again.status_code == 401 and "signed out" in again.text


def test_an_idle_session_expires_and_so_does_an_old_one(
    client: TestClient, boot: dict[str, Any], settings: Settings
) -> None:
    import datetime as dt

    import time_machine

    project_page = f"/app/projects/{boot['projectId']}"
    now = dt.datetime.now(dt.UTC)
    idle = dt.timedelta(minutes=settings.dashboard_idle_minutes)
    with time_machine.travel(now, tick=False) as traveller:
        sign_in(client, boot["customerKey"])
        # Viewing pages keeps it alive past the idle limit…
        for _ in range(3):
            traveller.shift(idle - dt.timedelta(minutes=5))
            assert client.get(project_page).status_code == 200
        # …but not past the idle limit without a page view.
        traveller.shift(idle + dt.timedelta(minutes=1))
        expired = client.get(project_page)
        assert expired.status_code == 401 and "expired" in expired.text

    with time_machine.travel(now, tick=False) as traveller:
        sign_in(client, boot["customerKey"])
        token = client.cookies["adpilot_session"]
        absolute = dt.timedelta(hours=settings.dashboard_session_hours)
        steps = int(absolute / (idle / 2))
        for _ in range(steps - 1):
            traveller.shift(idle / 2)
            assert client.get(project_page).status_code == 200
        traveller.shift(idle)
        # The browser drops the cookie at its Max-Age; the server refuses a kept copy as well.
        client.cookies.set("adpilot_session", token, path="/app")
        old = client.get(project_page)
        assert old.status_code == 401 and "expired" in old.text


def test_cookies_are_secure_over_https_and_behind_a_trusted_proxy(
    client: TestClient, boot: dict[str, Any], settings: Settings
) -> None:
    def sign_in_cookie(base: str, headers: dict[str, str]) -> str:
        form = client.get(f"{base}/app", headers=headers)
        token = form_value(form.text, "signin_token")
        # Sent by hand: a client on plain http would rightly keep a Secure cookie to itself.
        client.cookies.clear()
        response = client.post(
            f"{base}/app/sign-in",
            data={"signin_token": token, "key": boot["customerKey"], "next": "/app"},
            headers={**headers, "Cookie": f"adpilot_signin={token}"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        client.cookies.clear()
        return response.headers["set-cookie"].lower()

    assert "; secure" in sign_in_cookie("https://testserver", {})
    proxied = {"X-Forwarded-Proto": "https"}
    # An untrusted X-Forwarded-Proto is anyone's to send: not believed by default.
    assert "; secure" not in sign_in_cookie("http://testserver", proxied)
    settings.dashboard_trust_proxy = True
    try:
        assert "; secure" in sign_in_cookie("http://testserver", proxied)
    finally:
        settings.dashboard_trust_proxy = False


def test_signing_in_again_ends_the_browsers_previous_session(
    client: TestClient, boot: dict[str, Any]
) -> None:
    sign_in(client, boot["customerKey"])
    first = client.cookies["adpilot_session"]
    # Another tab shows the sign-in form; the browser still sends the first session's cookie.
    client.cookies.clear()
    token = form_value(client.get("/app").text, "signin_token")
    signin = client.cookies["adpilot_signin"]
    client.cookies.clear()
    answer = client.post(
        "/app/sign-in",
        data={"signin_token": token, "key": boot["partnerKey"]},
        headers={"Cookie": f"adpilot_session={first}; adpilot_signin={signin}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert first not in answer.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set("adpilot_session", first, path="/app")
    assert client.get(f"/app/projects/{boot['projectId']}").status_code == 401
