"""Signing secrets and signature headers: receivers verify them with standard tools."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from adpilot.webhooks import signing

BODY = json.dumps({"id": "evt_1", "type": "test.ping", "createdAt": "x", "data": {}}).encode()


def _layers_v1(header: str) -> tuple[int, list[str]]:
    parts = [p.split("=", 1) for p in header.split(",")]
    timestamps = [int(v) for k, v in parts if k == "t"]
    return timestamps[0], [v for k, v in parts if k == "v1"]


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != signing.new_secret()


def test_headers_verify_with_standardwebhooks_and_the_layers_signature() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.signature_headers([secret], message_id="evt_1", timestamp=now, body=BODY)

    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert headers["webhook-id"] == headers["X-Layers-Event-Id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(now)

    t, v1 = _layers_v1(headers["X-Layers-Signature"])
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert t == now and v1 == [expected]


def test_a_tampered_body_or_another_secret_does_not_verify() -> None:
    secret = signing.new_secret()
    headers = signing.signature_headers(
        [secret], message_id="evt_1", timestamp=int(time.time()), body=BODY
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify_both_formats() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    headers = signing.signature_headers(
        [new, old], message_id="evt_2", timestamp=int(time.time()), body=BODY
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)
        t, v1 = _layers_v1(headers["X-Layers-Signature"])
        key = base64.b64decode(secret.removeprefix("whsec_"))
        assert hmac.new(key, f"{t}.".encode() + BODY, hashlib.sha256).hexdigest() in v1


def test_key_bytes_accepts_unpadded_secrets_and_refuses_garbage() -> None:
    raw = b"k" * 32
    unpadded = "whsec_" + base64.b64encode(raw).decode().rstrip("=")
    assert signing.key_bytes(unpadded) == raw
    with pytest.raises(ValueError):
        signing.key_bytes("whsec_not base64!")
