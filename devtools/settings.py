"""Settings of the development broker (``cdp-triggers broker ...``), apart from
the runtime's: ``CDP_BROKER_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.settings import ConfigError, describe_errors

_STATE_HOME = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))


class BrokerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDP_BROKER_", extra="ignore", frozen=True)

    kafka_version: str = Field("4.1.2", description="Apache Kafka version the dev broker runs")
    port: int = Field(9092, ge=1, le=65535, description="Dev broker listener port (controller: port+1)")
    home: Path = Field(_STATE_HOME / "cdp-triggers" / "broker", description="Dev broker data, log and pid")
    cache: Path = Field(_CACHE_HOME / "cdp-triggers" / "kafka", description="Where the broker jars are cached")
    heap: str = Field("512m", pattern=r"^\d+[mMgG]$", description="Dev broker JVM heap (-Xmx)")
    start_timeout_seconds: float = Field(90.0, gt=0, description="How long 'broker start' waits")
    secure: bool = Field(
        False, description="Also listen with SASL_SSL (port+2: SCRAM and PLAIN) and mutual TLS (port+3), with ACLs"
    )

    @field_validator("kafka_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"expected a release like 4.1.2, got {value!r}")
        return value


def load_broker_settings(**overrides: Any) -> BrokerSettings:
    try:  # the same optional dotenv file as the runtime's settings
        return BrokerSettings(_env_file=os.environ.get("CDP_CONFIG_FILE"), **overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, "CDP_BROKER_")) from None


class RegistrySettings(BaseSettings):
    """The development Schema Registry (``cdp-triggers registry ...``): Apicurio Registry, in memory."""

    model_config = SettingsConfigDict(env_prefix="CDP_REGISTRY_", extra="ignore", frozen=True)

    version: str = Field("2.6.13.Final", description="Apicurio Registry version (its 'all' tar.gz on Maven Central)")
    port: int = Field(8081, ge=1, le=65535, description="Dev registry HTTP port")
    home: Path = Field(_STATE_HOME / "cdp-triggers" / "registry", description="Dev registry log and pid")
    cache: Path = Field(_CACHE_HOME / "cdp-triggers" / "apicurio", description="Where the registry is cached")
    heap: str = Field("512m", pattern=r"^\d+[mMgG]$", description="Dev registry JVM heap (-Xmx)")
    start_timeout_seconds: float = Field(90.0, gt=0, description="How long 'registry start' waits")


def load_registry_settings(**overrides: Any) -> RegistrySettings:
    try:
        return RegistrySettings(_env_file=os.environ.get("CDP_CONFIG_FILE"), **overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, "CDP_REGISTRY_")) from None
