"""Credentials at rest: encrypted with a key derived from the server secret."""

from __future__ import annotations

import pytest

from adpilot.kit.crypto import CredentialsUnreadable, decrypt_json, encrypt_json


def test_credentials_round_trip_and_never_appear_in_clear() -> None:
    secret = {"accessToken": "EAAB-very-secret-token", "appSecret": "s3"}
    stored = encrypt_json("server-secret", secret)
    assert b"very-secret" not in stored
    assert decrypt_json("server-secret", stored) == secret
    # Fresh randomness each time: equal credentials do not give equal ciphertexts.
    assert encrypt_json("server-secret", secret) != stored


def test_another_secret_cannot_read_them() -> None:
    stored = encrypt_json("server-secret", {"accessToken": "x"})
    with pytest.raises(CredentialsUnreadable):
        decrypt_json("another-secret", stored)
    with pytest.raises(CredentialsUnreadable):
        decrypt_json("server-secret", stored[:-4] + b"AAAA")
