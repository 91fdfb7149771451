"""Configuration from ``PLANWIRE_*`` environment variables.

A bad setting stops the process with one clear line (see :func:`load_settings`), never a
traceback: the CLI catches :class:`ConfigError` and prints its message.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message is one line for the user."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANWIRE_", extra="ignore")

    database_url: str = "sqlite:///./planwire.db"
    secret_key: str | None = Field(
        default=None,
        description="Fernet key that encrypts webhook secrets at rest. When unset, a key file "
        "beside the SQLite database is created and used.",
    )
    allow_private_targets: bool = False
    #: From the environment: a JSON list (``["10.0.0.0/8"]``) or comma-separated networks.
    allowed_target_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    https_only_targets: bool = False
    delivery_timeout: float = Field(default=30.0, gt=0, le=600)
    worker_concurrency: int = Field(default=256, ge=1, le=10_000)
    per_endpoint_concurrency: int = Field(default=32, ge=1, le=10_000)
    lease_seconds: float = Field(default=120.0, gt=0)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    response_body_limit: int = Field(default=64 * 1024, ge=0)
    auto_disable_after_hours: float = Field(default=5 * 24, gt=0)
    attempt_retention_days: float = Field(default=30, gt=0)
    session_secret: str | None = None

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("allowed_target_networks", mode="before")
    @classmethod
    def _network_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("is neither a JSON list nor comma-separated networks") from None
        return [item.strip() for item in value.split(",") if item.strip()]

    @field_validator("allowed_target_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a network (e.g. 10.0.0.0/8)") from exc
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        if self.database_url.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.database_url.removeprefix("postgresql://")
        return self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split(":///", 1)[-1]
        if raw in ("", ":memory:"):
            return None
        return Path(raw)


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if not isinstance(part, int))
        raise ConfigError(f"invalid setting PLANWIRE_{field.upper()}: {first['msg']}") from None
    except SettingsError as exc:  # a value the environment source cannot even decode
        raise ConfigError(f"invalid setting: {' '.join(str(exc).split())}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
