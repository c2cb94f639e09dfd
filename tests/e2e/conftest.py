"""End-to-end fixtures: the real production server (`voxanne-admin serve`) on its own database, and
headless Debian Chromium driven by Playwright. Screenshots of each step go to test-artifacts/e2e/.

The production build starts in the background as soon as the e2e tests are collected, so it runs while the
unit and integration tests do; the server waits for it and then finds the frontend up to date.

One server serves every e2e test of a run. Tests do not depend on each other: each one makes its own staff
accounts directly in the server's database (`make_account`, `founder`). The only exception is the first-run
test, which needs an empty staff table: modules declaring `E2E_ORDER = "first"` run before every other e2e
test, and `E2E_ORDER = "last"` (the worker-crash test) after all of them, whatever the file order.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests import chromium
from tests.conftest import CALL_FAILED, IN_CI, ROOT, XDIST_INDEX, XDIST_WORKER, create_database, drop_database
from tests.e2e.helpers import Account, create_account

# The console's public URL in every browser test: http://localhost:E2E_PORT (the frontend build and the server's
# Origin check name it). In a parallel run each worker that runs browser tests has its own server, on
# E2E_SERVER_PORT, and its Chromium reaches the public address there (chromium.launched); this process's own HTTP
# requests go to live_server["direct"].
E2E_PORT = int(os.environ.get("VOXANNE_E2E_PORT", "3317"))
PUBLIC_URL = f"http://localhost:{E2E_PORT}"
E2E_SERVER_PORT = E2E_PORT if XDIST_INDEX is None else E2E_PORT + 1 + XDIST_INDEX
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
_SUFFIX = f"-{XDIST_WORKER}" if XDIST_WORKER else ""
SERVER_LOG = ARTIFACTS / f"server{_SUFFIX}.log"  # this process's e2e server
# "steps": a screenshot of every step of every test (to look at the pages); "failures": only the last state of a
# test that failed. A full-page screenshot costs the browser up to a third of a second of CPU: in CI, where nobody
# looks at the passing ones, they took about a quarter of the browser tests' CPU.
SCREENSHOTS = os.environ.get("VOXANNE_E2E_SCREENSHOTS") or ("failures" if IN_CI else "steps")
if SCREENSHOTS not in ("steps", "failures"):
    raise pytest.UsageError(f"VOXANNE_E2E_SCREENSHOTS is 'steps' or 'failures', not {SCREENSHOTS!r}")


def pytest_collection_modifyitems(config, items):
    """First-run test first, worker-crash test last, among the e2e tests (others keep their order)."""
    rank = {"first": 0, "last": 2}
    slots = [i for i, item in enumerate(items) if getattr(item, "module", None) is not None
             and item.module.__name__.startswith("tests.e2e.")]
    ordered = sorted((items[i] for i in slots), key=lambda it: rank.get(getattr(it.module, "E2E_ORDER", ""), 1))
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item


_BUILD: list[subprocess.Popen] = []  # the background `voxanne-admin build`, when e2e tests were collected
# One build at a time per checkout: in a parallel run every worker collects the e2e tests, the first starts the
# build and hands it this lock (the build process holds it until it exits); the others skip, and the worker
# that runs the e2e tests waits on the lock before starting the server.
BUILD_LOCK = ROOT / ".web-build.lock"


def _server_env(**extra: str) -> dict[str, str]:
    """The environment of the e2e server (and of its early build: the build stamp covers the port and URL)."""
    env = dict(os.environ)
    # Every browser test signs in from 127.0.0.1: the per-IP sign-in limit (100 per 15 min by default, tested on
    # its own in tests/unit and tests/scale) would refuse the later ones of a full run.
    env.update(PORT=str(E2E_SERVER_PORT), VOXANNE_PUBLIC_URL=PUBLIC_URL, LOG_LEVEL="WARNING",
               SANDBOX_CALL_SECONDS="3", LOGIN_IP_LIMIT="100000", **extra)
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    env.pop("VOXANNE_RESOLVED_OWNER_URL", None)
    env.pop("DATABASE_OWNER_URL", None)  # the unit tests' database owner, not this server's
    return env


def pytest_collection_finish(session):
    """Start the production build now when e2e tests will run: it overlaps the tests that run before them."""
    if session.config.option.collectonly or not any("/e2e/" in str(item.path) for item in session.items):
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    fd = os.open(BUILD_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)  # another worker of this run is building
        return
    try:
        _BUILD.append(subprocess.Popen(
            [sys.executable, "-m", "voxanne_admin.cli", "build"], cwd=ROOT, env=_server_env(), pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=(ARTIFACTS / "build.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
    finally:
        os.close(fd)  # the build's inherited descriptor keeps the lock until the build exits


def pytest_sessionfinish(session, exitstatus):
    """A run that stopped before the e2e tests does not leave the build running."""
    for proc in _BUILD:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)


def _wait_for_build(timeout: float = 900) -> None:
    """Let the early build finish, whichever worker started it (if it failed, `serve` builds again and shows
    the error)."""
    fd = os.open(BUILD_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    for proc in _BUILD:
                        os.killpg(proc.pid, signal.SIGKILL)
                    return
                time.sleep(0.5)
    finally:
        os.close(fd)


def _wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voxanne-admin serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator:
    """The test OpenID Provider (tests/oidc) the e2e server's single sign-on points at; started before it."""
    yield from _shared("oidc_provider", _oidc_provider)


