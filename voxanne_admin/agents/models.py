"""Per-organization voice agents (inbound and outbound), their saved versions, and the org's phone numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from voxanne_admin.timeutil import utcnow

ROLES = ("inbound", "outbound")
SYNC_STATUSES = ("never", "pending", "syncing", "synced", "failed")

# Curated choices the editor offers (provider, id, label).
VOICES = [
    ("11labs", "burt", "Burt (11labs, warm male)"),
    ("11labs", "sarah", "Sarah (11labs, calm female)"),
    ("openai", "alloy", "Alloy (OpenAI, neutral)"),
    ("openai", "nova", "Nova (OpenAI, bright female)"),
    ("cartesia", "sonic-english-lady", "Sonic lady (Cartesia, British female)"),
]
MODELS = [
    ("openai", "gpt-4o", "GPT-4o (OpenAI)"),
    ("openai", "gpt-4o-mini", "GPT-4o mini (OpenAI, faster)"),
    ("anthropic", "claude-3-5-sonnet-20241022", "Claude 3.5 Sonnet (Anthropic)"),
]
TOOLS = [
    ("check_availability", "Check free appointment slots"),
    ("book_appointment", "Book an appointment"),
]
CONFIG_FIELDS = ("name", "system_prompt", "first_message", "voice_provider", "voice_id", "model_provider",
                 "model_name", "temperature", "max_tokens", "max_duration_s", "tools")


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "role", name="uq_agents_org_role"),
        sa.CheckConstraint("role in ('inbound', 'outbound')", name="ck_agents_role"),
        sa.CheckConstraint("char_length(name) <= 40", name="ck_agents_name_length"),
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)
    name: str = Field(max_length=40)
    system_prompt: str = Field(sa_type=sa.Text)
    first_message: str = Field(default="", max_length=1000)
    voice_provider: str = Field(max_length=32)
    voice_id: str = Field(max_length=64)
    model_provider: str = Field(max_length=32)
    model_name: str = Field(max_length=64)
    temperature: float = Field(default=0.5)
    max_tokens: int = Field(default=250)
    max_duration_s: int = Field(default=600)
    tools: list[str] = Field(default_factory=list, sa_type=JSONB)
    vapi_assistant_id: str | None = Field(default=None, max_length=64)
    vapi_phone_number_id: str | None = Field(default=None, max_length=64)
    version: int = Field(default=1)
    sync_status: str = Field(default="never", max_length=16)
    sync_error: str | None = Field(default=None, max_length=1000)
    synced_version: int | None = Field(default=None)
    synced_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str | None = Field(default=None, max_length=254)


class AgentVersion(SQLModel, table=True):
    __tablename__ = "agent_versions"
    __table_args__ = (sa.UniqueConstraint("agent_id", "version", name="uq_agent_versions"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True, ondelete="CASCADE")
    version: int
    config: dict[str, Any] = Field(sa_type=JSONB)
    changed: list[str] = Field(default_factory=list, sa_type=JSONB)
    created_by: str | None = Field(default=None, max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    restored_from: int | None = Field(default=None)


class PhoneNumber(SQLModel, table=True):
    """A number an organization owns (bought through Twilio, imported into Vapi)."""

    __tablename__ = "phone_numbers"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organizations.id", index=True, ondelete="CASCADE")
    e164: str = Field(max_length=20, sa_column_kwargs={"unique": True})
    country: str = Field(max_length=2)
    number_type: str = Field(default="local", max_length=16)
    twilio_sid: str | None = Field(default=None, max_length=64)
    vapi_phone_number_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AgentRead(BaseModel):
    """An agent as the pages show it (Vapi ids shown; no secrets exist on agents)."""

    id: int
    org_id: int
    org_name: str
    role: str
    name: str
    system_prompt: str
    first_message: str
    voice_provider: str
    voice_id: str
    model_provider: str
    model_name: str
    temperature: float
    max_tokens: int
    max_duration_s: int
    tools: list[str]
    vapi_assistant_id: str
    vapi_phone_number_id: str
    version: int
    sync_status: str
    sync_error: str
    synced_at: str
    updated_at: str
    updated_by: str


class AgentVersionRead(BaseModel):
    """One saved version in the history list."""

    version: int
    created_by: str
    created_at: str
    changed: str
    restored_from: int
