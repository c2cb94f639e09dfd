"""Telephony setup per organization: country, our number, the clinic's line, forwarding codes from the rules
table, verification; plus Twilio voice status callbacks (a status never moves backwards).

A service: functions take a session and never commit. What calls Twilio or Vapi (search, provisioning,
reconciliation, the verification test call) is the flow layer, `telephony/flows/`, which commits short
transactions around those calls. The rules that match a voice callback to a waiting verification are in
`telephony/verification.py`.
"""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
from phonenumbers import carrier as pn_carrier
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from voxanne_admin import formatting
from voxanne_admin.agents.models import PhoneNumber
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound
from voxanne_admin.orgs.models import Organization
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import countries, forwarding, places, verification
from voxanne_admin.telephony.models import (
    RULE_TYPES,
    VOICE_STATUS_RANK,
    CarrierForwardingRule,
    ClinicLineRead,
    CountryRead,
    OverviewRow,
    SetupRead,
    TelephonySetup,
    VoiceLeg,
    setup_snapshot,
)
from voxanne_admin.telephony.ratelimit import check_rate
from voxanne_admin.timeutil import utcnow

EDIT_ROLE = "operator"  # setup changes
STATUS_LABELS = {
    "not_started": "Not started",
    "codes_issued": "Codes issued: the clinic dials the activation code, then we verify with a test call",
    "verified": "Verified: forwarded calls reach Voxanne",
    "failed": "Failed",
}
LINE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline or mobile",
    phonenumbers.PhoneNumberType.VOIP: "VoIP",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll-free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared cost",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal number",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "company number (UAN)",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}
REFUSED_LINE_TYPES = {"toll-free", "premium rate", "shared cost", "pager", "voicemail"}
CROWN_DEPENDENCIES = {"GG": "Guernsey", "JE": "Jersey", "IM": "the Isle of Man"}

__all__ = [
    "apply_voice_status", "configure_forwarding", "display", "get_setup", "inspect_clinic_number", "list_countries",
    "list_overview", "set_country", "verification_status",
]


# ------------------------------------------------------------------ helpers


def _fmt(dt) -> str:
    return formatting.timestamp(dt)


def _who(actor: Actor) -> str:
    return actor.email or actor.id or actor.type


def display(e164: str) -> str:
    """A number formatted for people (+1 201-555-0123); the input unchanged when it does not parse."""
    if not e164:
        return ""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def suggested_number_countries(iso: str) -> list[str]:
    """Where a clinic in a non-self-serve country can get a number: the self-serve supported countries."""
    country = countries.get(iso)
    if country.self_serve:
        return []
    return [c.iso for c in countries.COUNTRIES.values() if c.self_serve and c.iso != iso]


def _country_read(country: countries.Country) -> CountryRead:
    suggested = suggested_number_countries(country.iso)
    guidance = country.guidance
    if suggested:
        guidance += (
            f" Suggested: a number in {' or '.join(suggested)}. Before the clinic dials a code: some carriers "
            "refuse to forward to international numbers (the code generator refuses those), and every forwarded "
            "call is billed to the clinic's line at international rates by its carrier."
        )
    return CountryRead(
        iso=country.iso, name=country.name, calling_code=country.calling_code, number_types=list(country.number_types),
        needs_address=country.needs_address, needs_bundle=country.needs_bundle, self_serve=country.self_serve,
        two_way_sms=country.two_way_sms, guidance=guidance, carriers=list(country.carriers),
        suggested_number_countries=suggested,
    )


def list_countries() -> list[CountryRead]:
    """The supported countries (allow-list data), each with its guidance, carriers and number suggestions."""
    return [_country_read(c) for c in countries.COUNTRIES.values()]


def _org(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"Organization {org_id} does not exist. Pick an organization from the list.")
    return org


