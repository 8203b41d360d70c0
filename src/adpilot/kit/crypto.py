"""Encryption at rest for platform credentials (Fernet, keyed from the server's secret)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"adpilot platform credentials v1"


class CredentialsUnreadable(Exception):
    """The stored credentials do not decrypt with this server's secret (it was changed)."""


def _fernet(secret_key: str) -> Fernet:
    # A dedicated subkey: the same secret also keys API-key hashes, and the two uses must not
    # share key material.
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt_json(secret_key: str, value: dict[str, Any]) -> bytes:
    return _fernet(secret_key).encrypt(json.dumps(value, separators=(",", ":")).encode())


def decrypt_json(secret_key: str, token: bytes) -> dict[str, Any]:
    try:
        value = json.loads(_fernet(secret_key).decrypt(token))
    except InvalidToken:
        raise CredentialsUnreadable("stored credentials do not decrypt with this secret") from None
    if not isinstance(value, dict):
        raise CredentialsUnreadable("stored credentials are not an object")
    return value
