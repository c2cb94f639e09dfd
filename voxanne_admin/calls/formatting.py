"""How the call logs show durations, costs and times (plain strings in the read models)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def fmt_duration(seconds: float | None) -> str:
    """1:05, 12:30 or 1:02:03; "" when unknown."""
    if seconds is None:
        return ""
    total = int(round(float(seconds)))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_cost(value: Decimal | float | None) -> str:
    """$0.1234 -> "$0.12" (four places below a cent)."""
    if value is None:
        return ""
    d = Decimal(str(value))
    return f"${d:,.4f}" if 0 < abs(d) < Decimal("0.01") else f"${d:,.2f}"


def fmt_time(value: datetime | None) -> str:
    """UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""

