"""The outbound edge of webhooks: where we may send, and one signed delivery attempt.

An attempt reads what it needs in one short transaction, sends with no transaction open (a slow
receiver must never hold a database lock), and records the outcome in a second transaction with
guarded updates, so a repeated attempt after a crash cannot move a finished delivery.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import threading
from dataclasses import dataclass
from typing import Literal

import httpx
from sqlalchemy import case, update
from sqlalchemy.orm import Session, sessionmaker

from adpilot import __version__, errors
from adpilot.audit import service as audit
from adpilot.config import Settings
from adpilot.db import transaction
from adpilot.kit.clock import isoformat, utcnow
from adpilot.kit.jsonresp import dumps
from adpilot.webhooks import signing
from adpilot.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

# Plain http is tolerated only for these hosts, and only when loopback receivers are allowed.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1"})
MAX_URL_LENGTH = 2000
# Consecutive finally-failed deliveries after which an endpoint is paused (SPEC §9).
AUTO_PAUSE_AFTER = 20
PREVIOUS_SECRET_OVERLAP = dt.timedelta(hours=24)
_ERROR_SNIPPET = 200
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")

Outcome = Literal["delivered", "retry", "failed", "stopped"]


class DestinationRefused(Exception):
    """A URL we will not send to. `transient` marks a lookup failure worth retrying."""

    def __init__(self, problem: str, *, transient: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.transient = transient


@dataclass(frozen=True)
class Destination:
    """A vetted URL; `addresses` are the checked IPs to connect to when addresses are policed
    (empty: let the HTTP client resolve the host itself)."""

    url: httpx.URL
    addresses: tuple[str, ...] = ()


# Cloud instance-metadata services: never a webhook receiver, whatever the mode. Link-local
# addresses (169.254.0.0/16, fe80::/10, where AWS, GCP and Azure answer) are refused as a class.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
_METADATA_PROBLEM = "must not point at a link-local or cloud metadata address"


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _address_problem(address: str, settings: Settings) -> str | None:
    """Why we will not connect to `address`, or None. Loopback only where allowed (the
    embedded default); private networks only when embedded (a receiver on the same LAN)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip in METADATA_ADDRESSES:
        return _METADATA_PROBLEM
    if ip.is_loopback or ip.is_unspecified:
        return (
            None if settings.loopback_webhooks_allowed else "must not point at a loopback address"
        )
    if settings.mode == "distributed" and not _is_public(ip):
        return "must not point at a private, loopback or link-local address"
    return None


def _valid_hostname(name: str) -> bool:
    labels = name.removesuffix(".").split(".")
    return len(name) <= 253 and all(_LABEL.match(label) for label in labels)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        problem = f"the host {errors.quote(host)} could not be resolved"
        raise DestinationRefused(problem, transient=True) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet(url: str, settings: Settings, *, creating: bool = False) -> Destination:
    """Check a receiver URL against the rules of SPEC §9, or raise DestinationRefused.

    Every address the host resolves to must be allowed (a hostname pointing at a metadata or
    private address is as dangerous as the address itself); the addresses checked are the ones
    later connected to, so a DNS answer that changes between check and send cannot slip
    through. Only while `creating` an endpoint in embedded mode may a host that does not
    resolve yet (an offline machine) be accepted: it is checked again before every send.
    """
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise DestinationRefused("is not a valid URL") from None
    host = parsed.host
    if parsed.scheme not in ("https", "http") or not host:
        raise DestinationRefused("must be an absolute https URL")
    if parsed.userinfo:
        # Credentials in a URL would be stored and shown back with it; receivers verify our
        # signature instead.
        raise DestinationRefused("must not carry credentials (user:password@)")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise DestinationRefused("has an invalid port")
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None and not _valid_hostname(parsed.raw_host.decode("ascii", "replace")):
        raise DestinationRefused("has an invalid host name")
    if literal is None and host.lower().removesuffix(".") in METADATA_HOSTS:
        raise DestinationRefused(_METADATA_PROBLEM)
    allow_loopback = settings.loopback_webhooks_allowed
    if parsed.scheme == "http" and not (allow_loopback and host in LOOPBACK_HOSTS):
        hint = " (plain http only for localhost and 127.0.0.1)" if allow_loopback else ""
        raise DestinationRefused(f"must use https{hint}")

    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [str(literal)] if literal is not None else _resolve(host, port)
    except DestinationRefused:
        if creating and settings.mode != "distributed":
            return Destination(parsed)
        raise
    if not addresses:
        raise DestinationRefused(
            f"the host {errors.quote(host)} could not be resolved", transient=True
        )
    for address in addresses:
        problem = _address_problem(address, settings)
        if problem is not None:
            raise DestinationRefused(problem)
    return Destination(parsed, addresses=tuple(addresses))


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    retryable: bool
    status_code: int | None = None
    error: str | None = None


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http() -> httpx.Client:
    """One pooled client per process (keep-alive to busy receivers). It ignores proxy variables
    and never follows redirects: either could carry a request to an address we did not vet."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(trust_env=False, follow_redirects=False)
        return _client


def _targets(destination: Destination) -> list[tuple[httpx.URL, dict[str, str], dict[str, str]]]:
    """(url, extra headers, extensions) per address to try: each vetted address is connected to
    directly while the Host header and the TLS server name (so certificate checks) stay the
    URL's host."""
    url = destination.url
    if not destination.addresses:
        return [(url, {}, {})]
    host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return [
        (url.copy_with(host=address), {"Host": host_header}, extensions)
        for address in destination.addresses
    ]