def _setup(session: Session, org_id: int, *, lock: bool = False) -> TelephonySetup | None:
    query = select(TelephonySetup).where(TelephonySetup.org_id == org_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def _setup_for_update(session: Session, org_id: int) -> TelephonySetup:
    """The org's setup row, created when missing, locked for this transaction."""
    session.execute(insert(TelephonySetup).values(
        org_id=org_id, country="", clinic_number="", clinic_line_type="", carrier="", forwarding_type="",
        ring_timer=0, activate_code="", check_code="", cancel_code="", target_as_dialled="", warnings=[],
        status="not_started", status_reason="", verification_call_sid="", created_at=utcnow(),
        updated_at=utcnow(), updated_by="",
    ).on_conflict_do_nothing(index_elements=["org_id"]))
    row = _setup(session, org_id, lock=True)
    assert row is not None
    return row


def verifying(row: TelephonySetup | None) -> bool:
    """A test call was placed and neither a forwarded call nor a failure has been recorded yet."""
    return bool(row and row.verification_started_at and row.status == "codes_issued")


def _label(row: TelephonySetup | None) -> str:
    if row is None:
        return STATUS_LABELS["not_started"]
    if verifying(row):
        return "Verifying: test call placed, waiting for it to arrive forwarded on our number"
    if row.status == "failed":
        return f"Failed: {row.status_reason}" if row.status_reason else "Failed"
    if row.status == "not_started" and row.country:
        return "In progress: country chosen" + (", number provisioned" if row.number_id else "")
    return STATUS_LABELS[row.status]


def _step(row: TelephonySetup | None) -> int:
    if row is None or not row.country:
        return 1
    if not row.number_id:
        return 2
    if not row.activate_code:
        return 3
    if row.status == "codes_issued" and not row.verification_started_at:
        return 4
    return 5


def _to_read(session: Session, org: Organization, row: TelephonySetup | None) -> SetupRead:
    number = session.get(PhoneNumber, row.number_id) if row and row.number_id else None
    country = row.country if row else ""
    guidance = ""
    suggested: list[str] = []
    if country:
        info = _country_read(countries.get(country))
        guidance, suggested = info.guidance, info.suggested_number_countries
    return SetupRead(
        org_id=org.id or 0, org_name=org.name, org_country=org.country, country=country,
        status=row.status if row else "not_started", status_label=_label(row),
        status_reason=row.status_reason if row else "", number_id=number.id or 0 if number else 0,
        number_e164=number.e164 if number else "", number_display=display(number.e164) if number else "",
        number_country=number.country if number else "", clinic_number=row.clinic_number if row else "",
        clinic_display=display(row.clinic_number) if row else "", clinic_line_type=row.clinic_line_type if row else "",
        carrier=row.carrier if row else "", forwarding_type=row.forwarding_type if row else "",
        ring_timer=row.ring_timer if row else 0, activate_code=row.activate_code if row else "",
        check_code=row.check_code if row else "", cancel_code=row.cancel_code if row else "",
        target_as_dialled=row.target_as_dialled if row else "", warnings=list(row.warnings or []) if row else [],
        verified_at=_fmt(row.verified_at) if row else "", updated_at=_fmt(row.updated_at) if row else "",
        step=_step(row), verifying=verifying(row), guidance=guidance, suggested_number_countries=suggested,
    )


# ------------------------------------------------------------------ reads


def get_setup(session: Session, *, org_id: int) -> SetupRead:
    """The organization's setup as the step-by-step page shows it (not started when none exists)."""
    return _to_read(session, _org(session, org_id), _setup(session, org_id))


def list_overview(session: Session) -> list[OverviewRow]:
    """Every organization's telephony status, by name."""
    orgs = session.exec(select(Organization).order_by(Organization.name)).all()
    setups = {s.org_id: s for s in session.exec(select(TelephonySetup)).all()}
    numbers = {n.id: n for n in session.exec(select(PhoneNumber)).all()}
    rows = []
    for org in orgs:
        setup = setups.get(org.id or 0)
        number = numbers.get(setup.number_id) if setup and setup.number_id else None
        rows.append(OverviewRow(
            org_id=org.id or 0, org_name=org.name, country=(setup.country if setup else "") or org.country,
            status=setup.status if setup else "not_started", status_label=_label(setup),
            number_display=display(number.e164) if number else "",
            clinic_display=display(setup.clinic_number) if setup else "", carrier=setup.carrier if setup else "",
            updated_at=_fmt(setup.updated_at) if setup else "",
        ))
    return rows


# ------------------------------------------------------------------ step 1: country


def set_country(session: Session, *, org_id: int, country: str, actor: Actor, actor_role: str | None,
                ip: str = "") -> SetupRead:
    """Choose the telephony country (refused outside the allow-list; rate limited; audited). Changing it
    clears the clinic line and codes, which belong to the old country."""
    require_role(actor_role, EDIT_ROLE)
    check_rate(action="country", ip=ip or actor.ip or "", org_id=org_id)
    info = countries.get(country)
    org = _org(session, org_id)
    row = _setup_for_update(session, org_id)
    before = setup_snapshot(row)
    if row.country != info.iso:
        row.country = info.iso
        _clear_forwarding(row)
        row.status, row.status_reason = "not_started", ""
    row.updated_at, row.updated_by = utcnow(), _who(actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_country_set", target_type="telephony_setup",
                 target_id=row.id, org_id=org_id, diff=audit.make_diff(before, setup_snapshot(row)))
    return _to_read(session, org, row)


def _clear_forwarding(row: TelephonySetup) -> None:
    row.clinic_number = row.clinic_line_type = row.carrier = row.forwarding_type = ""
    row.activate_code = row.check_code = row.cancel_code = row.target_as_dialled = ""
    row.ring_timer, row.rule_id, row.warnings = 0, None, []
    row.verification_call_sid, row.verification_started_at, row.verified_at, row.codes_issued_at = "", None, None, None


# ------------------------------------------------------------------ step 3: the clinic's line


def _carrier_hint(parsed: phonenumbers.PhoneNumber, choices: list[str]) -> str:
    name = (pn_carrier.name_for_number(parsed, "en") or "").strip()
    if not name:
        return ""
    lowered = name.lower()
    for choice in choices:
        c = choice.lower()
        if c == lowered or c.startswith(lowered + " ") or lowered.startswith(c + " ") or lowered == c.split()[0]:
            return choice
    return ""


def inspect_clinic_number(*, raw: str, country: str) -> ClinicLineRead:
    """Validate the clinic's existing number with phonenumbers: its type, region and carrier (suggested from the
    metadata when it is one of the country's carriers). The known traps are refused or warned with the reason."""
    info = countries.get(country)
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("Enter the clinic's existing phone number.", field="clinic_number")
    try:
        parsed = phonenumbers.parse(text, info.iso)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            f"'{text}' is not a phone number. Enter it as the clinic dials it (e.g. {_example(info.iso)}) or in "
            f"international form starting with {info.calling_code}.", field="clinic_number") from None
    shown = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if not phonenumbers.is_valid_number(parsed):
        national = str(parsed.national_number)
        if parsed.country_code == 44 and national.startswith("7700900"):
            reason = ("it is in the 07700 900xxx range Ofcom reserves for TV and film, so it never reaches a "
                      "phone")
        elif parsed.country_code == 234 and len(national) < 10:
            reason = ("Nigerian numbers have 10 digits after +234 (11 with the leading 0); this looks like the old "
                      "landline form, which no longer connects")
        else:
            reason = f"it does not match any {info.name} numbering range"
        raise InvalidInput(f"{shown} is not a valid number: {reason}. Check the digits with the clinic.",
                           field="clinic_number")
    region = phonenumbers.region_code_for_number(parsed) or ""
    if region in CROWN_DEPENDENCIES and info.iso == "GB":
        raise InvalidInput(
            f"{shown} is a {CROWN_DEPENDENCIES[region]} ({region}) number, not a United Kingdom one: it shares "
            f"+44 but its carriers (e.g. {pn_carrier.name_for_number(parsed, 'en') or 'local operators'}) are not "
            "UK carriers, so we cannot generate forwarding codes for it. Check the number with the clinic, or ask "
            "its carrier to set up forwarding.", field="clinic_number")
    if region != info.iso:
        other = countries.COUNTRIES.get(region)
        where = other.name if other else region
        raise InvalidInput(
            f"{shown} is a {where} number, but this setup is for {info.name}. Enter the clinic's {info.name} line, "
            f"or change the country in step 1.", field="clinic_number")
    line_type = LINE_TYPES.get(phonenumbers.number_type(parsed), "unknown")
    if line_type in REFUSED_LINE_TYPES:
        raise InvalidInput(
            f"{shown} is a {line_type} number: forwarding is configured in its provider's portal, not by dialling "
            "codes. Enter the clinic's landline or mobile, or set forwarding to our number in that portal.",
            field="clinic_number")
    warnings = []
    if not text.startswith(("+", "00")):
        warnings.append(f"Entered in national form and read as {shown}: check this is the clinic's number.")
    if line_type == "VoIP":
        warnings.append(
            f"{shown} is a VoIP/national number (e.g. Türkiye's 0850 range), not a mobile or landline of a listed "
            "carrier: dialled codes may not work. Set forwarding in the VoIP provider's portal if they fail, then "
            "verify with the test call.")
    choices = list(info.carriers)
    hint = _carrier_hint(parsed, choices)
    if not hint and line_type == "landline" and info.iso == "US":
        hint = "US landline"
    return ClinicLineRead(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), display=shown,
        line_type=line_type, region=places.place_of(parsed) or info.name, carrier_hint=hint,
        carrier_choices=choices, warning=" ".join(warnings),
    )


