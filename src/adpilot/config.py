"""Settings: one object built at the edge (CLI or app factory) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Fine for the embedded default on one machine; distributed mode refuses to start with it.
DEFAULT_SECRET_KEY = "adpilot-embedded-development-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ADPILOT_", extra="ignore")

    # Embedded by default: a SQLite file under ./var and in-process durable jobs.
    mode: Literal["embedded", "distributed"] = "embedded"
    var_dir: Path = Path("var")
    database_url: str | None = None
    # DBOS keeps its workflow state here; defaults to a SQLite file beside the app database
    # (embedded) or to the app database itself (PostgreSQL, schema `dbos`).
    jobs_database_url: str | None = None
    # Rate-limit buckets live in this Redis when set (shared by every API process), else in memory.
    redis_url: str | None = None
    rate_limit_key_prefix: str = "adpilot-ratelimit"
    # A worker's identity in the job engine; distributed workers must each set their own.
    executor_id: str = "local"
    # A worker silent for longer than its lease is lost: a live worker takes its work over.
    worker_lease_sec: float = 30.0
    # How often a worker renews its lease, enqueues lost work and looks for lost workers.
    worker_upkeep_interval_sec: float = 2.0
    # Committed work not enqueued after this long (its process died first) is enqueued.
    lost_work_grace_sec: float = 5.0
    app_version: str = "1"

    # Secret used for keyed hashes of API keys and for encrypting credentials at rest.
    secret_key: str = DEFAULT_SECRET_KEY

    # Job engine tuning: the queue poll interval bounds the latency of short workflows.
    queue_poll_interval_sec: float = 0.1
    run_concurrency: int = 4
    # When the maintenance tick (expiry sweep, layer schedules, lost work) fires, as a cron
    # expression in UTC; "off" disables it (tests drive maintenance by hand).
    maintenance_cron: str = "* * * * *"
    org_max_concurrent_jobs: int = 10

    # Dispatch retry ladder for transient platform errors (seconds between attempts).
    dispatch_retry_delays: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])

    # Outcomes: days after a change (or a proposal not sent) at which it is judged.
    outcome_horizons_days: list[int] = Field(default_factory=lambda: [7, 14])
    # Request bodies: larger ones are refused with 413 before they are read. The creative
    # library may have its own limit (None: the same).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    creative_max_body_bytes: int | None = Field(default=None, ge=1024)

    # Webhooks.
    webhooks_allow_loopback: bool | None = None
    webhook_retry_delays: list[float] = Field(
        default_factory=lambda: [0.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0]
    )
    webhook_timeout_sec: float = 10.0

    # Dashboard sessions: signed out after this long without a page view, and after this long
    # in any case; `dashboard_trust_proxy` reads X-Forwarded-Proto from a TLS-terminating proxy
    # so cookies get `Secure` when the browser's side is HTTPS.
    dashboard_idle_minutes: int = Field(120, ge=1)
    dashboard_session_hours: int = Field(12, ge=1)
    dashboard_trust_proxy: bool = False

    # Platform edges.
    platform_timeout_sec: float = 30.0
    # Retries inside one platform call (seconds between attempts); a platform's own Retry-After
    # is honoured when longer. Beyond these the durable job retries the step later.
    platform_retry_delays: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0, 8.0])
    meta_base_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v26.0"
    tiktok_base_url: str = "https://business-api.tiktok.com"
    apple_base_url: str = "https://api.ads.apple.com"
    apple_token_url: str = "https://appleid.apple.com/auth/oauth2/token"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'adpilot.sqlite').resolve()}"

    @property
    def resolved_jobs_database_url(self) -> str:
        if self.jobs_database_url:
            return self.jobs_database_url
        url = self.resolved_database_url
        if url.startswith("sqlite"):
            return f"sqlite:///{(self.var_dir / 'adpilot-jobs.sqlite').resolve()}"
        return url

    @property
    def executor_id_given(self) -> bool:
        return self.executor_id.strip() not in ("", "local")

    @property
    def loopback_webhooks_allowed(self) -> bool:
        if self.webhooks_allow_loopback is not None:
            return self.webhooks_allow_loopback
        return self.mode == "embedded"
