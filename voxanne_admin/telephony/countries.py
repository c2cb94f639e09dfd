"""Supported countries as data (contracts/telephony.md, contracts/twilio.md). Adding a country is an entry here
plus its carriers' forwarding rules (data seeded by a migration), not code."""

from __future__ import annotations

from dataclasses import dataclass

from voxanne_admin.errors import InvalidInput


@dataclass(frozen=True)
class Country:
    """What the console needs to know about telephony in one country."""

    iso: str
    name: str
    calling_code: str
    trunk_prefix: str
    international_prefix: str
    number_types: tuple[str, ...]  # what Twilio sells there: local, mobile, toll-free
    needs_address: bool
    needs_bundle: bool
    self_serve: bool
    two_way_sms: bool
    carriers: tuple[str, ...]
    guidance: str


COUNTRIES: dict[str, Country] = {
    c.iso: c
    for c in (
        Country(
            "US",
            "United States",
            "+1",
            "1",
            "011",
            ("local", "toll-free"),
            False,
            False,
            True,
            True,
            ("Verizon", "AT&T", "T-Mobile", "US landline"),
            "Local and toll-free numbers can be bought directly. There are no US mobile numbers.",
        ),
        Country(
            "GB",
            "United Kingdom",
            "+44",
            "0",
            "00",
            ("local", "mobile", "toll-free"),
            True,
            True,
            True,
            True,
            ("EE", "O2", "Three", "Vodafone UK", "BT", "Virgin Media"),
            "Regulated: local and national numbers need an approved address and regulatory bundle first.",
        ),
        Country(
            "NG",
            "Nigeria",
            "+234",
            "0",
            "009",
            ("mobile",),
            True,
            True,
            False,
            False,
            ("MTN", "Airtel", "Glo", "9mobile"),
            "Only mobile (+23481) numbers, with business documents and a letter of authorisation: not "
            "self-serve. Clinics usually forward their own line to a number in another country.",
        ),
        Country(
            "TR",
            "Türkiye",
            "+90",
            "0",
            "00",
            ("local", "toll-free"),
            True,
            True,
            False,
            False,
            ("Turkcell", "Vodafone TR", "Türk Telekom"),
            "Only +90850 national/VoIP and toll-free numbers, with identity documents: not self-serve. "
            "Clinics usually forward their own line to a number in another country.",
        ),
    )
}


def get(iso: str) -> Country:
    """The supported country, or a clear refusal for anything outside the allow-list."""
    code = (iso or "").strip().upper()
    country = COUNTRIES.get(code)
    if country is None:
        supported = ", ".join(f"{c.name} ({c.iso})" for c in COUNTRIES.values())
        raise InvalidInput(f"{code or 'That country'} is not supported yet. Supported: {supported}.", field="country")
    return country