def _example(iso: str) -> str:
    example = phonenumbers.example_number_for_type(iso, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL) if example else ""


# ------------------------------------------------------------------ step 4: codes


def rule_from_row(row: CarrierForwardingRule) -> forwarding.Rule:
    """The generator's Rule from a carrier_forwarding_rules row (empty template = not offered)."""
    return forwarding.Rule(
        country=row.country, carrier=row.carrier, line_type=row.line_type,
        templates={t: (getattr(row, t) or None, getattr(row, f"{t}_cancel") or None) for t in RULE_TYPES},
        status_check={t: getattr(row, f"{t}_check") or None for t in RULE_TYPES},
        number_format=row.number_format, forwards_international=row.forwards_international,
        domestic_only_reason=row.domestic_only_reason, confidence=row.confidence, source=row.source,
    )


def get_rule(session: Session, *, country: str, carrier: str) -> CarrierForwardingRule:
    """The forwarding rule for a carrier, or a refusal that lists the carriers we have rules for."""
    row = session.exec(select(CarrierForwardingRule).where(CarrierForwardingRule.country == country,
                                                            CarrierForwardingRule.carrier == carrier)).first()
    if row is None:
        known = session.exec(select(CarrierForwardingRule.carrier).where(
            CarrierForwardingRule.country == country).order_by(CarrierForwardingRule.carrier)).all()
        raise InvalidInput(
            f"We have no forwarding codes for {carrier or 'that carrier'} in {country}. Choose one of: "
            f"{', '.join(known) or 'none'}; or ask an admin to add the carrier's codes.", field="carrier")
    return row


