"""Agents: validate, save with versions, diff, restore, and build what Vapi receives.

Syncing to Vapi lives in the flow layer, `agents/flows.py` (network, outside any transaction).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import formatting
from voxanne_admin.agents.models import (
    CONFIG_FIELDS,
    MODELS,
    ROLES,
    TOOLS,
    VOICES,
    Agent,
    AgentRead,
    AgentVersion,
    AgentVersionRead,
)
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import InvalidInput, NotFound
from voxanne_admin.orgs.models import Organization
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

TOOL_NAMES = {name for name, _ in TOOLS}
FIELD_LABELS = {"name": "Name", "system_prompt": "System prompt", "first_message": "First message",
                "voice_provider": "Voice provider", "voice_id": "Voice", "model_provider": "Model provider",
                "model_name": "Model", "temperature": "Temperature", "max_tokens": "Max tokens",
                "max_duration_s": "Max call length", "tools": "Tools"}
VOICE_KEYS = {(p, v) for p, v, _ in VOICES}
MODEL_KEYS = {(p, m) for p, m, _ in MODELS}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_vapi_uuid(value: str | None) -> bool:
    """A Vapi phone-number id is a UUID, never an E.164 number (invariant 3)."""
    return bool(value) and bool(UUID_RE.match(str(value)))


def _fmt(dt) -> str:
    return formatting.timestamp(dt)


def default_config(org: Organization, role: str) -> dict[str, Any]:
    """A sensible starting configuration for a new agent."""
    short = org.name[: 40 - len(role) - 1].rstrip()
    if role == "inbound":
        prompt = (f"You are the friendly receptionist of {org.name}. Answer questions about opening hours and "
                  "services, and book appointments with the check_availability and book_appointment tools. "
                  "Never give medical advice; offer to book an appointment instead.")
        first = f"Thank you for calling {org.name}. How can I help you today?"
    else:
        prompt = (f"You call patients back on behalf of {org.name} to book or confirm appointments. Be brief and "
                  "polite, confirm the patient's name, and use the tools to find and book a time.")
        first = f"Hello, this is the assistant from {org.name} returning your call about an appointment."
    return {"name": f"{short} {role}", "system_prompt": prompt, "first_message": first, "voice_provider": "11labs",
            "voice_id": "sarah", "model_provider": "openai", "model_name": "gpt-4o", "temperature": 0.5,
            "max_tokens": 250, "max_duration_s": 600, "tools": sorted(TOOL_NAMES)}


def validate(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean the editor's values; returns (config, {field: message}) with every problem at once."""
    errors: dict[str, str] = {}
    config: dict[str, Any] = {}
    name = " ".join(str(raw.get("name", "")).split())
    if not name:
        errors["name"] = "Give the agent a name."
    elif len(name) > 40:
        errors["name"] = f"Vapi allows at most 40 characters; this name has {len(name)}."
    config["name"] = name
    prompt = str(raw.get("system_prompt", "")).strip()
    if len(prompt) < 20:
        errors["system_prompt"] = "Write a system prompt of at least 20 characters: it is how the agent behaves."
    elif len(prompt) > 20000:
        errors["system_prompt"] = "Keep the system prompt under 20,000 characters."
    config["system_prompt"] = prompt
    first = " ".join(str(raw.get("first_message", "")).split())
    if len(first) > 1000:
        errors["first_message"] = "Keep the first message under 1,000 characters."
    config["first_message"] = first
    voice = (str(raw.get("voice_provider", "")), str(raw.get("voice_id", "")))
    if voice not in VOICE_KEYS:
        errors["voice"] = "Choose a voice from the list."
    config["voice_provider"], config["voice_id"] = voice
    model = (str(raw.get("model_provider", "")), str(raw.get("model_name", "")))
    if model not in MODEL_KEYS:
        errors["model"] = "Choose a model from the list."
    config["model_provider"], config["model_name"] = model
    try:
        temperature = round(float(raw.get("temperature", 0.5)), 2)
        if not 0 <= temperature <= 2:
            raise ValueError
    except (TypeError, ValueError):
        errors["temperature"] = "Temperature is a number from 0 to 2 (0.3-0.7 suits phone calls)."
        temperature = 0.5
    config["temperature"] = temperature
    for field, low, high, label in (("max_tokens", 50, 4000, "Max tokens"),
                                    ("max_duration_s", 60, 3600, "Max call duration")):
        try:
            value = int(float(raw.get(field, 0)))
            if not low <= value <= high:
                raise ValueError
        except (TypeError, ValueError):
            errors[field] = f"{label} must be a whole number from {low} to {high}."
            value = low
        config[field] = value
    tools = raw.get("tools", [])
    if isinstance(tools, str):
        tools = [t for t in tools.split(",") if t]
    unknown = [t for t in tools if t not in TOOL_NAMES]
    if unknown:
        errors["tools"] = f"Unknown tools: {', '.join(unknown)}."
    config["tools"] = sorted(t for t in set(tools) if t in TOOL_NAMES)
    return config, errors


