"""Helpers for the DR tests: point the app at a database of our own (with its backup directory) for a module."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa


@contextlib.contextmanager
def app_database(url: str, backup_dir: Path) -> Iterator[None]:
    """Make `url` the app's database (as app and owner) and `backup_dir` its VOXANNE_BACKUP_DIR for the block."""
    from voxanne_admin import db
    from voxanne_admin.settings import get_settings

    names = ("DATABASE_URL", db.RESOLVED_URL_ENV, "DATABASE_OWNER_URL", db.RESOLVED_OWNER_URL_ENV,
             "VOXANNE_BACKUP_DIR")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update({"DATABASE_URL": url, db.RESOLVED_URL_ENV: url, "DATABASE_OWNER_URL": url,
                       db.RESOLVED_OWNER_URL_ENV: url, "VOXANNE_BACKUP_DIR": str(backup_dir)})
    get_settings.cache_clear()
    db.reset_engine()
    try:
        yield
    finally:
        db.reset_engine()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


def seed_small(calls: int = 2000) -> None:
    """A few thousand ended calls: enough rows to check, small enough to restore fast.

    (The realistic `seed-demo` + `seed-calls` take a minute here, mostly building redaction pools; the benchmark
    uses them.)"""
    from voxanne_admin import db

    with db.transaction() as session:
        session.execute(sa.text(
            "insert into calls (vapi_call_id, org_id, direction, status, status_rank, ended_reason, started_at, "
            "ended_at, duration_s, summary, report_received, created_at, updated_at) "
            "select 'dr-' || g, null, 'outbound', 'ended', 5, "
            "'customer-ended-call', now() - make_interval(mins => g), now() - make_interval(mins => g) + "
            "interval '90 seconds', 90, 'Booked a cleaning for patient ' || g, true, now(), now() "
            "from generate_series(1, :n) g"), {"n": calls})


def scalar(url: str, sql: str, **params):
    """One value from `url`."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()