def _post(
    destination: Destination, body: bytes, headers: dict[str, str], timeout: float
) -> httpx.Response:
    targets = _targets(destination)
    for index, (url, extra_headers, extensions) in enumerate(targets):
        request = _http().build_request(
            "POST",
            url,
            content=body,
            headers={**headers, **extra_headers},
            timeout=timeout,
            extensions=extensions,
        )
        try:
            return _http().send(request, stream=True)
        except httpx.ConnectError:
            # Like a resolver-driven connect, fall through to the host's next address
            # (a receiver often listens on IPv4 only while its name also has an IPv6 address).
            if index == len(targets) - 1:
                raise
    raise AssertionError("unreachable: there is always one target")


def send(
    destination: Destination, *, body: bytes, headers: dict[str, str], timeout: float
) -> SendResult:
    """POST once and classify the answer: 2xx delivered; 429, 5xx and network errors retryable;
    anything else (other 4xx, unfollowed redirects) final."""
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": f"adpilot-webhooks/{__version__}",
        **headers,
    }
    try:
        response = _post(destination, body, all_headers, timeout)
    except Exception as exc:
        # Whatever stops a send (timeouts, TLS, refused connections, odd sockets) is a network
        # error to the partner: retried on the ladder, never a crashed workflow.
        return SendResult(False, True, None, f"{type(exc).__name__}: {exc}"[:2000])
    try:
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(True, False, code)
        # A bounded peek at the body helps the partner see why; never read an unbounded answer.
        snippet = b""
        try:
            for chunk in response.iter_bytes():
                snippet += chunk
                if len(snippet) >= _ERROR_SNIPPET:
                    break
        except httpx.HTTPError:
            pass
        text = snippet[:_ERROR_SNIPPET].decode("utf-8", "replace").strip()
        error = f"HTTP {code}" + (f": {text}" if text else "")
        return SendResult(False, code == 429 or code >= 500, code, error)
    finally:
        response.close()


# --- one attempt of one delivery ---------------------------------------------------------------


def envelope(event: WebhookEvent) -> bytes:
    """The bytes sent and signed: `{id, type, createdAt, data}`, compact and deterministic."""
    return dumps(
        {
            "id": event.id,
            "type": event.type,
            "createdAt": isoformat(event.created_at),
            "data": event.data,
        }
    )


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The current secret, plus the previous one while its rotation overlap lasts."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        found.append(endpoint.previous_secret)
    return found


@dataclass(frozen=True)
class _Prepared:
    endpoint_id: str
    url: str
    secrets: list[str]
    event_id: str
    body: bytes


def _stop(session: Session, delivery_id: str, why: str) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(status="failed", next_retry_at=None, last_error=why)
    )


