"""The one configuration class: environment variables prefixed ``CDP_``, plus an
optional dotenv-style file named by ``CDP_CONFIG_FILE`` (environment wins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.errors import invalid

_STATE_HOME = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))


class ConfigError(Exception):
    """A bad setting, with a message that names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_", extra="ignore", frozen=True)

    # Kafka and the Faust application
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port]")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every client connects: PLAINTEXT, SSL (TLS, mutual with a client certificate), "
        "SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism (SASL_* protocols)"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (or CDP_KAFKA_SASL_PASSWORD_FILE)")
    kafka_sasl_password_file: Path | None = Field(None, description="File holding the SASL password")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM file of the CA(s) to trust for the brokers' certificates; default: the system's"
    )
    kafka_ssl_cert_file: Path | None = Field(None, description="PEM client certificate (chain), for mutual TLS")
    kafka_ssl_key_file: Path | None = Field(None, description="PEM private key of the client certificate")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="Password of an encrypted client key")
    kafka_ssl_check_hostname: bool = Field(
        True, description="Verify that the broker's certificate names the host connected to"
    )
    app_id: str = Field("cdp-triggers", description="Faust app id: consumer group and prefix of internal topics")
    topic_prefix: str = Field("cdp.", description="Prefix of every topic the pipeline reads or writes")
    partitions: int = Field(4, ge=1, le=1024, description="Partitions of the input topics (and so of the tables)")
    replication_factor: int = Field(1, ge=1, description="Replication factor of topics the worker creates")
    data_dir: Path = Field(_STATE_HOME / "cdp-triggers" / "worker", description="Worker state directory")
    state_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="Where the worker keeps detection state and its copy of the subscriptions: rocksdb (on disk under "
        "data_dir, off the Python heap; a restart reads only what was written since) or memory (rebuilt from the whole "
        "changelog and subscriptions topic at start)",
    )
    state_cache_entries: int = Field(
        100_000,
        ge=0,
        description="Detection states kept decoded in memory per table, the recently used (0: none): reads of them "
        "skip the store and decoding; about 3 KiB each with the default explain history, 2 KiB without",
    )
    commit_interval_seconds: float = Field(1.0, gt=0, description="How often processed offsets are committed")
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300, description="A worker silent this long (killed, hung) loses its partitions"
    )
    instance_id: str | None = Field(
        None, description="Static group membership id (stable per worker): a restart rejoins without a rebalance"
    )
    continuity_check_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="How often input partitions are checked for messages Faust skipped at their end (two checks "
        "without progress re-read them)",
    )
    kafka_timeout_seconds: float = Field(
        30.0,
        ge=1,
        description="Bound on each wait for Kafka that a process cannot go on without (a flush's acknowledgements, an "
        "offset commit, a re-read, a look-up of committed or end offsets); past it the process exits with code 3 to "
        "be restarted",
    )
    progress_timeout_seconds: float = Field(
        60.0,
        ge=5,
        description="A partition whose input is applied beyond its committed offset, while that offset has not moved "
        "for this long, is stuck: logged at error, /readyz fails and the process exits with code 3",
    )
    shutdown_timeout_seconds: float = Field(
        25.0,
        ge=1,
        description="A worker or dispatcher that has not stopped this long after SIGTERM exits with code 3 (it is "
        "restart-safe at any moment); keep it below the supervisor's grace period",
    )
    loop_timeout_seconds: float = Field(
        30.0,
        ge=1,
        description="An event loop that has not turned for this long fails /livez, and the process exits with code 3",
    )
    fault_block_loop_after_seconds: float | None = Field(
        None,
        gt=0,
        description="Testing only, never in production: block the event loop for good this long after start, to "
        "test the liveness probe and the stall watchdog",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Worker log level")

    # Detection
    max_event_bytes: int = Field(
        65536,
        ge=256,
        le=1_000_000,  # under Kafka's default message size (1 MiB), so a record within it is never refused there
        description="The largest record, encoded: larger input messages are dead-lettered, and the CLI, the "
        "producer library and the API refuse to write a larger event, subscription or hook",
    )
    explain_history: int = Field(
        10,
        ge=0,
        le=100,
        description="Evaluations each segment and measure remembers for explain: value, event and what it did to "
        "each subscription, ignored events included (0: none); kept in the detection state, about 100 bytes each "
        "in memory and 50 in the changelog",
    )
    stall_after_seconds: float = Field(3600.0, gt=0, description="A refresh run unfinished this long fires 'stalled'")
    stall_check_interval_seconds: float = Field(30.0, gt=0, description="How often in-flight runs are checked")
    idle_partition_seconds: float = Field(
        30.0,
        gt=0,
        description="A runs partition caught up and without input this long follows the wall clock; until then "
        "stalls and evictions follow its latest event time",
    )
    run_retention_seconds: float = Field(
        86400.0, gt=0, description="Quiet time after which a finished, stalled or undeclared run leaves the table"
    )

    # Delivery (the dispatcher)
    routes_file: Path | None = Field(None, description="Routes YAML: receivers and the route tree (dispatcher)")
    delivery_max_age_seconds: float = Field(
        86400.0, gt=0, description="Older trigger events are dead-lettered as expired instead of delivered"
    )
    delivery_record_retention_seconds: float = Field(
        7 * 86400.0, gt=0, description="How long a delivered event's id is kept to skip its replays"
    )

    # The triggers API (cdp-triggers api) and its webhook registrations
    api_host: str = Field("127.0.0.1", description="Address the triggers API binds to")
    api_port: int = Field(8088, ge=1, le=65535, description="Port of the triggers API")
    api_public_url: str | None = Field(
        None,
        description="The API's URL as clients reach it (behind a proxy), for Location headers; "
        "default: the URL of each request",
    )
    api_keys_max_age_seconds: float = Field(
        10.0,
        ge=1,
        description="The API authenticates only with a copy of the API keys confirmed current this recently: a key "
        "revoked elsewhere is refused within this bound, and while the keys topic cannot be read every request gets "
        "503",
    )
    api_rate_limit_per_minute: int = Field(600, ge=1, description="Requests per minute per API key (bursts up to it)")
    api_publish_events_per_minute: int = Field(
        60_000,
        ge=1,
        description="Change events per minute per API key posted to /v1/events (counted per event, not per "
        "request; bursts up to it)",
    )
    api_max_batch_events: int = Field(
        1000, ge=1, description="The most change events one POST /v1/events takes (a larger batch is a 413)"
    )
    api_max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Larger request bodies are refused with 413, without reading them past the limit",
    )
    api_kafka_reads: int = Field(
        4,
        ge=1,
        le=64,
        description="Requests that read topics or ask the workers (console pages, operations, runs, explain) served "
        "at once by an API process; others wait up to 5 s, then get 503 with Retry-After",
    )
    console_session_idle_seconds: float = Field(
        1800.0,
        ge=60,
        le=86400,
        description="A console session unused this long ends (sign in again); a revoked key's sessions end at once",
    )
    hook_signing_key: SecretStr | None = Field(
        None,
        description="Key from which each hook's signing secret is derived (API and dispatcher; at least 32 "
        "characters; or CDP_HOOK_SIGNING_KEY_FILE). Changing it changes every hook's secret",
    )
    hook_signing_key_file: Path | None = Field(None, description="File holding the hook signing key")
    hook_allowed_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs that hook callbacks may reach although private "
        "or loopback (e.g. an internal automation host); default none",
    )
    hook_ca_file: Path | None = Field(
        None, description="PEM file of extra CAs to trust for hook callbacks (on top of the system's)"
    )

    # Schema Registry (Confluent's REST API: Confluent, Apicurio's ccompat, Redpanda, Karapace)
    schema_registry_url: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="The registry's URL, e.g. http://registry:8081 (Apicurio: .../apis/ccompat/v7); for "
        "'schemas register' and 'schemas check'",
    )
    schema_registry_basic_auth_file: Path | None = Field(
        None, description="File holding the registry's basic-auth credentials as user:password"
    )
    schema_registry_ca_file: Path | None = Field(None, description="PEM file of the CA that signed the registry's TLS")
    schema_registry_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Bound on each call to the registry, connection included"
    )

    # Observability
    metrics_host: str = Field("127.0.0.1", description="Address the /metrics endpoint binds to")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of /metrics; 0 disables it")

    @field_validator("kafka_bootstrap")
    @classmethod
    def _hosts_have_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {server.strip()!r}")
        return value

    @field_validator("hook_allowed_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _connection_is_complete(self) -> Settings:
        tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        sasl = self.kafka_security_protocol.startswith("SASL_")
        protocol = f"CDP_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
        if sasl and not self.kafka_sasl_username:
            raise ValueError(f"CDP_KAFKA_SASL_USERNAME is required with {protocol}")
        if sasl and (self.kafka_sasl_password is None) == (self.kafka_sasl_password_file is None):
            raise ValueError(f"give one of CDP_KAFKA_SASL_PASSWORD or CDP_KAFKA_SASL_PASSWORD_FILE with {protocol}")
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("give both CDP_KAFKA_SSL_CERT_FILE and CDP_KAFKA_SSL_KEY_FILE, or neither")
        given = [n for n in ("ca_file", "cert_file", "key_file") if getattr(self, f"kafka_ssl_{n}") is not None]
        if given and not tls:
            names = ", ".join(f"CDP_KAFKA_SSL_{n.upper()}" for n in given)
            raise ValueError(f"{names} given, but {protocol} does not use TLS (SSL or SASL_SSL)")
        files = (
            "kafka_ssl_ca_file",
            "kafka_ssl_cert_file",
            "kafka_ssl_key_file",
            "kafka_sasl_password_file",
            "hook_signing_key_file",
            "hook_ca_file",
            "schema_registry_basic_auth_file",
            "schema_registry_ca_file",
        )
        for name in files:
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"CDP_{name.upper()}: no such file: {path}")
        if self.hook_signing_key is not None and self.hook_signing_key_file is not None:
            raise ValueError("give one of CDP_HOOK_SIGNING_KEY or CDP_HOOK_SIGNING_KEY_FILE, not both")
        if self.api_max_batch_events > self.api_publish_events_per_minute:
            raise ValueError(
                f"CDP_API_MAX_BATCH_EVENTS ({self.api_max_batch_events}) is over CDP_API_PUBLISH_EVENTS_PER_MINUTE "
                f"({self.api_publish_events_per_minute}): a full batch could never be accepted"
            )
        return self

    def hook_key(self) -> bytes | None:
        """The hook signing key (never logged); None when not configured. ValueError when too short."""
        if self.hook_signing_key is not None:
            key = self.hook_signing_key.get_secret_value().strip()
        elif self.hook_signing_key_file is not None:
            key = Path(self.hook_signing_key_file).read_text().strip()
        else:
            return None
        if len(key) < 32:
            raise ValueError(f"CDP_HOOK_SIGNING_KEY: too short ({len(key)} characters; use at least 32 random ones)")
        return key.encode()

    def kafka_password(self) -> str | None:
        """The SASL password, from the setting or its file (never logged)."""
        if self.kafka_sasl_password is not None:
            return self.kafka_sasl_password.get_secret_value()
        if self.kafka_sasl_password_file is not None:
            return Path(self.kafka_sasl_password_file).read_text().strip()
        return None

    @property
    def dispatcher_app_id(self) -> str:
        """The dispatcher's own consumer group: it scales and fails apart from detection."""
        return f"{self.app_id}-dispatcher"

    @property
    def dispatcher_metrics_port(self) -> int:
        """A dispatcher started next to a worker (demo, --with-dispatcher) serves metrics one port up."""
        return self.metrics_port + 1 if self.metrics_port else 0

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


