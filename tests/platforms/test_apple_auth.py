"""Apple OAuth against the fake token endpoint: the ES256 client secret, token reuse, refresh
on 401, and which failures mean an expired token and which an invalid one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adpilot.fakes import apple as fake_apple
from adpilot.fakes.server import RunningFake
from adpilot.fakes.world import FakeWorld
from adpilot.platforms.apple.auth import AppleCredentials, client_secret
from adpilot.platforms.base import PlatformAuthError
from tests.platforms.apple_support import adapter, calls, mark, new_account_id, shared_fake, window


@pytest.fixture()
def fake(fake_platforms: dict[str, RunningFake]) -> Iterator[RunningFake]:
    yield from shared_fake(fake_platforms)


@pytest.fixture()
def world(fake: RunningFake) -> FakeWorld:
    return fake.world


def token_calls(world: FakeWorld, start: int) -> int:
    return len(calls(world, start, lambda c: c.path == "/auth/oauth2/token"))


def test_the_client_secret_is_an_es256_jwt_apple_accepts(fake: RunningFake) -> None:
    creds = fake.credentials_for(new_account_id())
    parsed = AppleCredentials.from_camel(creds)
    now = time.time()
    secret = client_secret(parsed, now)
    header = jwt.get_unverified_header(secret)
    assert header == {"alg": "ES256", "kid": creds["keyId"], "typ": "JWT"}
    public = parsed.private_key().public_key()
    claims = jwt.decode(secret, public, algorithms=["ES256"], audience="https://appleid.apple.com")
    assert claims["iss"] == creds["teamId"] and claims["sub"] == creds["clientId"]
    assert 0 < claims["exp"] - claims["iat"] <= 180 * 24 * 3600
    # Apple's curl sends the parameters in the query string: the fake takes that too.
    answer = httpx.post(
        f"{fake.base_url}/auth/oauth2/token",
        params={
            "grant_type": "client_credentials",
            "client_id": creds["clientId"],
            "client_secret": secret,
            "scope": "searchadsorg",
        },
    )
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 3600 and answer.json()["token_type"] == "Bearer"


def test_a_secret_signed_by_another_key_is_refused(fake: RunningFake) -> None:
    account = new_account_id()
    creds = fake.credentials_for(account)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    forged = {**creds, "privateKeyPem": other.decode()}
    with pytest.raises(PlatformAuthError) as refused:
        adapter(fake, account, creds=forged).validate()
    assert refused.value.token_status == "invalid"
    assert refused.value.platform_code == "invalid_client"


def test_tokens_are_reused_across_adapters_and_refreshed_once_on_401(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    creds = fake.credentials_for(account)
    start = mark(world)
    adapter(fake, account, creds=creds).validate()
    adapter(fake, account, creds=creds).validate()
    assert token_calls(world, start) == 1
    # The hour is up (or Apple dropped the token early): one 401, a new token, the same read.
    fake_apple.expire_tokens(world, creds["clientId"])
    start = mark(world)
    assert adapter(fake, account, creds=creds).validate().external_id == account
    assert [c.status for c in calls(world, start)] == [401, 200, 200]
    assert token_calls(world, start) == 1


def test_a_revoked_key_is_an_invalid_token(fake: RunningFake, world: FakeWorld) -> None:
    account = new_account_id()
    creds = fake.credentials_for(account)
    platform = adapter(fake, account, creds=creds)
    platform.validate()
    fake_apple.revoke_client(world, creds["clientId"])
    with pytest.raises(PlatformAuthError) as failed:
        platform.fetch_snapshot(*window(3))
    assert failed.value.token_status == "invalid"
    assert failed.value.platform_code == "invalid_client"


def test_a_token_refused_even_after_a_refresh_is_expired(
    fake: RunningFake, world: FakeWorld
) -> None:
    account = new_account_id()
    platform = adapter(fake, account)
    platform.validate()
    world.inject("unauthorized", path=f"/v1/ad-accounts/{account}", count=2)
    with pytest.raises(PlatformAuthError) as failed:
        platform.validate()
    assert failed.value.token_status == "expired"
    assert failed.value.platform_code == "unauthorized"


def test_credentials_for_another_account_are_refused(fake: RunningFake) -> None:
    mine, theirs = new_account_id(), new_account_id()
    creds = fake.credentials_for(mine)
    with pytest.raises(PlatformAuthError) as refused:
        adapter(fake, theirs, creds=creds).validate()
    assert refused.value.platform_code == "forbidden"
    assert refused.value.token_status == "invalid"
