"""Apply and inspect Alembic migrations programmatically (the CLI and health checks use this)."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None) -> Config:
    """Config pointing at migrations/ (works from any working directory)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Apply every pending revision."""
    command.upgrade(alembic_config(url), "head")


@functools.lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision in migrations/."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: sa.Connection) -> str | None:
    """The revision the database is at (None if never migrated)."""
    try:
        return conn.execute(sa.text("select version_num from alembic_version")).scalar()
    except sa.exc.ProgrammingError:
        conn.rollback()
        return None
