"""One way to write times, ages, durations, money and masked numbers, always naming the time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from voxanne_admin import formatting as fmt

T = datetime(2026, 12, 1, 9, 14, 5, tzinfo=UTC)


def test_timestamp_names_the_time_zone():
    assert fmt.timestamp(T) == "2026-12-01 09:14 UTC"
    assert fmt.timestamp(T, seconds=True) == "2026-12-01 09:14:05 UTC"
    assert fmt.timestamp(T, tz="America/Chicago") == "2026-12-01 03:14 America/Chicago"


def test_timestamp_converts_other_offsets_and_naive_values_to_utc():
    lagos = T.astimezone(timezone(timedelta(hours=1)))
    assert fmt.timestamp(lagos) == "2026-12-01 09:14 UTC"
    assert fmt.timestamp(T.replace(tzinfo=None)) == "2026-12-01 09:14 UTC"


def test_timestamp_unknown_zone_falls_back_to_utc_and_none_is_empty():
    assert fmt.timestamp(T, tz="Mars/Olympus") == "2026-12-01 09:14 UTC"
    assert fmt.timestamp(None) == "" and fmt.timestamp(None, empty="never") == "never"


def test_day_and_clock():
    assert fmt.day(T) == "2026-12-01" and fmt.day(date(2026, 1, 2)) == "2026-01-02"
    assert fmt.day(datetime(2026, 12, 1, 23, 30, tzinfo=UTC), tz="Africa/Lagos") == "2026-12-02"
    assert fmt.clock(T) == "09:14"


def test_age_rounds_to_one_unit():
    assert fmt.age(45) == "45 s" and fmt.age(600) == "10 min" and fmt.age(5 * 3600) == "5 h"
    assert fmt.age(3 * 86400) == "3 days" and fmt.age(None, empty="none") == "none"
    assert fmt.since(T - timedelta(minutes=12), now=T) == "12 min ago"


def test_durations():
    assert fmt.duration(65) == "1:05" and fmt.duration(3723) == "1:02:03" and fmt.duration(None) == ""
    assert fmt.duration_ms(840) == "840 ms" and fmt.duration_ms(12_345) == "12.3 s"


def test_money_keeps_fractions_of_a_cent():
    assert fmt.money(Decimal("1234.5")) == "$1,234.50"
    assert fmt.money(0.0042) == "$0.0042" and fmt.money(0.1234) == "$0.12" and fmt.money(None) == ""


def test_masked_phone_and_counts():
    assert fmt.masked_phone("+12015550143") == "+1201555••••"
    assert fmt.masked_phone("123") == "••••" and fmt.masked_phone(None) == "••••"
    assert fmt.count(1, "event") == "1 event" and fmt.count(1204, "call") == "1,204 calls"
    assert fmt.percent(199, 200) == "99.5%" and fmt.percent(1, 0) == "—"
