"""Carrier call-forwarding codes: pure domain code, no I/O.

Given a carrier's rule (data: templates, the number format it expects, whether it forwards abroad), a forwarding
type, an optional ring timer and the target number, produce the exact codes to dial to activate, check and cancel
forwarding, or refuse combinations that cannot work with an explanation and an alternative.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from voxanne_admin.errors import InvalidInput

TYPES = {
    "unconditional": "all calls",
    "busy": "when the line is busy",
    "no_answer": "when nobody answers",
    "unreachable": "when the phone is off or unreachable",
}
TIMERS = (5, 10, 15, 20, 25, 30)
DEFAULT_TIMER = 20


@dataclass(frozen=True)
class Rule:
    """One carrier's forwarding behaviour (a row of carrier_forwarding_rules)."""

    country: str
    carrier: str
    line_type: str  # mobile | landline
    templates: dict[str, tuple[str | None, str | None]]  # type -> (activate, cancel); {N} number, {T} timer
    status_check: dict[str, str | None]  # type -> interrogation code
    number_format: str  # international | national | national_digits
    forwards_international: bool
    domestic_only_reason: str = ""
    confidence: str = "unconfirmed"
    source: str = ""


@dataclass(frozen=True)
class Codes:
    """What the clinic dials, and how the target was written for this carrier."""

    activate: str
    check: str | None
    cancel: str
    target_as_dialled: str
    description: str
    warnings: tuple[str, ...] = ()
    ring_timer: int = 0  # seconds written into the activation code; 0 when the code carries no ring time


class ForwardingRefused(InvalidInput):
    """This carrier cannot forward that way; `alternative` says what to do instead."""

    def __init__(self, message: str, alternative: str):
        super().__init__(f"{message} {alternative}".strip(), field="forwarding")
        self.reason = message
        self.alternative = alternative


def format_target(rule: Rule, target: phonenumbers.PhoneNumber) -> str:
    """The target number the way this carrier expects it."""
    if rule.number_format == "international":
        return phonenumbers.format_number(target, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(target, phonenumbers.PhoneNumberFormat.NATIONAL)
    digits = "".join(ch for ch in national if ch.isdigit())
    if rule.number_format == "national_digits":  # e.g. US: 10 digits, no trunk prefix
        return str(target.national_number)
    return digits  # national with the trunk prefix, e.g. Turkcell 05xxxxxxxxx, UK 07xxxxxxxxx


def _domestic_alternative(rule: Rule, abroad_carriers: tuple[str, ...]) -> str:
    from voxanne_admin.telephony import countries

    country = countries.COUNTRIES.get(rule.country)
    if country is not None and not country.self_serve:
        # No number can be bought in this country: the clinic needs a line that forwards abroad.
        others = [c for c in abroad_carriers if c != rule.carrier]
        return ("Ask the clinic whether another of its lines can forward abroad"
                + (f", or use a carrier that does ({', '.join(others)})." if others else "."))
    return (f"Provision a {rule.country} number for this clinic and forward to it, or ask the clinic whether "
            "another line (for example a landline) can forward abroad.")


def generate(rule: Rule, forwarding_type: str, target_e164: str, timer: int | None = None,
             abroad_carriers: tuple[str, ...] = ()) -> Codes:
    """Codes to activate, check and cancel forwarding on the clinic's line (`abroad_carriers`: the country's
    carriers that forward abroad, named in a refusal's alternative)."""
    if forwarding_type not in TYPES:
        raise InvalidInput(f"Choose a forwarding type: {', '.join(TYPES)}.", field="forwarding_type")
    try:
        target = phonenumbers.parse(target_e164)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"'{target_e164}' is not a phone number in international form.", field="target") from None
    if not phonenumbers.is_valid_number(target):
        raise InvalidInput(f"{target_e164} is not a valid number to forward to.", field="target")
    target_country = phonenumbers.region_code_for_number(target)
    abroad = target_country != rule.country
    if abroad and not rule.forwards_international:
        reason = rule.domestic_only_reason.rstrip(".")
        raise ForwardingRefused(
            f"{rule.carrier} {rule.line_type} lines in {rule.country} cannot forward to a number in "
            f"{target_country}{': ' + reason + '.' if reason else '.'}",
            _domestic_alternative(rule, abroad_carriers),
        )
    if abroad and rule.number_format != "international":
        raise ForwardingRefused(
            f"{rule.carrier} expects the target in national format, which cannot express a number in {target_country}.",
            f"Forward to a {rule.country} number instead.",
        )
    activate_template, cancel_template = rule.templates.get(forwarding_type, (None, None))
    if not activate_template or not cancel_template:
        offered = [TYPES[t] for t, (a, c) in rule.templates.items() if a and c]
        raise ForwardingRefused(
            f"{rule.carrier} does not offer forwarding {TYPES[forwarding_type]}.",
            f"Use one of: {', '.join(offered)}." if offered else "",
        )
    if forwarding_type == "no_answer":
        timer = DEFAULT_TIMER if timer is None else timer
        if timer not in TIMERS:
            raise InvalidInput("The ring timer is 5 to 30 seconds in steps of 5.", field="timer")
    elif timer is not None and "{T}" not in activate_template:
        timer = None
    number = format_target(rule, target)
    activate = activate_template.replace("{N}", number).replace("{T}", str(timer or ""))
    if "{T}" in activate_template and forwarding_type != "no_answer":
        raise InvalidInput("Only no-answer forwarding takes a ring timer.", field="timer")
    warnings = []
    carries_timer = forwarding_type == "no_answer" and "{T}" in activate_template
    if forwarding_type == "no_answer" and not carries_timer:
        warnings.append(f"{rule.carrier}'s code has no ring-time setting: the line rings for the carrier's own "
                        "default time before the call is forwarded.")
    if abroad:
        warnings.append(
            f"Calls forwarded to {target_country} are billed to the clinic's line at international "
            "rates by its carrier."
        )
    if rule.confidence != "confirmed":
        warnings.append(
            f"These codes for {rule.carrier} are {rule.confidence} ({rule.source}): dial the check "
            "code after activating, and place a test call before relying on it."
        )
    return Codes(
        activate=activate,
        check=rule.status_check.get(forwarding_type),
        cancel=cancel_template,
        target_as_dialled=number,
        description=f"Forward {TYPES[forwarding_type]} to {number}",
        warnings=tuple(warnings),
        ring_timer=(timer or 0) if carries_timer else 0,
    )


