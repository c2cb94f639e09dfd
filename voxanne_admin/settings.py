"""Typed settings from the environment and an optional `.env` file.

Every problem is collected and reported in one message at startup; secrets are
`SecretStr` so they never appear in logs, reprs or the browser.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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
    vapi_base_url: str = Field(default="", description="Vapi API base. Default https://api.vapi.ai (sandbox: ours).")
    vapi_webhook_auth: Literal["secret", "bearer", "hmac"] = Field(default="hmac", description="Webhook auth mode.")
    vapi_webhook_secret: SecretStr | None = Field(default=None, description="Secret for Vapi webhooks.")
    vapi_webhook_signature_header: str = Field(default="x-vapi-signature", description="HMAC signature header.")
    vapi_webhook_timestamp_header: str = Field(default="", description="HMAC timestamp header (x-timestamp).")
    vapi_webhook_hmac_algorithm: Literal["sha1", "sha256", "sha512"] = Field(default="sha256")
    vapi_webhook_hmac_encoding: Literal["hex", "base64"] = Field(default="hex")
    vapi_webhook_hmac_prefix: str = Field(default="", description="Signature prefix, e.g. 'sha256='.")
    vapi_webhook_bearer_header: str = Field(default="authorization", description="Header carrying the bearer.")
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID. Unset: sandbox.")
    twilio_auth_token: SecretStr | None = Field(default=None, description="Twilio auth token.")
    twilio_base_url: str = Field(default="", description="Twilio API base (default https://api.twilio.com).")
    voxanne_backup_dir: Path | None = Field(
        default=None, description="Backups and archived WAL. Default VOXANNE_DATA_DIR/backups.")
    voxanne_backup_retention: int = Field(
        default=7, ge=1, le=365, description="Daily base backups (or dumps) kept, with the WAL they need.")
    slack_webhook_url: SecretStr | None = Field(default=None, description="Slack incoming webhook for alerts.")
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger webhook bodies get 413.")
    webhook_flush_max_rows: int = Field(
        default=100, ge=1, le=1000,
        description="Group commit: most webhook events written by one multi-row INSERT (one commit).")
    webhook_flush_delay_ms: float = Field(
        default=2.0, ge=0, le=100,
        description="Group commit: how long a flush waits to collect concurrent webhooks before it writes.")
    webhook_apply_workers: int = Field(
        default=1, ge=0, le=8,
        description="Inbox apply processes (`voxanne-admin webhooks work`) that serve starts and restarts; "
                    "0: each backend worker applies the inbox itself.")
    twilio_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=1024 * 1024,
        description="Larger Twilio callback bodies get 413 (Twilio sends a few KB).")
    twilio_max_fields: int = Field(
        default=200, ge=10, le=10000, description="Twilio form bodies with more name=value pairs get 400.")
    db_async_pool_size: int = Field(
        default=10, ge=1, le=100,
        description="Async PostgreSQL connections per backend worker for webhook ingest (group commit).")
    tool_call_concurrency: int = Field(
        default=32, ge=1, le=200,
        description="Agent tool calls answered at once per backend worker (threads; the database pool grows "
                    "to match). More wait their turn.")
    webhook_max_attempts: int = Field(default=3, ge=1, le=20, description="Attempts before dead letter.")
    webhook_lease_seconds: int = Field(default=30, ge=1, le=3600, description="Claim lease before re-claim.")
    webhook_completed_retention_hours: int = Field(default=24, ge=1, description="Keep completed inbox events.")
    webhook_history_retention_days: int = Field(default=7, ge=1, description="Keep delivery attempt history.")
    recording_retention_days: int = Field(
        default=90, ge=0, le=3650, description="Recording links of older calls are cleared daily (0: keep forever).")
    flags_reload_seconds: float = Field(default=30.0, ge=1, le=3600,
                                        description="Full reload of the in-process flag snapshot (safety net).")
    sandbox_call_seconds: float = Field(default=6.0, ge=0.5, le=600, description="Length of a sandbox call.")
    telephony_verify_timeout_seconds: int = Field(
        default=30, ge=5, le=600, description="How long a forwarding verification waits for the forwarded call.")
    telephony_ip_limit: int = Field(default=100, ge=1, description="Country changes / purchases per IP per 15 min.")
    telephony_org_limit: int = Field(default=1000, ge=1, description="Country changes / purchases per org per hour.")
    twilio_address_sid: str | None = Field(default=None, description="Twilio Address SID for regulated countries.")
    twilio_bundle_sid: str | None = Field(default=None, description="Twilio regulatory Bundle SID (GB).")
    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL for single sign-on. Unset: no SSO.")
    oidc_client_id: str = Field(default="", description="Client id registered at the OpenID Provider.")
    oidc_client_secret: SecretStr | None = Field(default=None, description="Client secret from the OpenID Provider.")
    oidc_allowed_domains: str = Field(default="", description="Comma-separated email domains allowed to sign in.")
    oidc_provider_name: str = Field(default="", description="Button label: 'Sign in with <name>' (default: guessed).")
    sso_jit_role: str = Field(default="", description="Role for unknown users of allowed domains (viewer/operator).")
    sso_trust_idp_mfa: bool = Field(default=False, description="Skip TOTP when the ID token's amr says MFA was done.")

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

    @field_validator("vapi_base_url", "twilio_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https:// URL such as https://accounts.google.com")
        return value

    @field_validator("oidc_allowed_domains")
    @classmethod
    def _domains(cls, value: str) -> str:
        domains = [d.strip().lower().lstrip("@") for d in value.split(",") if d.strip()]
        bad = [d for d in domains if "." not in d or " " in d or "@" in d]
        if bad:
            raise ValueError(f"must be domains like clinic.com, separated by commas (not {', '.join(bad)})")
        return ",".join(domains)

    @field_validator("sso_jit_role")
    @classmethod
    def _jit_role(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("admin", "founder"):
            raise ValueError("can be viewer or operator at most: give higher roles on the Staff page")
        if value not in ("", "viewer", "operator"):
            raise ValueError("must be viewer or operator (or unset: unknown users are refused)")
        return value

    @model_validator(mode="after")
    def _sso_complete(self) -> Settings:
        if self.oidc_issuer and not self.oidc_client_id.strip():
            raise ValueError("OIDC_CLIENT_ID is required when OIDC_ISSUER is set")
        if self.oidc_issuer and not self.oidc_allowed_domains:
            raise ValueError("OIDC_ALLOWED_DOMAINS is required when OIDC_ISSUER is set (like clinic.com)")
        return self

    @field_validator("vapi_api_key", "twilio_auth_token", "redis_url", "vapi_webhook_secret", "slack_webhook_url",
                     "oidc_client_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value: set the real secret or leave it unset")
        return value

    @model_validator(mode="after")
    def _production_needs_webhook_secret(self) -> Settings:
        if not self.sandbox and self.vapi_webhook_secret is None:
            raise ValueError("VAPI_WEBHOOK_SECRET is required when VAPI_API_KEY and Twilio credentials are set")
        return self

    @property
    def sandbox(self) -> bool:
        """True when provider credentials are missing and the built-in sandbox providers are used."""
        return self.vapi_api_key is None or self.twilio_account_sid is None or self.twilio_auth_token is None

    @property
    def sso_enabled(self) -> bool:
        """True when an OpenID Provider is configured."""
        return bool(self.oidc_issuer)

    @property
    def allowed_domains(self) -> tuple[str, ...]:
        """OIDC_ALLOWED_DOMAINS as a tuple of lower-case domains."""
        return tuple(d for d in self.oidc_allowed_domains.split(",") if d)

    @property
    def public_url(self) -> str:
        """Base URL people and providers reach the console at."""
        return self.voxanne_public_url or f"http://localhost:{self.port}"

    @property
    def internal_url(self) -> str:
        """How this server reaches itself over loopback (sandbox providers, their webhooks)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def vapi_key(self) -> str:
        """The Vapi private key; in sandbox mode without one, the per-data-dir key the Vapi sandbox accepts."""
        if self.vapi_api_key is not None:
            return self.vapi_api_key.get_secret_value()
        return _sandbox_secret(self.data_dir, "sandbox-vapi-key")

    @property
    def vapi_url(self) -> str:
        """Vapi API base: the configured one, the real one with a key, else our sandbox."""
        if self.vapi_base_url:
            return self.vapi_base_url
        return "https://api.vapi.ai" if self.vapi_api_key else f"{self.internal_url}/sandbox/vapi"

    @property
    def twilio_url(self) -> str:
        """Twilio API base: the configured one, the real one with credentials, else our sandbox."""
        if self.twilio_base_url:
            return self.twilio_base_url
        real = self.twilio_account_sid and self.twilio_auth_token
        return "https://api.twilio.com" if real else f"{self.internal_url}/sandbox/twilio"

    @property
    def webhook_secret(self) -> str:
        """The Vapi webhook secret; in sandbox mode without one, a per-data-dir generated secret."""
        if self.vapi_webhook_secret is not None:
            return self.vapi_webhook_secret.get_secret_value()
        return _sandbox_secret(self.data_dir, "vapi-webhook")

    @property
    def twilio_token(self) -> str:
        """Twilio auth token; in sandbox mode a per-data-dir generated one (the sandbox signs with it)."""
        if self.twilio_auth_token is not None:
            return self.twilio_auth_token.get_secret_value()
        return _sandbox_secret(self.data_dir, "twilio-token")

    @property
    def twilio_sid(self) -> str:
        """Twilio account SID (sandbox: a fixed test SID)."""
        return self.twilio_account_sid or "AC" + "0" * 30

    @property
    def data_dir(self) -> Path:
        """Absolute data directory."""
        return self.voxanne_data_dir.expanduser().resolve()

    @property
    def backup_dir(self) -> Path:
        """Absolute backup directory (base backups, dumps, archived WAL, scratch restores)."""
        return (self.voxanne_backup_dir or self.data_dir / "backups").expanduser().resolve()


@functools.lru_cache(maxsize=8)
def _sandbox_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data directory so every worker and restart shares it."""
    import os
    import secrets

    path = data_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f"{name}.{os.getpid()}.tmp")
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic create-if-absent: the first process to get here wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


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
