"""Typed settings from the environment and an optional `.env` file.

Every problem is collected and reported in one message at startup; secrets are
`SecretStr` so they never appear in logs, reprs or the browser.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "xxx", "todo"}


class SettingsError(RuntimeError):
    """Raised once with every bad setting listed."""


class Settings(BaseSettings):
    """Voxanne Admin configuration. Each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db). Unset: embedded PostgreSQL.",
    )
    voxanne_data_dir: Path = Field(default=Path(".voxanne"), description="Embedded database and runtime files.")
    port: int = Field(default=3000, ge=1, le=65535, description="HTTP port for the console and API.")
    host: str = Field(default="0.0.0.0", description="Interface to listen on.")  # noqa: S104
    voxanne_public_url: str = Field(
        default="", description="Public base URL (https://admin.example.com). Default http://localhost:PORT."
    )
    voxanne_workers: int = Field(
        default=0, ge=0, le=16, description="Backend workers. 0: 1 without REDIS_URL, 2xCPU+1 (max 8) with it."
    )
    redis_url: SecretStr | None = Field(default=None, description="Redis for Reflex state with several workers.")
    voxanne_demo: bool = Field(default=False, description="Load demo organizations into an empty database.")
    session_idle_minutes: int = Field(default=60, ge=5, le=24 * 60, description="Idle timeout of a session.")
    session_absolute_days: int = Field(default=7, ge=1, le=30, description="Absolute lifetime of a session.")
    lockout_threshold: int = Field(default=5, ge=3, le=20, description="Consecutive failures before a lock.")
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60, description="How long a lock lasts.")
    login_ip_limit: int = Field(default=100, ge=10, description="Sign-in attempts per IP per 15 minutes.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")
    vapi_api_key: SecretStr | None = Field(default=None, description="Vapi private key. Unset: sandbox.")
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID. Unset: sandbox.")
    twilio_auth_token: SecretStr | None = Field(default=None, description="Twilio auth token.")

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        scheme = raw.split("://", 1)[0]
        if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname")
        return SecretStr(raw)

    @field_validator("voxanne_public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (for example https://admin.example.com)")
        return value

    @field_validator("vapi_api_key", "twilio_auth_token", "redis_url")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value: set the real secret or leave it unset")
        return value

    @property
    def sandbox(self) -> bool:
        """True when provider credentials are missing and the built-in sandbox providers are used."""
        return self.vapi_api_key is None or self.twilio_account_sid is None or self.twilio_auth_token is None

    @property
    def public_url(self) -> str:
        """Base URL people and providers reach the console at."""
        return self.voxanne_public_url or f"http://localhost:{self.port}"

    @property
    def data_dir(self) -> Path:
        """Absolute data directory."""
        return self.voxanne_data_dir.expanduser().resolve()


def _format_errors(exc: ValidationError) -> str:
    lines = ["Voxanne Admin cannot start: fix these settings (environment variables or .env):"]
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]).upper() or "SETTINGS"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {name}: {msg}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings, raising one SettingsError that lists every problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