def configure_forwarding(session: Session, *, org_id: int, clinic_number: str, carrier: str, forwarding_type: str,
                         ring_timer: int, actor: Actor, actor_role: str | None) -> SetupRead:
    """Validate the clinic's line, generate the codes from the rules table and issue them (status codes_issued;
    audited). Refusals raise ForwardingRefused with the alternative."""
    require_role(actor_role, EDIT_ROLE)
    org = _org(session, org_id)
    row = _setup_for_update(session, org_id)
    if not row.country:
        raise InvalidInput("Choose the country first (step 1).", field="country")
    number = session.get(PhoneNumber, row.number_id) if row.number_id else None
    if number is None:
        raise InvalidInput("Provision a number first (step 2): the clinic forwards its line to that number.",
                           field="number")
    line = inspect_clinic_number(raw=clinic_number, country=row.country)
    other = session.exec(select(Organization.name)
                         .join(TelephonySetup, col(TelephonySetup.org_id) == col(Organization.id))
                         .where(TelephonySetup.clinic_number == line.e164, TelephonySetup.org_id != org_id)).first()
    if other is not None:
        # Almost always a typo; and verification could not tell the two organizations' forwards apart.
        raise Conflict(f"{line.display} is already the clinic line of {other}. Check the number with the clinic; if "
                       f"the line moved, clear it from {other}'s setup first.")
    rule_row = get_rule(session, country=row.country, carrier=carrier)
    timer = ring_timer or None
    abroad = tuple(session.exec(select(CarrierForwardingRule.carrier).where(
        CarrierForwardingRule.country == row.country, CarrierForwardingRule.forwards_international.is_(True))  # type: ignore[attr-defined]
        .order_by(CarrierForwardingRule.carrier)).all())
    codes = forwarding.generate(rule_from_row(rule_row), forwarding_type, number.e164, timer, abroad)
    warnings = list(codes.warnings)
    if line.warning:
        warnings.insert(0, line.warning)
    if rule_row.line_type == "landline" and line.line_type == "mobile":
        warnings.append(f"{line.display} is a mobile number but {carrier} is a landline carrier: check the carrier.")
    if rule_row.line_type == "mobile" and line.line_type == "landline":
        warnings.append(f"{line.display} is a landline but {carrier} codes are for mobiles: check the carrier.")
    if forwarding_type in ("busy", "unreachable"):
        warnings.append("The verification test call only arrives forwarded while the line is busy or off: for "
                        "this type, verify while the clinic's line is engaged or switched off.")
    before = setup_snapshot(row)
    row.clinic_number, row.clinic_line_type, row.carrier, row.rule_id = line.e164, line.line_type, carrier, rule_row.id
    row.forwarding_type = forwarding_type
    row.ring_timer = codes.ring_timer  # 0 when the carrier's code takes no ring time (e.g. Verizon *71)
    row.activate_code, row.check_code, row.cancel_code = codes.activate, codes.check or "", codes.cancel
    row.target_as_dialled, row.warnings = codes.target_as_dialled, warnings
    row.status, row.status_reason = "codes_issued", ""
    row.verification_call_sid, row.verification_started_at, row.verified_at = "", None, None
    row.codes_issued_at = row.updated_at = utcnow()
    row.updated_by = _who(actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="telephony_codes_issued", target_type="telephony_setup",
                 target_id=row.id, org_id=org_id, diff=audit.make_diff(before, setup_snapshot(row)))
    return _to_read(session, org, row)


