"""Webhook signing secrets and signature headers (Standard Webhooks plus `X-Layers-Signature`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the form `standardwebhooks.Webhook` accepts as is."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_bytes(secret: str) -> bytes:
    """The HMAC key both signature schemes use: the base64-decoded part after `whsec_`."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Tolerate unpadded secrets, as the standardwebhooks library does.
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a signing secret must be whsec_ followed by base64") from exc


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` entry of the Standard Webhooks `webhook-signature` header."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def layers_signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<t>.<body>`, as the reference API's `X-Layers-Signature` carries."""
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(
    secrets_in_use: Sequence[str], *, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Headers for one send. During a rotation overlap several secrets are in use: every header
    then carries one signature per secret, so receivers holding either secret verify the message
    (both header formats define several signatures as valid)."""
    if not secrets_in_use:
        raise ValueError("at least one signing secret is required")
    keys = [key_bytes(secret) for secret in secrets_in_use]
    standard = " ".join(standard_signature(k, message_id, timestamp, body) for k in keys)
    layers = ",".join(f"v1={layers_signature(k, timestamp, body)}" for k in keys)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard,
        "X-Layers-Signature": f"t={timestamp},{layers}",
        "X-Layers-Event-Id": message_id,
    }
