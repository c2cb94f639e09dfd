"""Helpers for the DR tests: point the app at a database of our own (with its backup directory) for a module."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa


@contextlib.contextmanager
def app_database(url: str, backup_dir: Path) -> Iterator[None]:
    """Make `url` the app's database and `backup_dir` its VOXANNE_BACKUP_DIR for the block."""
    from voxanne_admin import db
    from voxanne_admin.settings import get_settings

    names = ("DATABASE_URL", db.RESOLVED_URL_ENV, "VOXANNE_BACKUP_DIR")
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update({"DATABASE_URL": url, db.RESOLVED_URL_ENV: url, "VOXANNE_BACKUP_DIR": str(backup_dir)})
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
    """Demo organizations and a few thousand calls: enough rows to check, small enough to restore fast."""
    from voxanne_admin import db, demo
    from voxanne_admin.calls import seed as call_seed

    with db.transaction() as session:
        demo.seed(session)
    call_seed.seed_calls(count=calls, seed=7)


def scalar(url: str, sql: str, **params):
    """One value from `url`."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text(sql), params).scalar()
            conn.commit()
            return value
    finally:
        engine.dispose()