# ------------------------------------------------------------------ voice status callbacks + verification match


def apply_voice_status(session: Session, *, form: dict[str, str]) -> VoiceLeg:
    """Upsert the leg by CallSid; SequenceNumber and status rank keep late callbacks from undoing later ones.
    A leg that arrives forwarded on an org's number completes that org's pending verification."""
    sid = form["CallSid"]
    status = form.get("CallStatus") or "queued"
    rank = VOICE_STATUS_RANK.get(status, 0)
    seq = int(form["SequenceNumber"]) if str(form.get("SequenceNumber", "")).isdigit() else -1
    session.execute(
        insert(VoiceLeg)
        .values(call_sid=sid, status=status, status_rank=rank, sequence=seq, direction=form.get("Direction"),
                from_number=form.get("From"), to_number=form.get("To"), forwarded_from=form.get("ForwardedFrom"),
                created_at=utcnow(), updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["call_sid"])
    )
    row = session.exec(select(VoiceLeg).where(VoiceLeg.call_sid == sid).with_for_update()).one()
    if rank > row.status_rank or (rank == row.status_rank and seq > row.sequence):
        row.status, row.status_rank, row.sequence = status, rank, max(seq, row.sequence)
        if form.get("CallDuration", "").isdigit():
            row.duration_s = int(form["CallDuration"])
        row.updated_at = utcnow()
    row.forwarded_from = row.forwarded_from or form.get("ForwardedFrom")
    session.add(row)
    verification.match_leg(session, leg=row, status=status)
    return row


def expire_verification(session: Session, row: TelephonySetup) -> bool:
    """Mark a verification that has waited longer than the timeout as failed (audited); True if it did."""
    if not verifying(row) or row.verification_started_at is None:
        return False
    timeout = timedelta(seconds=get_settings().telephony_verify_timeout_seconds)
    if utcnow() - row.verification_started_at < timeout:
        return False
    verification.fail(session, row, verification.NO_FORWARDED_CALL)
    return True


def expire_verifications(session: Session) -> int:
    """Fail every verification that waited past the timeout (nobody may be polling); returns how many."""
    cutoff = utcnow() - timedelta(seconds=get_settings().telephony_verify_timeout_seconds)
    rows = session.exec(select(TelephonySetup).where(
        TelephonySetup.status == "codes_issued",
        TelephonySetup.verification_started_at < cutoff,  # type: ignore[operator]
    ).with_for_update(skip_locked=True)).all()
    return sum(expire_verification(session, row) for row in rows)


def verification_status(session: Session, *, org_id: int) -> SetupRead:
    """The setup while a verification runs (the UI polls this); a verification past its timeout is failed here."""
    org = _org(session, org_id)
    row = _setup(session, org_id, lock=False)
    if verifying(row):
        row = _setup(session, org_id, lock=True)
        if row is not None:
            expire_verification(session, row)
    return _to_read(session, org, row)
