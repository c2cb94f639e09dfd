"""Twilio voice call legs from voice-status callbacks (forwarding verification uses ForwardedFrom)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

VOICE_STATUS_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, "completed": 4, "busy": 4,
                     "failed": 4, "no-answer": 4, "canceled": 4}


class VoiceLeg(SQLModel, table=True):
    __tablename__ = "voice_legs"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    call_sid: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    org_id: int | None = Field(default=None, index=True)
    status: str = Field(max_length=32)
    status_rank: int = Field(default=0)
    sequence: int = Field(default=-1)
    direction: str | None = Field(default=None, max_length=32)
    from_number: str | None = Field(default=None, max_length=32)
    to_number: str | None = Field(default=None, max_length=32)
    forwarded_from: str | None = Field(default=None, max_length=32)
    duration_s: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# ------------------------------------------------------------------ forwarding rules, setups, provisioning journal

SETUP_STATUSES = ("not_started", "codes_issued", "verified", "failed")
RULE_TYPES = ("unconditional", "busy", "no_answer", "unreachable")
NUMBER_FORMATS = ("international", "national", "national_digits")
JOURNAL_STATES = ("intent", "bought", "imported", "recorded", "rolled_back", "released", "adopted", "abandoned")


class CarrierForwardingRule(SQLModel, table=True):
    """One carrier's forwarding codes as data (seeded by migration 0004, editable by admins, audited)."""

    __tablename__ = "carrier_forwarding_rules"
    __table_args__ = (
        sa.UniqueConstraint("country", "carrier", name="uq_carrier_forwarding_rules_country_carrier"),
        sa.CheckConstraint("number_format in ('international', 'national', 'national_digits')",
                           name="ck_carrier_forwarding_rules_format"),
        sa.CheckConstraint("line_type in ('mobile', 'landline')", name="ck_carrier_forwarding_rules_line_type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    country: str = Field(max_length=2, index=True)
    carrier: str = Field(max_length=64)
    line_type: str = Field(max_length=16)
    unconditional: str = Field(default="", max_length=64)
    unconditional_cancel: str = Field(default="", max_length=32)
    unconditional_check: str = Field(default="", max_length=32)
    busy: str = Field(default="", max_length=64)
    busy_cancel: str = Field(default="", max_length=32)
    busy_check: str = Field(default="", max_length=32)
    no_answer: str = Field(default="", max_length=64)
    no_answer_cancel: str = Field(default="", max_length=32)
    no_answer_check: str = Field(default="", max_length=32)
    unreachable: str = Field(default="", max_length=64)
    unreachable_cancel: str = Field(default="", max_length=32)
    unreachable_check: str = Field(default="", max_length=32)
    number_format: str = Field(max_length=16)
    forwards_international: bool = Field(default=True)
    domestic_only_reason: str = Field(default="", max_length=300)
    confidence: str = Field(default="unconfirmed", max_length=32)
    source: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(default="", max_length=254)


class TelephonySetup(SQLModel, table=True):
    """An organization's telephony setup: country, our number, the clinic's line, codes and verification."""

    __tablename__ = "telephony_setups"
    __table_args__ = (
        sa.CheckConstraint("status in ('not_started', 'codes_issued', 'verified', 'failed')",
                           name="ck_telephony_setups_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", ondelete="CASCADE", sa_column_kwargs={"unique": True})
    country: str = Field(default="", max_length=2)
    number_id: int | None = Field(default=None, foreign_key="phone_numbers.id", ondelete="SET NULL")
    clinic_number: str = Field(default="", max_length=20)
    clinic_line_type: str = Field(default="", max_length=32)
    carrier: str = Field(default="", max_length=64)
    rule_id: int | None = Field(default=None, foreign_key="carrier_forwarding_rules.id", ondelete="SET NULL")
    forwarding_type: str = Field(default="", max_length=16)
    ring_timer: int = Field(default=0)
    activate_code: str = Field(default="", max_length=80)
    check_code: str = Field(default="", max_length=32)
    cancel_code: str = Field(default="", max_length=32)
    target_as_dialled: str = Field(default="", max_length=20)
    warnings: list[str] = Field(default_factory=list, sa_type=JSONB)
    status: str = Field(default="not_started", max_length=16)
    status_reason: str = Field(default="", max_length=500)
    verification_call_sid: str = Field(default="", max_length=64)
    verification_started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    verified_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    codes_issued_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(default="", max_length=254)


def setup_snapshot(row: TelephonySetup) -> dict[str, Any]:
    """The fields of a setup the audit trail diffs. Keys avoid the word "code": the audit trail redacts keys that
    look like secrets."""
    return {"country": row.country, "number_id": row.number_id, "clinic_number": row.clinic_number,
            "carrier": row.carrier, "forwarding_type": row.forwarding_type, "ring_timer": row.ring_timer,
            "activate": row.activate_code, "check": row.check_code, "cancel": row.cancel_code,
            "status": row.status, "status_reason": row.status_reason}


class NumberProvisioning(SQLModel, table=True):
    """The provisioning journal: written BEFORE buying (own transaction) so reconciliation can repair a crash."""

    __tablename__ = "number_provisionings"
    __table_args__ = (sa.Index("ix_number_provisionings_e164", "e164"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", ondelete="CASCADE", index=True)
    e164: str = Field(max_length=20)
    country: str = Field(max_length=2)
    number_type: str = Field(max_length=16)
    state: str = Field(default="intent", max_length=16, index=True)
    twilio_sid: str = Field(default="", max_length=64)
    vapi_phone_number_id: str = Field(default="", max_length=64)
    phone_number_id: int | None = Field(default=None)
    error: str = Field(default="", max_length=1000)
    actor: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


# ------------------------------------------------------------------ read models (plain fields for Reflex vars)


class CountryRead(BaseModel):
    """A supported country as the setup page shows it."""

    iso: str
    name: str
    calling_code: str
    number_types: list[str]
    needs_address: bool
    needs_bundle: bool
    self_serve: bool
    two_way_sms: bool
    guidance: str
    carriers: list[str]
    suggested_number_countries: list[str]


class AvailableNumberRead(BaseModel):
    """A number that can be bought."""

    e164: str
    display: str
    locality: str
    region: str
    address_requirements: str
    capabilities: str


class ClinicLineRead(BaseModel):
    """The clinic's existing line, validated."""

    e164: str
    display: str
    line_type: str
    region: str
    carrier_hint: str
    carrier_choices: list[str]
    warning: str


class SetupRead(BaseModel):
    """An organization's telephony setup for the step-by-step page."""

    org_id: int
    org_name: str
    org_country: str
    country: str
    status: str
    status_label: str
    status_reason: str
    number_id: int
    number_e164: str
    number_display: str
    number_country: str
    clinic_number: str
    clinic_display: str
    clinic_line_type: str
    carrier: str
    forwarding_type: str
    ring_timer: int
    activate_code: str
    check_code: str
    cancel_code: str
    target_as_dialled: str
    warnings: list[str]
    verified_at: str
    updated_at: str
    step: int
    verifying: bool = False
    guidance: str = ""
    suggested_number_countries: list[str] = []


class OverviewRow(BaseModel):
    """One organization's telephony status in the overview table."""

    org_id: int
    org_name: str
    country: str
    status: str
    status_label: str
    number_display: str
    clinic_display: str
    carrier: str
    updated_at: str


class RuleRead(BaseModel):
    """A carrier forwarding rule as staff read and edit it (templates use {N} for the number, {T} the timer)."""

    id: int
    country: str
    carrier: str
    line_type: str
    unconditional: str
    busy: str
    no_answer: str
    unreachable: str
    cancel_codes: str
    check_codes: str
    number_format: str
    forwards_international: bool
    confidence: str
    source: str
    updated_at: str
    updated_by: str
    unconditional_cancel: str = ""
    busy_cancel: str = ""
    no_answer_cancel: str = ""
    unreachable_cancel: str = ""
    unconditional_check: str = ""
    busy_check: str = ""
    no_answer_check: str = ""
    unreachable_check: str = ""
    domestic_only_reason: str = ""