def gsm_rule(
    country: str,
    carrier: str,
    *,
    number_format: str = "international",
    forwards_international: bool = True,
    confidence: str = "unconfirmed",
    source: str = "3GPP TS 22.030 defaults",
    domestic_only_reason: str = "",
) -> Rule:
    """The GSM MMI defaults (3GPP TS 22.030) most mobile carriers use."""
    return Rule(
        country=country,
        carrier=carrier,
        line_type="mobile",
        templates={
            "unconditional": ("**21*{N}#", "##21#"),
            "busy": ("**67*{N}#", "##67#"),
            "no_answer": ("**61*{N}**{T}#", "##61#"),
            "unreachable": ("**62*{N}#", "##62#"),
        },
        status_check={"unconditional": "*#21#", "busy": "*#67#", "no_answer": "*#61#", "unreachable": "*#62#"},
        number_format=number_format,
        forwards_international=forwards_international,
        confidence=confidence,
        source=source,
        domestic_only_reason=domestic_only_reason,
    )


def default_rules() -> list[Rule]:
    """The seed data for carrier_forwarding_rules (contracts/telephony.md), as the migration stores it."""
    return [
        Rule(
            "US",
            "Verizon",
            "mobile",
            {
                "unconditional": ("*72{N}", "*73"),
                "busy": ("*71{N}", "*73"),
                "no_answer": ("*71{N}", "*73"),
                "unreachable": ("*71{N}", "*73"),
            },
            {"unconditional": None, "busy": None, "no_answer": None, "unreachable": None},
            "national_digits",
            False,
            "Verizon forwards to 10-digit US numbers",
            "confirmed",
            "Verizon support (*72); *71/*73 from secondary sources",
        ),
        gsm_rule(
            "US",
            "AT&T",
            number_format="national_digits",
            forwards_international=False,
            domestic_only_reason="AT&T has historically refused international and toll-free targets",
            source="GSM codes; AT&T support (historical)",
        ),
        gsm_rule(
            "US",
            "T-Mobile",
            number_format="national_digits",
            forwards_international=False,
            confidence="confirmed",
            source="T-Mobile support",
            domestic_only_reason="T-Mobile only forwards to 10/11-digit domestic numbers",
        ),
        Rule(
            "US",
            "US landline",
            "landline",
            {
                "unconditional": ("*72{N}", "*73"),
                "busy": ("*90{N}", "*91"),
                "no_answer": ("*92{N}", "*93"),
                "unreachable": (None, None),
            },
            {"unconditional": None, "busy": None, "no_answer": None, "unreachable": None},
            "national_digits",
            False,
            "most US telcos forward landlines to domestic numbers only",
            "varies by telco",
            "typical US telco codes",
        ),
        gsm_rule("GB", "Vodafone UK", source="second-hand report; international format"),
        gsm_rule("GB", "EE"),
        gsm_rule("GB", "O2"),
        gsm_rule("GB", "Three"),
        Rule(
            "GB",
            "BT",
            "landline",
            {
                "unconditional": ("*21*{N}#", "#21#"),
                "busy": ("*67*{N}#", "#67#"),
                "no_answer": ("*61*{N}#", "#61#"),
                "unreachable": (None, None),
            },
            {"unconditional": "*#21#", "busy": "*#67#", "no_answer": "*#61#", "unreachable": None},
            "national",
            True,
            "",
            "third-party",
            "third-party guides",
        ),
        Rule(
            "GB",
            "Virgin Media",
            "landline",
            {
                "unconditional": ("*21*{N}#", "#21#"),
                "busy": (None, None),
                "no_answer": (None, None),
                "unreachable": (None, None),
            },
            {"unconditional": None, "busy": None, "no_answer": None, "unreachable": None},
            "national",
            False,
            "Virgin Media landlines take national-format targets only",
            "third-party",
            "third-party guides",
        ),
        gsm_rule("NG", "9mobile", confidence="confirmed", source="9mobile official page"),
        gsm_rule("NG", "MTN"),
        gsm_rule("NG", "Airtel"),
        gsm_rule("NG", "Glo"),
        gsm_rule(
            "TR",
            "Turkcell",
            number_format="national",
            forwards_international=False,
            confidence="third-party",
            source="third-party; also SMS 'YONLENDIR 5XXXXXXXXX TUMU' to 2222",
            domestic_only_reason="Turkcell codes take the national 05xxxxxxxxx format",
        ),
        gsm_rule("TR", "Vodafone TR"),
        gsm_rule("TR", "Türk Telekom"),
    ]