def _prepare(session: Session, delivery_id: str) -> _Prepared | Outcome:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return "stopped"
    if row.status != "pending":
        # A repeated attempt after a crash: the outcome was already recorded.
        return "delivered" if row.status == "delivered" else "stopped"
    endpoint = session.get(WebhookEndpoint, row.endpoint_id)
    event = session.get(WebhookEvent, row.event_id)
    if endpoint is None or event is None or endpoint.deleted_at is not None:
        _stop(session, delivery_id, "not sent: the endpoint was deleted")
        return "stopped"
    if endpoint.status != "active":
        _stop(session, delivery_id, f"not sent: the endpoint is {endpoint.status}")
        return "stopped"
    return _Prepared(
        endpoint_id=endpoint.id,
        url=endpoint.url,
        secrets=signing_secrets(endpoint, utcnow()),
        event_id=event.id,
        body=envelope(event),
    )


def _count_failure(session: Session, endpoint_id: str) -> None:
    """One more consecutive failure; the 20th pauses the endpoint. A single statement, so
    deliveries finishing at once on several workers never lose a count."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(
            consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
            status=case(
                (
                    (WebhookEndpoint.status == "active")
                    & (WebhookEndpoint.consecutive_failures + 1 >= AUTO_PAUSE_AFTER),
                    "auto_paused",
                ),
                else_=WebhookEndpoint.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    # Exactly at the threshold is the statement that paused it (re-enabling resets the count).
    if (
        endpoint is not None
        and endpoint.status == "auto_paused"
        and endpoint.consecutive_failures == AUTO_PAUSE_AFTER
    ):
        audit.record(
            session,
            "webhook_endpoint.auto_paused",
            organization_id=endpoint.organization_id,
            project_id=endpoint.project_id,
            data={"endpointId": endpoint.id, "consecutiveFailures": AUTO_PAUSE_AFTER},
        )


def _reset_failures(session: Session, endpoint_id: str) -> None:
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
        .values(consecutive_failures=0)
        .execution_options(synchronize_session=False)
    )


def _record(
    session: Session,
    delivery_id: str,
    endpoint_id: str,
    result: SendResult,
    next_delay: float | None,
) -> Outcome:
    now = utcnow()
    outcome: Outcome
    values: dict[str, object] = {
        "attempts": WebhookDelivery.attempts + 1,
        "last_response_status": result.status_code,
        "last_error": result.error,
        "next_retry_at": None,
    }
    if result.delivered:
        outcome = "delivered"
        values.update(status="delivered", delivered_at=now)
    elif result.retryable and next_delay is not None:
        outcome = "retry"
        values["next_retry_at"] = now + dt.timedelta(seconds=next_delay)
    else:
        outcome = "failed"
        values["status"] = "failed"
    moved = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) == 0:
        return "stopped"
    if outcome == "delivered":
        _reset_failures(session, endpoint_id)
    elif outcome == "failed":
        _count_failure(session, endpoint_id)
    return outcome


def attempt(
    session_factory: sessionmaker[Session],
    settings: Settings,
    delivery_id: str,
    next_delay: float | None,
) -> Outcome:
    """Make one attempt. `next_delay` is the wait before the next attempt of the ladder, or None
    when this is the last one (a retryable failure then ends the delivery as `failed`)."""
    with transaction(session_factory) as session:
        prepared = _prepare(session, delivery_id)
    if not isinstance(prepared, _Prepared):
        return prepared

    try:
        # Checked again at send time: DNS may have changed since the endpoint was saved.
        destination = vet(prepared.url, settings)
    except DestinationRefused as refused:
        result = SendResult(False, refused.transient, None, f"refused: the URL {refused.problem}")
    else:
        timestamp = int(utcnow().timestamp())
        headers = signing.signature_headers(
            prepared.secrets, message_id=prepared.event_id, timestamp=timestamp, body=prepared.body
        )
        result = send(
            destination, body=prepared.body, headers=headers, timeout=settings.webhook_timeout_sec
        )

    with transaction(session_factory) as session:
        return _record(session, delivery_id, prepared.endpoint_id, result, next_delay)
