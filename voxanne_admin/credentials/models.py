"""The stored provider credentials (encrypted under the vault's keyring) and their read models."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow


class ProviderCredential(SQLModel, table=True):
    """One credential kind (`vapi_key`, `vapi_webhook_secret`, `twilio_api_key`, `twilio_auth_token`,
    `slack_webhook_url`): the active value and, during a webhook-secret grace window, the previous one."""

    __tablename__ = "provider_credentials"

    name: str = Field(primary_key=True, max_length=40)
    value_enc: str = Field(sa_type=sa.Text)  # Fernet ciphertext (vault)
    last4: str = Field(max_length=8)
    sandbox: bool = Field(default=False)  # verified against the built-in sandbox providers
    previous_enc: str | None = Field(default=None, sa_type=sa.Text)
    previous_last4: str | None = Field(default=None, max_length=8)
    previous_expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    activated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_reminded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(default="", max_length=200)


class CredentialRead(BaseModel):
    """A credential as the page shows it: never the value, only its last 4 characters."""

    name: str
    label: str
    source: str  # "environment (VAPI_API_KEY)" | "stored (encrypted)" | "sandbox (generated)" | "not set"
    read_only: bool
    masked: str  # "••••abcd" or ""
    sandbox: bool
    age: str  # "12 days" or ""
    age_days: int
    activated_at: str
    last_used: str
    old: bool  # older than CREDENTIAL_MAX_AGE_DAYS
    previous_masked: str = ""
    previous_until: str = ""
    rotatable: bool = True
