"""Settings: every VIGIL_* environment variable, its default and its validation, in one class.

Read once at start (`Settings()` reads the environment and an optional `.env`), validated so a
bad value stops the process with a message that names the variable, and then passed down
explicitly: no module keeps its own copy.
"""

from __future__ import annotations

import pathlib
from typing import Annotated, Literal

import apprise
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite://vigil.db"

PositiveSeconds = Annotated[float, Field(gt=0)]
UptimeTreatment = Literal["UP", "DOWN", "EXCLUDE"]


class Settings(BaseSettings):
    """Vigil's configuration; each field is the variable VIGIL_<FIELD NAME IN CAPITALS>."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # Storage and shared infrastructure
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="Tortoise URL: sqlite://PATH (default: vigil.db in the working directory) "
        "or postgres://USER:PASSWORD@HOST:PORT/DB",
    )
    db_pool_max_size: int = Field(10, ge=1, le=500, description="PostgreSQL connection pool size")
    redis_url: str | None = Field(
        None, description="redis://HOST:PORT/DB for the shared cache and cross-replica events; unset: in-memory"
    )
    redis_prefix: str = Field(
        "vigil:",
        min_length=1,
        max_length=100,
        description="Prefix of every Redis key and channel; replicas of one deployment share it, others differ",
    )
    cache_enabled: bool = Field(True, description="Cache read models (dashboard, lists, trends); docs/caching.md")
    cache_l1_ttl_seconds: PositiveSeconds = Field(
        10.0, description="Backstop lifetime of an in-process (L1) cache entry; events invalidate sooner"
    )
    cache_l1_max_entries: int = Field(2000, ge=1, le=1_000_000, description="Most L1 entries kept per cache region")
    cache_l2_ttl_seconds: PositiveSeconds = Field(
        300.0, description="Backstop lifetime of a shared (L2, Redis) cache entry; events invalidate sooner"
    )
    cache_check_coalesce_seconds: float = Field(
        2.0, ge=0, le=3600, description="New checks invalidate the cache at most this often (status changes at once)"
    )
    secret_key: str | None = Field(
        None,
        description="Key that encrypts service credentials at rest. Unset: a key is generated on first run "
        "into VIGIL_SECRET_KEY_FILE (mode 0600)",
    )
    secret_key_file: pathlib.Path | None = Field(
        None, description="Where the generated key lives (default: vigil.key next to the SQLite file, or ./vigil.key)"
    )

    # HTTP server
    host: str = Field("127.0.0.1", description="Listen address of `vigil serve`")
    port: int = Field(8000, ge=0, le=65535, description="Listen port of `vigil serve` (0: any free port)")
    anonymous_read: bool = Field(False, description="Allow queries and subscriptions without a token")
    allowed_origins: tuple[str, ...] = Field(
        (), description="Browser origins allowed to open WebSocket subscriptions (JSON list)"
    )
    graphiql: bool = Field(True, description="Serve GraphiQL at GET /graphql (its assets load from unpkg.com)")
    introspection: bool = Field(True, description="Allow schema introspection queries")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    organization_name: str = Field(
        "Vigil",
        min_length=1,
        max_length=200,
        description="Organization named by the GA4GH service registry (/ga4gh/registry/v1) for Vigil itself "
        "and for services that report none",
    )
    organization_url: str | None = Field(
        None, description="That organization's URL (http/https); unset: the address Vigil is reached at"
    )

    # GraphQL limits
    max_page_size: int = Field(100, ge=1, le=1000, description="Largest `first` a connection accepts")
    max_query_depth: int = Field(10, ge=2, le=50, description="Deepest selection a document may nest")
    max_aliases: int = Field(30, ge=1, le=1000, description="Most aliases one document may use")
    max_tokens: int = Field(3000, ge=100, le=100_000, description="Most lexical tokens one document may have")
    rate_limit_per_minute: int = Field(
        600, ge=0, le=1_000_000, description="Operations one client address or token may run per minute (0: off)"
    )
    mutation_rate_limit_per_minute: int = Field(
        60, ge=0, le=1_000_000, description="Mutations one client address or token may run per minute (0: off)"
    )
    max_request_bytes: int = Field(
        256 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest HTTP request body accepted"
    )

    # Probing
    probes_enabled: bool = Field(True, description="Run the background probe loop")
    default_check_interval_seconds: int = Field(30, ge=5, le=86_400, description="Interval for new services")
    min_check_interval_seconds: int = Field(5, ge=1, le=86_400, description="Smallest interval a service may set")
    max_check_interval_seconds: int = Field(86_400, ge=5, le=604_800, description="Largest interval")
    default_timeout_seconds: float = Field(10.0, gt=0, le=300, description="Probe timeout for new services")
    max_timeout_seconds: float = Field(60.0, gt=0, le=300, description="Largest probe timeout a service may set")
    probe_concurrency: int = Field(100, ge=1, le=10_000, description="Most probes in flight at once")
    max_response_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="Largest response body a probe reads"
    )
    allow_private_targets: bool = Field(
        False,
        description="Let probes reach loopback, private and link-local addresses (on-premise services, "
        "the demo); cloud metadata addresses stay refused",
    )
    allow_metadata_targets: bool = Field(
        False, description="Let probes reach cloud metadata addresses such as 169.254.169.254 (almost never wanted)"
    )
    shutdown_grace_seconds: PositiveSeconds = Field(
        5.0, description="How long in-flight probes may finish at shutdown before they are cancelled"
    )
    lease_interval_seconds: float = Field(
        2.0,
        ge=0.1,
        le=60,
        description="Time between two ownership rounds of a probing replica (docs/deployment.md): a dead "
        "replica's services are probed again within this plus one check interval",
    )
    outage_buffer_checks: int = Field(
        10_000,
        ge=0,
        le=1_000_000,
        description="Loop checks kept in memory while PostgreSQL (or the lease) is away, written when it "
        "returns (docs/reliability.md); beyond it checks are dropped, counted and logged. 0.6 to 2.6 KB each",
    )

    # History, rollups and uptime (docs/analytics.md)
    raw_retention_days: float = Field(7, gt=0, le=3650, description="How long raw checks are kept")
    rollup_minute_retention_hours: float = Field(
        48, gt=0, le=24 * 365, description="How long per-minute rollups are kept"
    )
    rollup_hour_retention_days: float = Field(90, gt=0, le=3650, description="How long per-hour rollups are kept")
    rollup_day_retention_days: float = Field(730, gt=0, le=36500, description="How long per-day rollups are kept")
    retention_enabled: bool = Field(True, description="Run the retention task in the probing process")
    retention_interval_seconds: PositiveSeconds = Field(3600.0, description="Time between two retention passes")
    retention_batch_size: int = Field(5000, ge=100, le=1_000_000, description="Most rows one retention delete removes")
    uptime_degraded: UptimeTreatment = Field(
        "UP", description="How DEGRADED checks count in uptime: UP, DOWN or EXCLUDE"
    )
    uptime_maintenance: UptimeTreatment = Field(
        "EXCLUDE", description="How MAINTENANCE checks count in uptime: UP, DOWN or EXCLUDE"
    )
    uptime_unknown: UptimeTreatment = Field(
        "EXCLUDE", description="How UNKNOWN checks count in uptime: UP, DOWN or EXCLUDE"
    )
    sla_target: float = Field(0.999, gt=0, le=1, description="Availability target of services that set none (a share)")

    # Alerts (docs/operations.md, "Alerts")
    alerts_enabled: bool = Field(True, description="Evaluate alert rules in the probing process")
    alert_evaluation_interval_seconds: PositiveSeconds = Field(
        30.0, description="Time between two evaluations of the alert rules (status changes also trigger one)"
    )
    alert_unhealthy_seconds: PositiveSeconds = Field(
        300.0, description="A service published UNHEALTHY for longer than this fires service_unhealthy"
    )
    alert_failure_rate: float = Field(
        0.10, gt=0, le=1, description="Share of failed checks in the window above which failure_rate fires"
    )
    alert_response_time_ms: float = Field(
        5000.0, gt=0, description="Mean response time in the window above which slow_response fires"
    )
    alert_window_seconds: float = Field(
        300.0,
        ge=60,
        le=86_400,
        description="Window of the rate rules: failure_rate, slow_response, cache_miss_rate, graphql_error_rate "
        "(whole minutes)",
    )
    alert_min_checks: int = Field(3, ge=1, description="Fewest checks in the window before a rate rule may fire")
    # Platform rules (resolvers/alert_rules.py): cluster-wide counters, global thresholds only.
    alert_cache_miss_rate: float = Field(
        0.30,
        ge=0,
        le=1,
        description="Share of read-model cache reads that missed, in the window, above which cache_miss_rate "
        "fires (0: off)",
    )
    alert_min_cache_reads: int = Field(
        100, ge=1, description="Fewest cache reads in the window before cache_miss_rate may fire"
    )
    alert_graphql_error_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of GraphQL queries and mutations that failed on the server's side (client mistakes "
        "such as BAD_USER_INPUT left out), in the window, above which graphql_error_rate fires (0: off)",
    )
    alert_min_graphql_operations: int = Field(
        20, ge=1, description="Fewest GraphQL queries and mutations in the window before graphql_error_rate may fire"
    )
    alert_reminder_interval_seconds: PositiveSeconds = Field(
        3600.0, description="Time between two reminders of an alert that keeps firing"
    )
    alert_webhooks: tuple[str, ...] = Field(
        (), description="Webhook URLs (JSON list) that receive a JSON POST when an alert fires, resolves or reminds"
    )
    alert_apprise_urls: tuple[str, ...] = Field(
        (),
        description="Apprise URLs (JSON list), such as slack://…, msteams://…, mailto://… or matrix://…, "
        "notified when an alert fires, resolves or reminds",
    )
    alert_webhook_timeout_seconds: PositiveSeconds = Field(
        10.0, description="Timeout of one webhook request or apprise notification"
    )
    alert_webhook_attempts: int = Field(5, ge=1, le=20, description="Most attempts per webhook notification")
    alert_webhook_backoff_seconds: PositiveSeconds = Field(
        2.0, description="First delay between webhook attempts; it doubles each attempt, up to 5 minutes"
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("organization_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("alert_webhooks")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError("each URL must start with http:// or https://")
        return value

    @field_validator("alert_apprise_urls")
    @classmethod
    def _apprise_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, url in enumerate(value):
            if not apprise.Apprise().add(url):
                # The URL itself is not quoted: it carries the channel's secret.
                raise ValueError(f"entry {index + 1} is not a URL apprise can use (unknown scheme or bad form)")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _interval_bounds(self) -> Settings:
        if self.min_check_interval_seconds > self.max_check_interval_seconds:
            raise ValueError("VIGIL_MIN_CHECK_INTERVAL_SECONDS exceeds VIGIL_MAX_CHECK_INTERVAL_SECONDS")
        if not (
            self.min_check_interval_seconds <= self.default_check_interval_seconds <= self.max_check_interval_seconds
        ):
            raise ValueError("VIGIL_DEFAULT_CHECK_INTERVAL_SECONDS lies outside the min/max bounds")
        if self.default_timeout_seconds > self.max_timeout_seconds:
            raise ValueError("VIGIL_DEFAULT_TIMEOUT_SECONDS exceeds VIGIL_MAX_TIMEOUT_SECONDS")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    def resolved_secret_key_file(self) -> pathlib.Path:
        """The generated key sits next to the SQLite file so that the two travel together."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        if self.is_sqlite:
            path = self.database_url.removeprefix("sqlite://")
            if path and path != ":memory:":
                return pathlib.Path(path).expanduser().parent / "vigil.key"
        return pathlib.Path("vigil.key")


def describe_settings() -> str:
    """The variables as `vigil serve --help` and the README list them."""
    lines = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else ("[]" if default == () else str(default))
        lines.append(f"VIGIL_{name.upper()} (default {shown}): {field.description}")
    return "\n".join(lines)


def settings_error_message(exc: ValidationError) -> str:
    """One line per bad variable, naming it as the operator typed it."""
    lines = ["invalid configuration:"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        name = f"VIGIL_{where.upper()}" if where != "settings" else "settings"
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)