def config_of(agent: Agent) -> dict[str, Any]:
    """The editable configuration of an agent."""
    return {field: getattr(agent, field) for field in CONFIG_FIELDS}


def to_read(agent: Agent, org_name: str = "") -> AgentRead:
    """Read model."""
    return AgentRead(
        id=agent.id or 0, org_id=agent.org_id, org_name=org_name, role=agent.role, name=agent.name,
        system_prompt=agent.system_prompt, first_message=agent.first_message, voice_provider=agent.voice_provider,
        voice_id=agent.voice_id, model_provider=agent.model_provider, model_name=agent.model_name,
        temperature=agent.temperature, max_tokens=agent.max_tokens, max_duration_s=agent.max_duration_s,
        tools=list(agent.tools or []), vapi_assistant_id=agent.vapi_assistant_id or "",
        vapi_phone_number_id=agent.vapi_phone_number_id or "", version=agent.version, sync_status=agent.sync_status,
        sync_error=agent.sync_error or "", synced_at=_fmt(agent.synced_at), updated_at=_fmt(agent.updated_at),
        updated_by=agent.updated_by or "",
    )


def get(session: Session, *, agent_id: int) -> Agent:
    """The agent or NotFound."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("That agent does not exist.")
    return agent


def get_for_org(session: Session, *, org_id: int, role: str) -> Agent | None:
    """The organization's agent with that role, or None (never an error: callers say what is missing)."""
    return session.exec(select(Agent).where(Agent.org_id == org_id, Agent.role == role)).first()


def list_agents(session: Session, *, org_id: int | None = None) -> list[AgentRead]:
    """Agents with their organization names, by organization then role."""
    query = select(Agent, col(Organization.name)).join(Organization, col(Organization.id) == col(Agent.org_id))
    if org_id:
        query = query.where(Agent.org_id == org_id)
    rows = session.exec(query.order_by(Organization.name, Agent.role)).all()
    return [to_read(agent, name) for agent, name in rows]


def save(session: Session, *, org_id: int, role: str, raw: dict[str, Any], actor: Actor,
         actor_role: str | None) -> Agent:
    """Create or update an agent (operator and up); every save is a new version; sync is queued."""
    require_role(actor_role, "operator")
    if role not in ROLES:
        raise InvalidInput("The agent role is inbound or outbound.", field="role")
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound("That organization does not exist.")
    if org.status != "active":
        raise InvalidInput(f"{org.name} is closed: its agents cannot be changed.")
    config, errors = validate(raw)
    if errors:
        field, message = next(iter(errors.items()))
        exc = InvalidInput(message, field=field)
        exc.errors = errors  # type: ignore[attr-defined]
        raise exc
    agent = session.exec(select(Agent).where(Agent.org_id == org_id, Agent.role == role).with_for_update()).first()
    before = config_of(agent) if agent else None
    if agent is not None and before == config:
        return agent
    if agent is None:
        agent = Agent(org_id=org_id, role=role, version=1, **config)
    else:
        for key, value in config.items():
            setattr(agent, key, value)
        agent.version += 1
    agent.sync_status = "pending"
    agent.sync_error = None
    agent.updated_at = utcnow()
    agent.updated_by = actor.email or actor.id
    session.add(agent)
    session.flush()
    changed = [k for k in CONFIG_FIELDS if not before or before.get(k) != config.get(k)]
    session.add(AgentVersion(agent_id=agent.id or 0, version=agent.version, config=config, changed=changed,
                             created_by=agent.updated_by))
    audit.record(session, actor=actor, action="agent_saved", target_type="agent", target_id=agent.id, org_id=org_id,
                 diff={**audit.make_diff(before, config), "version": agent.version})
    return agent


