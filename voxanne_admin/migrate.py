"""Apply and inspect Alembic migrations programmatically (the CLI and health checks use this)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from voxanne_admin import locks

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    """Config pointing at migrations/ (works from any working directory)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, *, app_url: str | None = None) -> None:
    """Apply every pending revision as the owner (`url`); then grant the app role (`app_url`) its privileges."""
    command.upgrade(alembic_config(url), "head")
    if app_url:
        grant_app_role(url, app_url)


def upgrade_database() -> None:
    """Migrate the configured database as its owner and grant the application role (the CLI and serve)."""
    from voxanne_admin import db

    app = db.ensure_database()
    upgrade(db.owner_url(), app_url=app)


# What the application role may do: everything a request needs on the ordinary tables, but on the audit trail
# only INSERT and SELECT (its retention bookkeeping: SELECT). Never TRUNCATE, never the owner.
APPEND_ONLY_TABLES = ("audit_events", "audit_seals")
READ_ONLY_TABLES = ("audit_archive_segments", "alembic_version")


def grant_app_role(owner: str, app: str) -> None:
    """Create the app role when the owner may (embedded) and grant it least privilege on this database."""
    owner_user = make_url(owner).username
    app_url = make_url(app)
    role = app_url.username
    if not role or role == owner_user:
        log.warning("the console connects as the schema owner (set DATABASE_OWNER_URL and a separate DATABASE_URL "
                    "role: see README, Database roles)")
        return
    engine = sa.create_engine(owner, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            q = conn.dialect.identifier_preparer.quote
            may_create = conn.execute(sa.text(
                "select rolsuper or rolcreaterole from pg_roles where rolname = current_user")).scalar()
            exists = conn.execute(sa.text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar()
            if not exists:
                if not may_create:
                    raise RuntimeError(f"The database role {role!r} of DATABASE_URL does not exist and the owner "
                                       "may not create it: create it as README (Database roles) shows.")
                password = (app_url.password or "").replace("'", "''")
                conn.execute(sa.text(
                    f"do $$ begin create role {q(role)} login password '{password}' nosuperuser nocreatedb "
                    "nocreaterole noreplication nobypassrls; exception when duplicate_object or unique_violation "
                    "then null; end $$"))
            database = conn.execute(sa.text("select current_database()")).scalar_one()
            statements = [
                f"grant connect on database {q(database)} to {q(role)}",
                f"grant usage on schema public to {q(role)}",
                f"grant select, insert, update, delete on all tables in schema public to {q(role)}",
                f"grant usage, select, update on all sequences in schema public to {q(role)}",
                f"revoke truncate, references, trigger on all tables in schema public from {q(role)}",
            ]
            for table in APPEND_ONLY_TABLES + READ_ONLY_TABLES:
                statements.append(f"revoke all on {q(table)} from {q(role)}")
                grant = "select, insert" if table in APPEND_ONLY_TABLES else "select"
                statements.append(f"grant {grant} on {q(table)} to {q(role)}")
            # GRANT/REVOKE on the same objects from several processes at once can fail with "tuple concurrently
            # updated": one grant pass at a time.
            conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.DB_GRANTS})
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


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
