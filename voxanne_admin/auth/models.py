"""Staff accounts, sessions, recovery codes and sign-in attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

ROLES = ("viewer", "operator", "admin", "founder")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"
    __table_args__ = (
        sa.CheckConstraint("role in ('viewer', 'operator', 'admin', 'founder')", name="ck_staff_role"),
        sa.CheckConstraint("email = lower(email)", name="ck_staff_email_lower"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True})
    name: str = Field(max_length=120)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    # Encrypted under the vault's keyring (auth.secrets_at_rest); never the clear seed.
    totp_secret: str | None = Field(default=None, max_length=400)
    mfa_enabled: bool = Field(default=False)
    # Last TOTP time step accepted: a code of that step or earlier is refused (no replay).
    totp_last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    failed_attempts: int = Field(default=0)
    locked_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_login_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    # Single sign-on: password sign-in refused (founders excepted); the IdP's subject once linked.
    sso_only: bool = Field(default=False)
    sso_subject: str | None = Field(default=None, max_length=300)
    # Set when an administrator chose the password: the person must replace it before using the console.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Failed sign-ins before this moment no longer count (an administrator lifted the lock; auth.lockout).
    failures_reset_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # SHA-256 of the bearer token: a database read does not yield usable sessions.
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    staff_id: int = Field(foreign_key="staff_users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=400)
    # "" for password sign-in, else the single sign-on provider's name (shown on the Account page).
    auth_provider: str = Field(default="", max_length=60)
    # The IdP reported MFA and SSO_TRUST_IDP_MFA allowed it to stand in for TOTP.
    idp_mfa: bool = Field(default=False)
    # Last time the person re-entered their password or a TOTP code in this session (sensitive actions need it
    # within REAUTH_WINDOW, ASVS 3.7.1).
    reauth_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class SsoLogin(SQLModel, table=True):
    """One single sign-on attempt: state, nonce and PKCE verifier (server-side), then the TOTP hand-off."""

    __tablename__ = "sso_logins"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    state_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    nonce: str = Field(max_length=64)
    code_verifier: str = Field(max_length=128)
    next_path: str = Field(default="/overview", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # After the IdP said who it is and TOTP is still needed: the one-time ticket the sign-in page redeems.
    staff_id: int | None = Field(default=None, foreign_key="staff_users.id", ondelete="CASCADE")
    ticket_hash: str | None = Field(default=None, max_length=64, sa_column_kwargs={"unique": True})
    ticket_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_codes"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff_users.id", index=True, ondelete="CASCADE")
    # auth.secrets_at_rest.recovery_hash: keyed with a key outside the database.
    code_hash: str = Field(max_length=128)
    used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_ip_time", "ip", "occurred_at"),
                      sa.Index("ix_login_attempts_account_time", "account_key", "occurred_at"))

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    ip: str = Field(default="", max_length=64)
    staff_id: int | None = Field(default=None, index=True)
    # auth.lockout.account_key of the email tried (unknown emails too): failures are counted by account and IP.
    account_key: str = Field(default="", max_length=40, sa_column_kwargs={"server_default": ""})
    stage: str = Field(max_length=16)  # password | mfa
    succeeded: bool
    reason: str = Field(default="", max_length=64)


class ApiToken(SQLModel, table=True):
    """A monitoring token created on the Account page; carries its owner's role."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff_users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    prefix: str = Field(max_length=12)
    # What the token may be used for (auth.tokens.SCOPES), within its owner's role.
    scopes: list[str] = Field(default_factory=list, sa_type=JSONB)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ApiTokenRead(BaseModel):
    """A token as the Account page lists it (never the secret)."""

    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str
    scopes: str = ""
    expires_at: str = ""


class StaffRead(BaseModel):
    """What the UI shows of a staff member (never hashes or secrets)."""

    id: int
    email: str
    name: str
    role: str
    mfa_enabled: bool
    disabled: bool
    locked: bool
    last_login_at: str = ""
    created_at: str = ""


class SessionRead(BaseModel):
    """One of a staff member's sessions as the Account page lists it."""

    id: str
    ip: str
    user_agent: str
    created_at: str
    last_seen_at: str
    current: bool
    provider: str = ""
