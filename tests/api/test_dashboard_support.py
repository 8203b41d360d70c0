"""Shared steps for the dashboard tests (no tests here): sign in through the form, read tokens."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient


def form_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field on the page"
    return found.group(1)


def sign_in(client: TestClient, key: str, next_path: str = "/app") -> httpx.Response:
    form = client.get("/app")
    token = form_value(form.text, "signin_token")
    return client.post("/app/sign-in", data={"signin_token": token, "key": key, "next": next_path})
