"""Shared fixtures: a fresh PostgreSQL database per run (embedded by default, TEST_DATABASE_URL to use another
server), a rolled-back session per test, and the CI rule that database and browser tests never skip."""

from __future__ import annotations

import functools
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tests never read the developer's .env or data directory.
os.environ.pop("DATABASE_URL", None)
os.environ.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
_TMP = Path(tempfile.mkdtemp(prefix="voxanne-tests-"))
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... in a parallel run; each has its own _TMP
XDIST_INDEX = int(XDIST_WORKER[2:]) if XDIST_WORKER.startswith("gw") else None  # 0, 1, ... or None: one process
os.environ["VOXANNE_DATA_DIR"] = str(_TMP / "data")
# One keyring and recovery-code key for this run, shared with the servers the tests start (their data
# directories differ): accounts the tests create must open in the server too.
os.environ.setdefault("VOXANNE_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("VOXANNE_RECOVERY_CODE_KEY", secrets.token_hex(32))


def _server_url() -> str:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        from voxanne_admin.db import normalise_url

        return normalise_url(external)
    from voxanne_admin.db import start_embedded

    server = start_embedded(_TMP / "embedded")
    return server.get_uri(driver="psycopg")


def create_database(server_url: str, prefix: str) -> str:
    """Create an empty database on the test server; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    """Drop a test database (terminating leftover connections)."""
    name = make_url(url).database
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


def pytest_addoption(parser):
    parser.addoption("--database-only", action="store_true",
                     help="run only the tests that use a PostgreSQL server (CI's second pass, on the service)")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """The PostgreSQL server the tests use (embedded unless TEST_DATABASE_URL is set); an embedded one is stopped
    at the end of the run."""
    yield _server_url()
    if not os.environ.get("TEST_DATABASE_URL"):
        from voxanne_admin.db import reset_engine, stop_embedded

        reset_engine()
        stop_embedded(_TMP / "embedded")


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test run, set as the app's database."""
    from voxanne_admin import db, migrate
    from voxanne_admin.settings import get_settings

    url = create_database(pg_server_url, "voxanne_test")
    # The app connects as the least-privileged role (INSERT and SELECT only on the audit tables), like in
    # production; the fixture's own URL stays the owner's (superuser) for tests that act behind the app's back.
    app_url = make_url(url).set(username=db.APP_ROLE, password="test-app-role").render_as_string(
        hide_password=False)
    try:
        migrate.upgrade(url, app_url=app_url)
    except RuntimeError:  # an external TEST_DATABASE_URL whose role may not create roles: one role for all
        app_url = url
    os.environ["DATABASE_URL"] = app_url
    os.environ["DATABASE_OWNER_URL"] = url
    os.environ[db.RESOLVED_URL_ENV] = app_url
    os.environ[db.RESOLVED_OWNER_URL_ENV] = url
    get_settings.cache_clear()
    db.reset_engine()
    yield url
    db.reset_engine()
    drop_database(pg_server_url, url)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session whose work is rolled back after the test (services never commit)."""
    from voxanne_admin import db

    engine = db.get_engine()
    with engine.connect() as conn:
        trans = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        trans.rollback()


TABLES = ["staff_sessions", "recovery_codes", "login_attempts", "job_runs", "api_tokens", "staff_users",
          "organizations", "audit_events", "audit_stream_cursor", "webhook_events", "webhook_attempts", "calls",
          "sms_messages", "voice_legs", "tool_call_answers", "sandbox_objects", "sandbox_faults", "staff_preferences",
          "call_exports",
          "appointments", "call_stats_daily", "call_stats_state", "telephony_setups", "number_provisionings",
          "phone_numbers", "backup_verification_log", "dr_backups", "dr_drills",
          "feature_flags", "org_feature_flags", "flag_schedules", "flag_change_requests",
          "audit_seals", "audit_flood_windows", "audit_archive_segments",
          "provider_credentials", "spend_limits", "spend_guard_trips"]


def _wipe_audit_files() -> None:
    """The audit chain's checkpoint file and archive live outside the database: empty them with it."""
    import shutil

    from voxanne_admin.settings import get_settings

    settings = get_settings()
    (settings.audit_dir / "checkpoints.jsonl").unlink(missing_ok=True)
    shutil.rmtree(settings.audit_archive_path, ignore_errors=True)



def _reseed_flags(conn) -> None:
    """A fresh install has the 10 flags the migration seeds: put them back after emptying the tables."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "flags_migration", ROOT / "migrations" / "versions" / "20261201_0007_feature_flags.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    for key, name, kind, enabled, rollout, owner, description in module.SEED:
        conn.execute(sa.text(
            "insert into feature_flags (key, name, description, owner, type, enabled, rollout, protected, "
            "constraints, version, evaluation_count, created_at, updated_at) values (:k, :n, :d, :o, :t, :e, :r, "
            "false, '[]', 1, 0, now(), now())"),
            {"k": key, "n": name, "d": description, "o": owner, "t": kind, "e": enabled, "r": rollout})
    conn.execute(sa.text("select pg_notify('feature_flags', '*')"))


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """For tests that commit through db.transaction(): every table emptied before and after."""
    from voxanne_admin import db

    def wipe() -> None:
        # A shared API server (tests/integration/conftest.py) keeps reading these tables (inbox poll, flag
        # snapshot reload, jobs): TRUNCATE's exclusive locks can deadlock with those reads. PostgreSQL then aborts
        # one side; when it is this one, empty the tables again (the server's side simply retries its poll).
        for attempt in range(1, 6):
            try:
                with db.get_owner_engine().begin() as conn:
                    # Triggers (audit_events is append-only) do not fire in replica mode: test cleanup only.
                    conn.execute(sa.text("set local session_replication_role = replica"))
                    conn.execute(sa.text("set local lock_timeout = '10s'"))
                    conn.execute(sa.text(f"truncate {', '.join(TABLES)} restart identity cascade"))
                    _reseed_flags(conn)
                _wipe_audit_files()
                return
            except sa.exc.OperationalError as exc:
                retryable = getattr(exc.orig, "sqlstate", "") in ("40P01", "55P03")  # deadlock, lock timeout
                if not retryable or attempt == 5:
                    raise
                time.sleep(0.2 * attempt)

    wipe()
    yield database_url
    wipe()


BROWSER_FIXTURES = {"browser", "browser_page", "new_page", "live_server"}


# The browser tests run on two xdist workers, each with its own production server, database and Chromium
# (tests/e2e/conftest.py: E2E_SERVER_PORT). On one worker they were the run's critical path, 557 s of a 572 s pass
# with the other workers idle for its second half. These modules make the second unit, about half of the time
# (measured per module with --junitxml); the rest, first-run test first, make the first.
SECOND_BROWSER_UNIT = frozenset(f"tests/{m}.py" for m in (
    "e2e/test_telephony", "e2e/test_credentials", "e2e/test_call_logs", "e2e/test_audit_log",
    "e2e/test_disaster_recovery", "e2e/test_staff_and_jobs", "e2e/test_organizations", "e2e/test_reauth",
    "e2e/test_fresh_install", "e2e/test_zz_worker_crash",
    "security/test_client_ids_and_verification", "security/test_credentials_lifetime",
))


@functools.cache
def _uses_the_browser(module: str) -> bool:
    """Tests of this module need a production server and browser of the run (e2e, and the security modules that
    use their fixtures)."""
    if module.startswith("tests/e2e/"):
        return True
    path = ROOT / module
    if not module.startswith("tests/security/") or not path.is_file():
        return False
    return bool(re.search(r"\b(" + "|".join(sorted(BROWSER_FIXTURES)) + r")\b", path.read_text()))


def _work_unit(module: str) -> str:
    """The xdist unit of work of a test module: one of the two browser units, the two-replica fleet (one fleet
    for its package), or the module itself."""
    if module.startswith("tests/scale/"):
        return "fleet"
    if _uses_the_browser(module):
        return "browser-2" if module in SECOND_BROWSER_UNIT else "browser-1"
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Parallel run: one unit of work per test module, except the browser tests (two units, see
    SECOND_BROWSER_UNIT) and the fleet. Units go out in collection order (--no-loadscope-reorder), so the browser
    units and the fleet, the longest, start first. (xdist's own `loadgroup` marks do not work with pytest 9: it
    rewrites a node-id attribute pytest no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(nodeid.split("::", 1)[0])

    return UnitScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Mark database and browser tests so CI can prove none of them skipped; run the browser tests last.

    Playwright's sync API keeps an event loop running in the main thread while the session-scoped browser is
    open, so tests that call asyncio.run() must come before it (their relative order is kept)."""
    def late(item) -> bool:  # e2e tests, and the security tests that drive the browser (tests/security)
        return "/e2e/" in str(item.path) or ("/security/" in str(item.path) and bool(
            BROWSER_FIXTURES & set(getattr(item, "fixturenames", ()))))

    def very_last(item) -> bool:  # the worker-crash test kills the shared server's worker: after every user of it
        return getattr(getattr(item, "module", None), "E2E_ORDER", "") == "last"

    if config.getoption("--database-only"):
        # Every test on a database needs the server fixture (directly or through database_url, session, ...).
        no_database = [i for i in items if "pg_server_url" not in getattr(i, "fixturenames", ())]
        if no_database:
            config.hook.pytest_deselected(items=no_database)
            items[:] = [i for i in items if "pg_server_url" in getattr(i, "fixturenames", ())]
    e2e = [i for i in items if "/e2e/" in str(i.path) and not very_last(i)]
    security_browser = [i for i in items if late(i) and "/e2e/" not in str(i.path)] + [i for i in items
                                                                                        if very_last(i)]
    others = [i for i in items if not late(i)]
    if XDIST_WORKER:
        # Parallel run (pytest-xdist, see pytest_xdist_make_scheduler): the browser units and then the fleet go
        # first, they are the longest, and the early build overlaps the other workers' modules. (The browsers are
        # package- or module-scoped, so they are closed before a worker takes further modules whose tests call
        # asyncio.run().)
        fleet = [i for i in others if "/scale/" in str(i.path)]
        items[:] = e2e + security_browser + fleet + [i for i in others if "/scale/" not in str(i.path)]
    else:
        # The e2e tests (their own order: first run first, worker crash last), then the security browser tests.
        items[:] = others + e2e + security_browser
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"database_url", "session", "clean_db", "live_server"}:
            item.add_marker(pytest.mark.db)
        if names & {"browser_page", "live_server"}:
            item.add_marker(pytest.mark.browser)


# Set on each test item by pytest_runtest_makereport: whether the test's own body failed (fixtures read it in
# their teardown, e.g. to keep a screenshot of a failed browser test).
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: database and browser tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if IN_CI and skipped:
        if reporter:
            reporter.write_line(f"CI: {len(skipped)} test(s) skipped; database and browser tests must run.", red=True)
        session.exitstatus = 1
