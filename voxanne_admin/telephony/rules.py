"""The carrier forwarding-rules table (admin): list the rules, edit one with validation; audited.

A service: functions take the caller's session and never commit. The step-4 code generator reads the same rows
(`telephony.service.get_rule` / `rule_from_row`).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import InvalidInput, NotFound
from voxanne_admin.telephony.models import NUMBER_FORMATS, RULE_TYPES, CarrierForwardingRule, RuleRead
from voxanne_admin.telephony.service import _fmt, _who
from voxanne_admin.timeutil import utcnow

RULE_ROLE = "admin"  # carrier rule edits


def _rule_read(row: CarrierForwardingRule) -> RuleRead:
    def joined(suffix: str) -> str:
        return "; ".join(f"{t}={getattr(row, f'{t}{suffix}')}" for t in RULE_TYPES if getattr(row, f"{t}{suffix}"))

    return RuleRead(
        id=row.id or 0, country=row.country, carrier=row.carrier, line_type=row.line_type,
        unconditional=row.unconditional, busy=row.busy, no_answer=row.no_answer, unreachable=row.unreachable,
        cancel_codes=joined("_cancel"), check_codes=joined("_check"), number_format=row.number_format,
        forwards_international=row.forwards_international, confidence=row.confidence, source=row.source,
        updated_at=_fmt(row.updated_at), updated_by=row.updated_by,
        **{f"{t}{s}": getattr(row, f"{t}{s}") for t in RULE_TYPES for s in ("_cancel", "_check")},
        domestic_only_reason=row.domestic_only_reason,
    )


def list_rules(session: Session, *, country: str = "") -> list[RuleRead]:
    """Carrier forwarding rules (optionally one country's), by country and carrier."""
    query = select(CarrierForwardingRule).order_by(CarrierForwardingRule.country, CarrierForwardingRule.carrier)
    if country:
        query = query.where(CarrierForwardingRule.country == country.upper())
    return [_rule_read(r) for r in session.exec(query).all()]


TEMPLATE_FIELDS = {f"{t}{s}" for t in RULE_TYPES for s in ("", "_cancel", "_check")}
TEXT_FIELDS = {"confidence", "source", "domestic_only_reason"}
EDITABLE = TEMPLATE_FIELDS | TEXT_FIELDS | {"number_format", "forwards_international", "line_type",
                                            "cancel_codes", "check_codes"}
DIAL_CHARS = set("0123456789*#+")


def _parse_joined(text: str, field: str) -> dict[str, str]:
    """'unconditional=##21#; busy=##67#' -> {unconditional_cancel: ...}; a missing type becomes empty."""
    suffix = "_cancel" if field == "cancel_codes" else "_check"
    out = {f"{t}{suffix}": "" for t in RULE_TYPES}
    for part in str(text or "").split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in RULE_TYPES:
            raise InvalidInput(f"Write {field.replace('_', ' ')} as 'unconditional=##21#; busy=##67#' using the "
                               f"types {', '.join(RULE_TYPES)}.", field=field)
        out[f"{name}{suffix}"] = value.strip()
    return out


def _validate_rule(values: dict[str, Any]) -> None:
    for field in TEMPLATE_FIELDS:
        value = values[field]
        kind = field.split("_cancel")[0].split("_check")[0]
        rest = value.replace("{N}", "").replace("{T}", "")
        if any(ch not in DIAL_CHARS for ch in rest):
            raise InvalidInput(f"{field}: '{value}' has characters a phone keypad cannot dial; use digits, *, #, + "
                               "and the placeholders {N} (number) and {T} (ring timer).", field=field)
        if field in RULE_TYPES:
            if value and "{N}" not in value:
                raise InvalidInput(f"{field}: the activation template needs {{N}} where the number goes.",
                                   field=field)
            if "{T}" in value and kind != "no_answer":
                raise InvalidInput(f"{field}: only no-answer forwarding takes a ring timer {{T}}.", field=field)
            if value and not values[f"{field}_cancel"]:
                raise InvalidInput(f"{field}: give a cancel code too, or the clinic cannot undo forwarding.",
                                   field=f"{field}_cancel")
        elif "{N}" in value or "{T}" in value:
            raise InvalidInput(f"{field}: cancel and check codes take no placeholders.", field=field)
    if values["number_format"] not in NUMBER_FORMATS:
        raise InvalidInput(f"number_format must be one of {', '.join(NUMBER_FORMATS)}.", field="number_format")
    if values["line_type"] not in ("mobile", "landline"):
        raise InvalidInput("line_type must be mobile or landline.", field="line_type")
    if values["forwards_international"] and values["number_format"] != "international":
        raise InvalidInput("A carrier that forwards abroad needs the international number format.",
                           field="number_format")
    if not any(values[t] for t in RULE_TYPES):
        raise InvalidInput("A rule needs at least one forwarding type with an activation template.",
                           field="unconditional")


def update_rule(session: Session, *, rule_id: int, changes: dict[str, Any], actor: Actor,
                actor_role: str | None) -> RuleRead:
    """Edit a carrier rule (admin): validated, and audited with a diff of what changed."""
    require_role(actor_role, RULE_ROLE)
    row = session.exec(select(CarrierForwardingRule).where(CarrierForwardingRule.id == rule_id)
                       .with_for_update()).first()
    if row is None:
        raise NotFound(f"Forwarding rule {rule_id} does not exist. Reload the rules list.")
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidInput(f"These fields cannot be edited: {', '.join(unknown)}.", field=unknown[0])
    fields = sorted(EDITABLE - {"cancel_codes", "check_codes"})
    before = {f: getattr(row, f) for f in fields}
    values = dict(before)
    for joined in ("cancel_codes", "check_codes"):
        if joined in changes:
            values.update(_parse_joined(changes[joined], joined))
    for key, value in changes.items():
        if key in ("cancel_codes", "check_codes"):
            continue
        if key == "forwards_international":
            values[key] = value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")
        else:
            values[key] = str(value or "").strip()
    _validate_rule(values)
    diff = audit.make_diff(before, values)
    if not diff:
        return _rule_read(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at, row.updated_by = utcnow(), _who(actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="forwarding_rule_updated", target_type="carrier_forwarding_rule",
                 target_id=row.id, diff={"carrier": f"{row.country} {row.carrier}", **diff})
    return _rule_read(row)
