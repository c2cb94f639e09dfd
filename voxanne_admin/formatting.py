"""How the console writes times, ages, durations, money and phone numbers: one place, so every page and read model
says "2026-12-01 09:14 UTC" the same way and always names the time zone.

Pure functions (no database, no UI), used by the read models in the domain services and by the UI pages:

    >>> from datetime import datetime, UTC
    >>> timestamp(datetime(2026, 12, 1, 9, 14, 5, tzinfo=UTC))
    '2026-12-01 09:14 UTC'
    >>> timestamp(datetime(2026, 12, 1, 9, 14, tzinfo=UTC), tz="Europe/London")
    '2026-12-01 09:14 Europe/London'
    >>> age(3600 * 5)
    '5 h'
    >>> money(0.0042)
    '$0.0042'
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DISPLAY_TZ = "UTC"  # staff accounts have no time zone of their own yet: the console shows UTC and says so


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _label(name: str) -> str:
    zone = _zone(name)
    return "UTC" if zone is UTC else name


def timestamp(value: datetime | None, tz: str = DISPLAY_TZ, *, seconds: bool = False, empty: str = "") -> str:
    """'2026-12-01 09:14 UTC' (or with `:05` seconds); in `tz`, whose name is always written after the time.
    A naive datetime is taken as UTC; None gives `empty`."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(_zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " " + _label(tz)


def day(value: datetime | date | None, tz: str = DISPLAY_TZ) -> str:
    """'2026-12-01': the calendar day in `tz` (a date is returned as is)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(_zone(tz)).date()
    return value.isoformat()


def clock(value: datetime | None, tz: str = DISPLAY_TZ) -> str:
    """'09:14': the time of day in `tz` (for chart axes, where the zone is named once in the caption)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_zone(tz)).strftime("%H:%M")


def age(seconds: float | None, *, empty: str = "") -> str:
    """How long ago or how old, rounded to one unit: '45 s', '12 min', '5 h', '3 days'."""
    if seconds is None:
        return empty
    s = max(0.0, float(seconds))
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} days"


def since(value: datetime | None, now: datetime | None = None, *, empty: str = "") -> str:
    """'12 min ago' for a past moment (see `age`)."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return age((now - value).total_seconds()) + " ago"


def duration(seconds: float | None) -> str:
    """A call's length as a clock: '1:05', '12:30' or '1:02:03'; '' when unknown."""
    if seconds is None:
        return ""
    total = int(round(float(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration_ms(ms: float | None) -> str:
    """A machine duration: '840 ms' below 10 s, then '12.3 s'; '' when unknown."""
    if ms is None:
        return ""
    ms = int(ms)
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def money(value: Decimal | float | int | None, currency: str = "$") -> str:
    """'$1,234.50'; amounts below a cent keep four places ('$0.0042'); '' when unknown."""
    if value is None:
        return ""
    d = Decimal(str(value))
    return f"{currency}{d:,.4f}" if 0 < abs(d) < Decimal("0.01") else f"{currency}{d:,.2f}"


def percent(part: float, whole: float, *, places: int = 1) -> str:
    """'99.5%'; '—' when there is nothing to divide by."""
    if not whole:
        return "—"
    return f"{100 * part / whole:.{places}f}%"


def masked_phone(number: str | None, *, keep: int = 4) -> str:
    """A phone number with its last `keep` digits hidden, for lists that must not show whole numbers:
    '+1201555••••'. Short or missing numbers show only the mask."""
    if not number or len(number) <= keep + 2:
        return "•" * keep
    return number[:-keep] + "•" * keep


def count(n: int, singular: str, plural: str | None = None) -> str:
    """'1 event', '3 events', '1,204 calls'."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"
