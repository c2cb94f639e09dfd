"""Typed settings from the environment and an optional `.env` file.

Every problem is collected and reported in one message at startup; secrets are
`SecretStr` so they never appear in logs, reprs or the browser.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voxanne_admin.settings.files import sandbox_secret
from voxanne_admin.settings.stored import stored_credential

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
    api_token_days: int = Field(default=90, ge=1, le=366,
                                description="Lifetime of a new API token in days (it stops working after).")
    trusted_proxies: str = Field(
        default="", description="Comma-separated proxy addresses or networks (10.0.0.5, 10.0.0.0/24) whose "
        "X-Forwarded-For is believed. Unset: the socket peer is the client, whatever the header says.")
    metrics_bind: str = Field(
        default="", description="host:port for a token-free Prometheus /metrics listener (127.0.0.1:9464). "
        "Unset: GET /metrics on PORT with an API token.")
    sentry_dsn: SecretStr | None = Field(default=None, description="Sentry DSN: errors go to Sentry, scrubbed of "
                                         "PHI, PII and secrets. Unset: no Sentry.")
    sentry_environment: str = Field(default="production", description="Sentry environment tag.")
    voxanne_drain_seconds: float = Field(
        default=3.0, ge=0, le=20, description="After SIGTERM: seconds /health/ready answers 503 (the proxy stops "
        "sending new requests) before workers stop; the whole shutdown stays under 30 s.")
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
        description="Async PostgreSQL connections per backend worker: webhook ingest (group commit) and the "
                    "appointment tools' transactions.")
    tool_call_concurrency: int = Field(
        default=32, ge=1, le=200,
        description="Agent tool calls without an async handler answered at once per backend worker (threads; "
                    "the database pool grows to match). More wait their turn.")
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
    database_owner_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of the schema owner (migrations, audit retention, backups). With an external "
        "DATABASE_URL set it to the owner role and DATABASE_URL to the least-privileged app role. Embedded: automatic.",
    )
    audit_hmac_key: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 keys of the audit trail, comma-separated, newest first (32+ characters each). "
        "Unset: VOXANNE_DATA_DIR/secrets/audit_hmac.keys (0600, generated on first start).",
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private keys that sign audit checkpoints (64 hex characters each, the raw key), "
        "comma-separated, newest first. Replicas share it this way instead of copying the key file. Unset: "
        "VOXANNE_DATA_DIR/secrets/audit_signing.keys (0600, generated on first start).",
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None, description="Where signed audit checkpoints (checkpoints.jsonl) are appended. "
        "Default VOXANNE_DATA_DIR/audit.",
    )
    audit_archive_dir: Path | None = Field(
        default=None, description="Where audit retention writes signed archive segments before deleting rows. "
        "Default VOXANNE_DATA_DIR/audit/archive.",
    )
    audit_auth_retention_days: int = Field(
        default=90, ge=1, description="Keep authentication audit events (sign-ins, sessions, MFA) this many days.")
    audit_retention_days: int = Field(
        default=6 * 365, ge=30, description="Keep every other audit event this many days (HIPAA: 6 years).")
    audit_checkpoint_seconds: int = Field(
        default=60, ge=5, le=3600, description="Seconds between signed audit checkpoints.")
    audit_stream_url: str = Field(
        default="", description="SIEM endpoint: every sealed audit event and checkpoint is POSTed there as JSON "
        "batches. https only (http only to a loopback address, for tests). Unset: no streaming.")
    audit_stream_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to AUDIT_STREAM_URL (Authorization: Bearer ...).")
    audit_stream_batch: int = Field(default=500, ge=1, le=10000, description="Audit events per SIEM POST.")
    audit_stream_interval_seconds: float = Field(
        default=5.0, ge=0.5, le=3600, description="How often the scheduler streams new sealed events.")
    audit_stream_attempts: int = Field(
        default=5, ge=1, le=50, description="POST attempts per batch and run before the run gives up (the next "
        "run starts again from the same batch: nothing is skipped).")
    audit_stream_backoff_seconds: float = Field(
        default=1.0, gt=0, le=600, description="First retry wait of a failed SIEM POST; doubles per attempt.")
    audit_stream_backoff_max_seconds: float = Field(
        default=60.0, gt=0, le=3600, description="Longest wait between two SIEM POST attempts.")
    twilio_api_key_sid: str | None = Field(default=None, description="Twilio API Key SID (SK...) for REST calls.")
    twilio_api_key_secret: SecretStr | None = Field(default=None, description="The Twilio API Key's secret.")
    credential_grace_hours: float = Field(
        default=24, ge=0, le=24 * 30,
        description="After a webhook-secret rotation, signatures with the old secret are accepted this long.")
    credential_max_age_days: int = Field(
        default=90, ge=1, le=3650, description="Credentials older than this are flagged (page, Overview, Slack).")
    spend_guard_calls_per_hour: int = Field(
        default=60, ge=1, description="Outbound calls per organization per hour before its outbound calling pauses.")
    spend_guard_cost_per_day: float = Field(
        default=100.0, gt=0, description="Provider cost (USD) per organization per 24 h before its calling pauses.")
    spend_guard_global_calls_per_hour: int = Field(
        default=500, ge=1, description="Outbound calls per hour across all organizations before all calling pauses.")
    spend_guard_global_cost_per_day: float = Field(
        default=1000.0, gt=0, description="Provider cost (USD) per 24 h across all organizations before it pauses.")

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        raw = value.get_secret_value().strip()
        scheme = raw.split("://", 1)[0]
        if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname")
        return SecretStr(raw)

    @field_validator("audit_stream_url")
    @classmethod
    def _stream_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        parsed = urlsplit(value)
        loopback = (parsed.hostname or "") in ("127.0.0.1", "::1", "localhost")
        if parsed.scheme == "https" and parsed.hostname:
            return value
        if parsed.scheme == "http" and loopback:
            return value
        raise ValueError("must be an https:// URL (http:// is allowed only to 127.0.0.1 or localhost, for tests), "
                         "for example https://siem.example.com/ingest/voxanne")

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

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        import ipaddress

        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = []
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                bad.append(item)
        if bad:
            raise ValueError(f"must be IP addresses or networks like 10.0.0.5 or 10.0.0.0/24 (not {', '.join(bad)})")
        return ",".join(items)

    @field_validator("metrics_bind")
    @classmethod
    def _metrics_bind(cls, value: str) -> str:
        value = value.strip()
        if value:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port such as 127.0.0.1:9464")
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
                     "oidc_client_secret", "audit_stream_token",
                     "twilio_api_key_secret", "sentry_dsn")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value: set the real secret or leave it unset")
        return value

    @model_validator(mode="after")
    def _providers_all_or_nothing(self) -> Settings:
        # Sandbox mode is "no provider credentials at all". Some but not all of them is a mistake (a typo, a
        # missing secret in the deploy), not a request for the sandbox: it would also drop the webhook secret.
        given = {"VAPI_API_KEY": self.vapi_api_key, "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                 "TWILIO_AUTH_TOKEN": self.twilio_auth_token}
        missing = [name for name, value in given.items() if not value]
        if missing and len(missing) < len(given):
            raise ValueError(f"provider credentials are half-configured: {', '.join(missing)} missing. Set all of "
                             "VAPI_API_KEY, TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or none for sandbox mode")
        return self

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
    def drain_marker(self) -> Path:
        """The file whose presence tells every worker of this replica that it is shutting down (readiness 503)."""
        return self.data_dir / "run" / "draining"

    @property
    def trusted_proxy_networks(self) -> tuple:
        """TRUSTED_PROXIES as ip_network objects."""
        import ipaddress

        return tuple(ipaddress.ip_network(v, strict=False) for v in self.trusted_proxies.split(",") if v)

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
        """The Vapi private key: VAPI_API_KEY, else the stored credential, else (sandbox) the per-data-dir key."""
        if self.vapi_api_key is not None:
            return self.vapi_api_key.get_secret_value()
        return stored_credential("vapi_key") or sandbox_secret(self.data_dir, "sandbox-vapi-key")

    @property
    def data_dir_default_vapi_key(self) -> str:
        """The key the Vapi sandbox issues to every new data directory."""
        return sandbox_secret(self.data_dir, "sandbox-vapi-key")

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
        """The Vapi webhook secret: VAPI_WEBHOOK_SECRET, else the stored one, else (sandbox) a per-data-dir one."""
        if self.vapi_webhook_secret is not None:
            return self.vapi_webhook_secret.get_secret_value()
        return stored_credential("vapi_webhook_secret") or sandbox_secret(self.data_dir, "vapi-webhook")

    @property
    def webhook_secrets(self) -> list[tuple[str, str]]:
        """Every Vapi webhook secret accepted now, as (label, secret): the current one, then during a rotation's
        grace window the previous one."""
        accepted = [("current", self.webhook_secret)]
        previous = stored_credential("vapi_webhook_secret", previous=True)
        if self.vapi_webhook_secret is None and previous:
            accepted.append(("previous", previous))
        return accepted

    @property
    def twilio_token(self) -> str:
        """Twilio auth token (validates Twilio's signatures): env, else stored, else (sandbox) a per-data-dir one."""
        if self.twilio_auth_token is not None:
            return self.twilio_auth_token.get_secret_value()
        return stored_credential("twilio_auth_token") or sandbox_secret(self.data_dir, "twilio-token")

    @property
    def twilio_sid(self) -> str:
        """Twilio account SID (sandbox: a fixed test SID)."""
        return self.twilio_account_sid or "AC" + "0" * 30

    @property
    def twilio_rest_auth(self) -> tuple[str, str]:
        """Basic-auth pair for Twilio's REST API: an API Key (env, else stored) when there is one, else the account
        SID and auth token."""
        if self.twilio_api_key_sid and self.twilio_api_key_secret is not None:
            return self.twilio_api_key_sid, self.twilio_api_key_secret.get_secret_value()
        stored = stored_credential("twilio_api_key")
        if stored and ":" in stored:
            sid, secret = stored.split(":", 1)
            return sid, secret
        return self.twilio_sid, self.twilio_token

    @property
    def slack_url(self) -> str | None:
        """The Slack incoming-webhook URL: SLACK_WEBHOOK_URL, else the stored one, else None (no alerts)."""
        if self.slack_webhook_url is not None:
            return self.slack_webhook_url.get_secret_value()
        return stored_credential("slack_webhook_url") or None

    @property
    def data_dir(self) -> Path:
        """Absolute data directory (resolved once per configured path and working directory: it is asked for on
        every webhook, and resolving walks the path's components)."""
        raw = self.voxanne_data_dir
        key = (raw, "" if raw.is_absolute() else os.getcwd())
        found = _resolved_dirs.get(key)
        if found is None:
            found = _resolved_dirs[key] = raw.expanduser().resolve()
        return found

    @property
    def audit_dir(self) -> Path:
        """Where signed audit checkpoints are appended (outside the database)."""
        return (self.audit_checkpoint_dir or self.data_dir / "audit").expanduser().resolve()

    @property
    def audit_archive_path(self) -> Path:
        """Where audit retention writes its signed archive segments."""
        return (self.audit_archive_dir or self.data_dir / "audit" / "archive").expanduser().resolve()

    @property
    def backup_dir(self) -> Path:
        """Absolute backup directory (base backups, dumps, archived WAL, scratch restores)."""
        return (self.voxanne_backup_dir or self.data_dir / "backups").expanduser().resolve()


_resolved_dirs: dict[tuple[Path, str], Path] = {}


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
