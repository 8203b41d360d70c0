"""Receiver URL rules (SPEC §9): https only, loopback when embedded, no private targets when
distributed (checked on the service, with the settings a distributed deployment has)."""

from __future__ import annotations

import pytest

from adpilot import errors
from adpilot.config import Settings
from adpilot.webhooks import delivery, service

EMBEDDED = Settings(mode="embedded")
DISTRIBUTED = Settings(mode="distributed")
DISTRIBUTED_LOOPBACK = Settings(mode="distributed", webhooks_allow_loopback=True)
EMBEDDED_NO_LOOPBACK = Settings(mode="embedded", webhooks_allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/adpilot",
        "http://localhost:8080/hook",
        "http://127.0.0.1:9999/hook",
        "https://127.0.0.1/hook",
    ],
)
def test_embedded_accepts_https_and_loopback_http(url: str) -> None:
    assert service.check_url(url, EMBEDDED) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/hook", "must use https"),
        ("ftp://hooks.example.com/hook", "https"),
        ("hooks.example.com/hook", "https"),
        ("https:///nohost", "https"),
        ("https://exa mple.com/", "invalid host"),
        ("https://example.com:99999/", "port"),
        ("https://example.com/" + "a" * 2000, "at most"),
    ],
)
def test_bad_urls_are_refused_naming_the_url_field(url: str, problem: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        service.check_url(url, EMBEDDED)
    assert caught.value.status == 422
    (field,) = (caught.value.details or {})["fields"]
    assert field["field"] == "url"
    assert problem in field["problem"]


def test_loopback_http_needs_loopback_to_be_allowed() -> None:
    with pytest.raises(errors.ApiError):
        service.check_url("http://127.0.0.1:9999/hook", EMBEDDED_NO_LOOPBACK)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",  # a name that resolves to loopback is refused too
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://2130706433/hook",  # 127.0.0.1 written as one number
        "http://127.0.0.1:9999/hook",
    ],
)
def test_distributed_mode_refuses_private_and_loopback_targets(url: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        service.check_url(url, DISTRIBUTED)
    assert caught.value.status == 422
    assert caught.value.details is not None
    assert caught.value.details["fields"][0]["field"] == "url"


def test_distributed_mode_accepts_public_addresses_and_pins_the_checked_one() -> None:
    destination = delivery.vet("https://93.184.216.34/hook", DISTRIBUTED)
    assert destination.addresses == ("93.184.216.34",)


def test_distributed_mode_with_loopback_allowed_still_refuses_private_networks() -> None:
    pinned = delivery.vet("http://127.0.0.1:9999/hook", DISTRIBUTED_LOOPBACK)
    assert pinned.addresses == ("127.0.0.1",)
    with pytest.raises(delivery.DestinationRefused):
        delivery.vet("https://10.0.0.8/hook", DISTRIBUTED_LOOPBACK)