def versions(session: Session, *, agent_id: int) -> list[AgentVersionRead]:
    """Saved versions, newest first."""
    rows = session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent_id)
                        .order_by(AgentVersion.version.desc())).all()  # type: ignore[attr-defined]
    return [AgentVersionRead(version=r.version, created_by=r.created_by or "", created_at=_fmt(r.created_at),
                             changed=", ".join(FIELD_LABELS.get(c, c) for c in r.changed or []),
                             restored_from=r.restored_from or 0) for r in rows]


def diff_versions(session: Session, *, agent_id: int, a: int, b: int) -> list[dict[str, str]]:
    """Field by field differences between two versions."""
    rows = {r.version: r for r in session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent_id,
                                                                          AgentVersion.version.in_((a, b))))}  # type: ignore[attr-defined]
    if a not in rows or b not in rows:
        raise NotFound("Pick two versions that exist.")
    old, new = rows[a].config, rows[b].config
    return [{"field": FIELD_LABELS.get(k, k), "before": str(old.get(k, "")), "after": str(new.get(k, ""))}
            for k in CONFIG_FIELDS if old.get(k) != new.get(k)]


def restore(session: Session, *, agent_id: int, version: int, actor: Actor, actor_role: str | None) -> Agent:
    """Restore an old version as a NEW version (history is never rewritten)."""
    require_role(actor_role, "operator")
    agent = get(session, agent_id=agent_id)
    old = session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent_id,
                                                  AgentVersion.version == version)).first()
    if old is None:
        raise NotFound(f"Version {version} does not exist.")
    saved = save(session, org_id=agent.org_id, role=agent.role, raw=dict(old.config), actor=actor,
                 actor_role=actor_role)
    latest = session.exec(select(AgentVersion).where(AgentVersion.agent_id == agent_id,
                                                     AgentVersion.version == saved.version)).first()
    if latest is not None and latest.version != version:
        latest.restored_from = version
        session.add(latest)
    return saved


def tool_definitions(tools: list[str], server_url: str) -> list[dict[str, Any]]:
    """Vapi function tools answered by /webhooks/vapi."""
    specs = {
        "check_availability": ("Find free appointment times on a date (clinic's local time).", {
            "date": {"type": "string", "description": "The date, as YYYY-MM-DD."}}, ["date"]),
        "book_appointment": ("Book an appointment slot for the caller.", {
            "contact_name": {"type": "string", "description": "The patient's full name."},
            "contact_phone": {"type": "string", "description": "The patient's phone number."},
            "slot_start": {"type": "string", "description": "Start, local time, as YYYY-MM-DDTHH:MM."},
            "duration_minutes": {"type": "integer", "description": "Length in minutes (default 30)."}},
            ["contact_name", "contact_phone", "slot_start"]),
    }
    out = []
    for name in tools:
        description, properties, required = specs[name]
        out.append({"type": "function", "async": False, "server": {"url": server_url, "timeoutSeconds": 20},
                    "function": {"name": name, "description": description,
                                 "parameters": {"type": "object", "properties": properties, "required": required}}})
    return out


def vapi_payload(agent: Agent | dict[str, Any], *, org_id: int, agent_id: int | None = None) -> dict[str, Any]:
    """Exactly what is sent to Vapi (full nested objects: Vapi replaces them wholesale on PATCH)."""
    config = agent if isinstance(agent, dict) else config_of(agent)
    server_url = f"{get_settings().public_url}/webhooks/vapi"
    return {
        "name": config["name"],
        "firstMessage": config["first_message"],
        "model": {
            "provider": config["model_provider"],
            "model": config["model_name"],
            "messages": [{"role": "system", "content": config["system_prompt"]}],
            "temperature": config["temperature"],
            "maxTokens": config["max_tokens"],
            "tools": tool_definitions(list(config.get("tools") or []), server_url),
        },
        "voice": {"provider": config["voice_provider"], "voiceId": config["voice_id"]},
        "server": {"url": server_url, "timeoutSeconds": 20},
        "serverMessages": ["status-update", "end-of-call-report", "tool-calls", "transcript[transcriptType=\"final\"]"],
        "maxDurationSeconds": config["max_duration_s"],
        "metadata": {"org_id": org_id, **({"agent_id": agent_id} if agent_id else {}), "source": "voxanne-admin"},
    }


def count_by_sync_status(session: Session) -> dict[str, int]:
    """Agents per sync status."""
    return dict(session.exec(select(Agent.sync_status, sa.func.count()).group_by(Agent.sync_status)).all())
