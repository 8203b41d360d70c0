"""Bounded input: bodies past the limit are refused with 413 before they are read, the key is
checked before any body is, errors quote only a prefix of what was sent, and webhook URLs never
carry credentials or point at metadata services."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from adpilot import errors
from adpilot.app import create_app
from adpilot.config import Settings
from adpilot.deps import AppContext
from adpilot.webhooks import service as webhooks
from tests.conftest import Api

CHUNK = 64 * 1024
HUGE = 200 * 1024 * 1024


@contextmanager
def serving(ctx: AppContext) -> Iterator[int]:
    """The real API over loopback HTTP (uvicorn, as `adpilot serve` runs it); yields the port."""
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def stream_until_answered(port: int, head: str, *, chunked: bool) -> tuple[int, int, bytes]:
    """Send `head`, then body chunks for as long as the server takes them without answering
    (at most HUGE bytes). Returns (HTTP status, body bytes the server took in, answer body)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHUNK)
    sock.sendall(head.encode())
    chunk = b"x" * CHUNK
    piece = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    sent, offset = 0, 0
    sock.setblocking(False)
    answer = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        readable, writable, _ = select.select([sock], [sock] if sent < HUGE else [], [], 0.5)
        if readable:
            break
        if writable:
            try:
                wrote = sock.send(piece[offset:])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            sent, offset = sent + wrote, (offset + wrote) % len(piece)
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1])
    return status, sent, answer.split(b"\r\n\r\n", 1)[1]


def _expected_length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(answer)


def _head(path: str, key: str | None, *, length: int | None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_huge_body_without_a_key_is_refused_before_it_is_read(
    ctx: AppContext, boot: dict[str, Any]
) -> None:
    path = f"/v1/projects/{boot['projectId']}/ads/optimizer/run"
    with serving(ctx) as port:
        for length in (HUGE, None):
            status, sent, body = stream_until_answered(
                port, _head(path, None, length=length), chunked=length is None
            )
            assert status == 401
            assert json.loads(body)["error"]["code"] == "UNAUTHENTICATED"
            # What the server took in is what socket buffers hold, never the body.
            assert sent < 16 * 1024 * 1024, sent


def test_a_body_past_the_limit_is_413_in_the_envelope_before_it_is_read(
    ctx: AppContext, boot: dict[str, Any]
) -> None:
    path = f"/v1/projects/{boot['projectId']}/ads/optimizer/run"
    key = boot["partnerKey"]
    with serving(ctx) as port:
        # Declared too large: answered without reading a byte of it.
        status, sent, body = stream_until_answered(
            port, _head(path, key, length=HUGE), chunked=False
        )
        assert status == 413 and sent < 16 * 1024 * 1024
        error = json.loads(body)["error"]
        assert error["code"] == "PAYLOAD_TOO_LARGE" and error["requestId"]
        assert error["details"] == {"limitBytes": 1024 * 1024}
        # Streamed without a length: refused once it passes the limit.
        status, sent, body = stream_until_answered(
            port, _head(path, key, length=None), chunked=True
        )
        assert status == 413 and sent < 16 * 1024 * 1024
        assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_the_body_limit_is_configurable_and_the_creative_library_has_its_own(
    ctx: AppContext, boot: dict[str, Any]
) -> None:
    settings = ctx.settings.model_copy(
        update={"max_body_bytes": 4096, "creative_max_body_bytes": 64 * 1024}
    )
    small = AppContext(settings=settings, session_factory=ctx.session_factory, jobs=ctx.jobs)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        api = Api(client, boot["partnerKey"])
        padded = {"layerId": boot["layers"]["meta_ads"], "platform": "meta_ads", "x": "y" * 8000}
        run = api.post(f"/v1/projects/{boot['projectId']}/ads/optimizer/run", json=padded)
        assert run.status_code == 413
        assert run.json()["error"]["details"] == {"limitBytes": 4096}
        content = {"name": "creative", "x": "y" * 8000}
        created = api.post(f"/v1/projects/{boot['projectId']}/ads-content", json=content)
        # Past the general limit but within the library's: read, and judged on its fields.
        assert created.status_code == 422
        content["x"] = "y" * 70_000
        too_big = api.post(f"/v1/projects/{boot['projectId']}/ads-content", json=content)
        assert too_big.status_code == 413
        assert too_big.json()["error"]["details"] == {"limitBytes": 64 * 1024}


def test_errors_quote_only_a_short_prefix_of_what_was_sent(
    partner: Api, boot: dict[str, Any]
) -> None:
    big = "q" * 60_000
    project = boot["projectId"]
    for path, params in [
        (f"/v1/projects/{project}/ads/meta/pending", {"status": big}),
        (f"/v1/projects/{project}/ads/campaigns", {"status": big}),
        (f"/v1/projects/{project}/ads-content", {"pool": big}),
        (f"/v1/jobs/{big}", {}),
        (f"/v1/layers/{big}", {}),
    ]:
        response = partner.get(path, params=params)
        assert response.status_code in (404, 422)
        assert len(response.content) < 2000, path
        assert "qqqq" in response.json()["error"]["message"]
    hooks = partner.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/h", "events": [big]}
    )
    assert hooks.status_code == 422 and len(hooks.content) < 2000
    unknown_field = partner.patch(f"/v1/layers/{boot['layers']['meta_ads']}", json={big: 1})
    assert unknown_field.status_code == 422 and len(unknown_field.content) < 2000


def test_quote_shows_a_prefix_and_the_length() -> None:
    assert errors.quote("short") == "'short'"
    assert errors.quote("z" * 1000) == f"{'z' * 64!r}… (1000 characters)"


EMBEDDED = Settings(mode="embedded")


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@hooks.example.com/h",
        "https://token@hooks.example.com/h",
        "http://user:pw@127.0.0.1:9999/h",
    ],
)
def test_a_webhook_url_with_credentials_is_refused_and_not_echoed(partner: Api, url: str) -> None:
    with pytest.raises(errors.ApiError) as caught:
        webhooks.check_url(url, EMBEDDED)
    assert "credentials" in (caught.value.details or {})["fields"][0]["problem"]
    response = partner.post("/v1/webhook-endpoints", json={"url": url, "events": ["test.ping"]})
    assert response.status_code == 422
    assert "secret" not in response.text and "pw@" not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://169.254.10.1/hook",
        "https://[fd00:ec2::254]/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://metadata.google.internal./computeMetadata/v1/",
        "https://100.100.100.200/latest/meta-data",
    ],
)
def test_metadata_and_link_local_targets_are_refused_even_when_embedded(url: str) -> None:
    for settings in (EMBEDDED, Settings(mode="distributed")):
        with pytest.raises(errors.ApiError) as caught:
            webhooks.check_url(url, settings)
        assert (caught.value.details or {})["fields"][0]["field"] == "url"


def test_loopback_is_allowed_only_where_the_embedded_default_needs_it() -> None:
    assert webhooks.check_url("https://127.0.0.1/hook", EMBEDDED)
    assert webhooks.check_url("https://[::1]/hook", EMBEDDED)
    no_loopback = Settings(mode="embedded", webhooks_allow_loopback=False)
    for url in ("https://127.0.0.1/hook", "https://[::1]/hook", "https://0.0.0.0/hook"):
        with pytest.raises(errors.ApiError):
            webhooks.check_url(url, no_loopback)
    # A private address on the same network as an embedded install stays a valid receiver.
    assert webhooks.check_url("https://192.168.1.20/hook", EMBEDDED)