def _oidc_provider() -> Iterator:
    from tests.oidc import op

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handle = op.start(port, [f"{PUBLIC_URL}/api/auth/oidc/callback"], ARTIFACTS / f"oidc-provider{_SUFFIX}.log")
    yield handle
    handle.stop()


# tests/security imports these session fixtures too (its own copies of the definitions): one server, one OP and one
# browser serve both directories in a run. The first definition to run owns the teardown; a second one reuses.
_SHARED: dict[str, object] = {}


def _shared(name: str, factory):
    """Yield the process-wide instance of fixture `name`, starting it with `factory` (a generator) only once."""
    if name in _SHARED:
        yield _SHARED[name]
        return
    gen = factory()
    _SHARED[name] = next(gen)
    try:
        yield _SHARED[name]
    finally:
        _SHARED.pop(name, None)
        next(gen, None)


@pytest.fixture(scope="session")
def live_server(pg_server_url: str, tmp_path_factory, oidc_provider) -> Iterator[dict]:
    """`voxanne-admin serve --demo` on E2E_SERVER_PORT against a fresh database; yields the public base URL (for
    browsers and for URLs the server writes), the direct URL (for this process's requests), the database URL and
    the process."""
    yield from _shared("live_server", lambda: _live_server(pg_server_url, tmp_path_factory, oidc_provider))


def _live_server(pg_server_url: str, tmp_path_factory, oidc_provider) -> Iterator[dict]:
    from tests.oidc import op

    url = create_database(pg_server_url, "voxanne_e2e")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = SERVER_LOG
    # Backups outside pytest's basetemp: a new pytest session resets it to 0700, locking PostgreSQL's user out.
    backups = Path(tempfile.mkdtemp(prefix="voxanne-e2e-backups-"))
    # One audit MAC key for the server and this process (tests write audit rows straight into the server's
    # database: they must verify under the server's key).
    from voxanne_admin.audit import keys as audit_keys
    from voxanne_admin.settings import get_settings

    os.environ.setdefault("AUDIT_HMAC_KEY", secrets.token_hex(32))
    get_settings.cache_clear()
    audit_keys.mac_keys.cache_clear()
    env = _server_env(DATABASE_URL=url, VOXANNE_DATA_DIR=str(tmp_path_factory.mktemp("e2e-data")),
                      VOXANNE_BACKUP_DIR=str(backups / "backups"))
    _wait_for_build()
    # Single sign-on through the test OP: unknown people of clinic.test become viewers (SSO_JIT_ROLE).
    env.update(op.server_env(oidc_provider.issuer, SSO_JIT_ROLE="viewer"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxanne_admin.cli", "serve", "--demo", "--no-history"], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    direct = f"http://127.0.0.1:{E2E_SERVER_PORT}"
    try:
        _wait_ready(direct, proc, log)
        yield {"base": PUBLIC_URL, "direct": direct, "database_url": url, "proc": proc,
               "backup_dir": backups / "backups"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        _drop_dr_slot(pg_server_url, backups / "backups")
        shutil.rmtree(backups, ignore_errors=True)
        drop_database(pg_server_url, url)


def _drop_dr_slot(server_url: str, backup_dir: Path) -> None:
    """The server streamed WAL through a replication slot of its own: drop it so the test server keeps no WAL."""
    from voxanne_admin.dr.archive import slot_name

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                             "where slot_name = :s and not active"), {"s": slot_name(backup_dir.resolve())})
    engine.dispose()


@pytest.fixture(scope="session")
def e2e_db(live_server) -> Iterator[sa.Engine]:
    """An engine on the live server's database: to create accounts and to check what the server wrote."""
    engine = sa.create_engine(live_server["database_url"], pool_size=2, max_overflow=2)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def make_account(e2e_db):
    """Factory: `make_account(role, label)` creates a fresh staff account (TOTP enrolled) in the e2e database."""

    def make(role: str, label: str) -> Account:
        return create_account(e2e_db, role=role, label=label)

    return make


@pytest.fixture(scope="session")
def founder(make_account) -> Account:
    """A founder account with known credentials (independent of the first-run test's founder)."""
    return make_account("founder", "founder")


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """Headless Debian Chromium through Playwright (playwright install cannot download browsers here)."""
    yield from _shared("browser", _browser)


def _browser() -> Iterator:
    yield from chromium.launched(serve_port_from=(E2E_PORT, E2E_SERVER_PORT))


class Shots:
    """Numbered screenshots per test under test-artifacts/e2e/<test>/ (every step with SCREENSHOTS "steps")."""

    def __init__(self, page, name: str):
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.n = 0

    def __call__(self, step: str, *, always: bool = False) -> None:
        self.n += 1
        if SCREENSHOTS == "steps" or always:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{step}.png"), full_page=True)


@pytest.fixture
def new_page(browser, live_server, request) -> Iterator:
    """Factory for more browsers in one test: `new_page("b")` is a fresh context (own cookies) whose
    screenshots go to test-artifacts/e2e/<test>-b/."""
    contexts = []
    pages = []

    def make(suffix: str = ""):
        context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=live_server["base"])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.shot = Shots(page, request.node.name + (f"-{suffix}" if suffix else ""))  # type: ignore[attr-defined]
        pages.append(page)
        return page

    yield make
    failed = request.node.stash.get(CALL_FAILED, True)
    try:
        for page in pages:
            if not page.is_closed():
                page.shot("final", always=failed)  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def browser_page(new_page):
    """A fresh browser context (no cookies) with a screenshot helper at `page.shot(step)`."""
    return new_page()