# Who reads which settings, for the docs' Configuration page (every field in exactly one group; a test holds it).
GROUPS: dict[str, tuple[str, ...]] = {
    "Kafka connection: every process and command": (
        "kafka_bootstrap",
        "kafka_security_protocol",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_sasl_password_file",
        "kafka_ssl_ca_file",
        "kafka_ssl_cert_file",
        "kafka_ssl_key_file",
        "kafka_ssl_key_password",
        "kafka_ssl_check_hostname",
        "kafka_timeout_seconds",
    ),
    "Names and topics: every process and command": (
        "app_id",
        "topic_prefix",
        "partitions",
        "replication_factor",
        "max_event_bytes",
    ),
    "Every process: logs, metrics, bounds": (
        "log_level",
        "metrics_host",
        "metrics_port",
        "loop_timeout_seconds",
        "shutdown_timeout_seconds",
        "fault_block_loop_after_seconds",
    ),
    "Workers and dispatchers: state, commits, group membership": (
        "data_dir",
        "state_store",
        "state_cache_entries",
        "commit_interval_seconds",
        "session_timeout_seconds",
        "instance_id",
        "continuity_check_interval_seconds",
        "progress_timeout_seconds",
    ),
    "Workers: detection": (
        "explain_history",
        "stall_after_seconds",
        "stall_check_interval_seconds",
        "idle_partition_seconds",
        "run_retention_seconds",
    ),
    "Dispatchers: delivery": ("routes_file", "delivery_max_age_seconds", "delivery_record_retention_seconds"),
    "The API": (
        "api_host",
        "api_port",
        "api_public_url",
        "api_keys_max_age_seconds",
        "api_rate_limit_per_minute",
        "api_publish_events_per_minute",
        "api_max_batch_events",
        "api_max_body_bytes",
        "api_kafka_reads",
        "console_session_idle_seconds",
    ),
    "Hooks: the API and the dispatchers": (
        "hook_signing_key",
        "hook_signing_key_file",
        "hook_allowed_networks",
        "hook_ca_file",
    ),
    "Schema Registry": (
        "schema_registry_url",
        "schema_registry_basic_auth_file",
        "schema_registry_ca_file",
        "schema_registry_timeout_seconds",
    ),
}


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning pydantic's error into one naming the variable."""
    config_file = os.environ.get("CDP_CONFIG_FILE")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"CDP_CONFIG_FILE: no such file: {config_file}")
    try:
        return Settings(_env_file=config_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, "CDP_")) from None


def describe_errors(exc: ValidationError, prefix: str) -> str:
    """pydantic's errors as lines naming the environment variables; never a secret's value."""
    lines = []
    for e in invalid(exc):
        if not e.field:  # a check across settings: its message names them
            lines.append(e.message)
        elif "password" in e.field or "key" in e.field:
            lines.append(f"{prefix}{e.field.upper()}: {e.message}")
        else:
            lines.append(f"{prefix}{e.field.upper()}: {e.message} (got {e.input!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)
