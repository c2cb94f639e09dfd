"""One call in full: transcript turns, cost breakdown, analysis and recording. The webhook events that built it
are the inbox's (`webhooks.service.call_events`): webhooks import calls, never the other way."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from voxanne_admin import formatting as fmt
from voxanne_admin.agents.models import Agent, PhoneNumber
from voxanne_admin.calls.families import family_label
from voxanne_admin.calls.filters import CallFilter, check_scope
from voxanne_admin.calls.models import Call, CallDetail, CostLine, Turn
from voxanne_admin.errors import NotFound
from voxanne_admin.flags import gates as flag_gates
from voxanne_admin.orgs.models import Organization
from voxanne_admin.privacy.masking import mask_number

_ROLES = {"bot": ("assistant", "Agent"), "assistant": ("assistant", "Agent"), "user": ("customer", "Caller"),
          "system": ("system", "System"), "tool_calls": ("tool", "Tool call"),
          "tool_call_result": ("tool", "Tool result")}


def _at(seconds: Any) -> str:
    try:
        total = max(0, int(float(seconds)))
    except (TypeError, ValueError):
        return ""
    return f"{total // 60}:{total % 60:02d}"


def _tool_text(message: dict[str, Any]) -> str:
    parts = []
    for item in message.get("toolCalls") or message.get("tool_calls") or []:
        fn = item.get("function") or item
        args = fn.get("arguments") or fn.get("parameters") or {}
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        shown = ", ".join(f"{k}={v}" for k, v in args.items()) if isinstance(args, dict) else str(args)
        parts.append(f"{fn.get('name') or 'tool'}({shown})")
    return "; ".join(parts) or str(message.get("message") or "")


def parse_turns(messages: list[Any] | None, transcript: str | None = None) -> list[Turn]:
    """Vapi artifact.messages (roles bot/user/system/tool_calls/tool_call_result) as speaker turns with times;
    the plain transcript ("AI: ..." / "User: ..." lines) when there are no messages."""
    turns: list[Turn] = []
    for m in messages or []:
        if not isinstance(m, dict):
            continue
        role, speaker = _ROLES.get(str(m.get("role") or ""), ("system", str(m.get("role") or "System")))
        if m.get("role") == "tool_calls":
            text, kind = _tool_text(m), "tool"
        elif m.get("role") == "tool_call_result":
            text = f"{m.get('name') or 'tool'} → {m.get('result') or m.get('message') or ''}"
            kind = "tool"
        else:
            text, kind = str(m.get("message") or m.get("content") or ""), "speech"
        if role == "system" and kind == "speech":
            continue  # the system prompt is configuration, not part of the conversation
        if text.strip():
            turns.append(Turn(role=role, speaker=speaker, text=text.strip(), at=_at(m.get("secondsFromStart")),
                              kind=kind))
    if not turns and transcript:
        for line in transcript.splitlines():
            head, sep, rest = line.partition(":")
            if sep and head.strip().lower() in ("ai", "assistant", "bot", "agent"):
                turns.append(Turn(role="assistant", speaker="Agent", text=rest.strip(), at="", kind="speech"))
            elif sep and head.strip().lower() in ("user", "customer", "caller"):
                turns.append(Turn(role="customer", speaker="Caller", text=rest.strip(), at="", kind="speech"))
            elif line.strip():
                turns.append(Turn(role="system", speaker="", text=line.strip(), at="", kind="speech"))
    return turns


def _cost_lines(costs: list[Any] | None) -> list[CostLine]:
    lines = []
    for item in costs or []:
        if not isinstance(item, dict) or item.get("cost") is None:
            continue
        label = str(item.get("type") or "cost")
        detail = item.get("provider") or item.get("model", {}).get("model") if isinstance(item.get("model"), dict) \
            else item.get("provider") or item.get("model")
        if detail:
            label = f"{label} ({detail})"
        try:
            amount = fmt.money(Decimal(str(item["cost"])))
        except InvalidOperation:
            continue
        lines.append(CostLine(label=label, amount=amount))
    return lines


def get_call(session: Session, *, call_id: int, org_ids: list[int], role: str | None = None) -> CallDetail:
    """One call with its transcript turns, costs and analysis (`events` is left empty: the caller adds the
    inbox's `webhooks.service.call_events`). A call outside
    `org_ids` (when given) is refused exactly like a missing one, so ids of other organizations leak nothing."""
    check_scope(CallFilter(org_ids=org_ids), role)
    call = session.get(Call, call_id)
    if call is None or (org_ids and call.org_id not in org_ids):
        raise NotFound(f"Call {call_id} does not exist in the organizations you are looking at; check the "
                       "organization switcher.")
    org = session.get(Organization, call.org_id) if call.org_id else None
    agent = session.get(Agent, call.agent_id) if call.agent_id else None
    if agent is None and call.assistant_id:
        agent = session.execute(sa.select(Agent).where(
            col(Agent.vapi_assistant_id) == call.assistant_id)).scalars().first()
    return CallDetail(
        id=call.id or 0, vapi_call_id=call.vapi_call_id or "", org_id=call.org_id or 0,
        org_name=org.name if org else "", agent_name=agent.name if agent else "", direction=call.direction or "",
        status=call.status, ended_reason=call.ended_reason or "",
        ended_family_label=family_label(call.ended_reason) if call.ended_reason else "",
        customer_masked=mask_number(call.customer_number), phone_number_masked=_phone_number_masked(session, call),
        started_at=fmt.timestamp(call.started_at, seconds=True), ended_at=fmt.timestamp(call.ended_at, seconds=True),
        duration=fmt.duration(call.duration_s),
        cost=fmt.money(call.cost), is_test=bool(call.is_test), cost_breakdown=_cost_lines(call.costs),
        turns=parse_turns(call.messages, call.transcript), summary=call.summary or "",
        analysis_json=json.dumps(call.analysis, indent=2, ensure_ascii=False) if call.analysis else "",
        recording_url=(call.recording_url or "") if flag_gates.call_recording(call.org_id) else "")


def _phone_number_masked(session: Session, call: Call) -> str:
    if not call.phone_number_id:
        return ""
    e164 = session.execute(sa.select(col(PhoneNumber.e164)).where(
        col(PhoneNumber.vapi_phone_number_id) == call.phone_number_id)).scalar()
    return mask_number(e164) if e164 else ""


