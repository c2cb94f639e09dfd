"""Integration fixtures: the API server (routes, no UI) and an inbox apply worker process (`voxanne-admin webhooks
work`, as `serve` runs it) over real HTTP on the test database.

Starting granian costs seconds, so one server process is shared by consecutive tests that ask for `api_server`
(across modules too), with per-test cleanup: before the tables are emptied, the test waits until the sandbox's
simulated calls and the inbox have finished what the test started (a server that does not settle is restarted).
A test that does not ask for the server never runs beside one: its inbox worker would apply that test's events.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from voxanne_admin import db
from voxanne_admin.providers import resilience

SETTLE_TIMEOUT_S = 60
# Sandbox calls still running (their tasks post webhooks) or inbox events due: the test's work is not finished.
BUSY_SQL = """
select (select count(*) from sandbox_objects
         where (provider = 'vapi' and kind = 'call' and data->>'status' is distinct from 'ended')
            or (provider = 'twilio' and kind = 'voice_call'
                and data->>'status' not in ('completed', 'no-answer', 'busy', 'failed', 'canceled')))
     + (select count(*) from webhook_events
         where status = 'processing' or (status = 'pending' and next_attempt_at <= now()))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scalar(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


class ApiServer:
    """One granian process serving `voxanne_admin.api.standalone` on a free port; started on demand."""

    def __init__(self, database_url: str, log_dir: Path):
        self.database_url = database_url
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.applier: subprocess.Popen | None = None
        self.base = ""
        self.starts = 0

    @property
    def running(self) -> bool:
        return (self.proc is not None and self.proc.poll() is None
                and self.applier is not None and self.applier.poll() is None)

    def ensure(self) -> str:
        if self.running:
            return self.base
        self.stop()
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": self.database_url, "PORT": str(port), "SANDBOX_CALL_SECONDS": "2",
               "LOG_LEVEL": "WARNING"}
        env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
        env.pop("VOXANNE_RESOLVED_OWNER_URL", None)
        self.starts += 1
        log_path = self.log_dir / f"server-{self.starts}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "voxanne_admin.api.standalone:create_app"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.applier = subprocess.Popen(
            [sys.executable, "-m", "voxanne_admin.cli", "webhooks", "work"], cwd=ROOT, env=env,
            stdout=(self.log_dir / f"applier-{self.starts}.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                time.sleep(0.2)
        text = log_path.read_text()
        self.stop()
        raise RuntimeError(f"the API server did not start:\n{text[-4000:]}")

    def settle(self, timeout: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait until the test's sandbox calls ended and the inbox applied what is due; False on timeout."""
        if not self.running:
            return True
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if _scalar(BUSY_SQL):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 0.6:
                # Quiet twice 0.6 s apart: an end-of-call report follows 'ended' by at most 0.1 s here.
                return True
            time.sleep(0.15)
        return False

    def stop(self) -> None:
        procs = [p for p in (self.proc, self.applier) if p is not None]
        self.proc = self.applier = None
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


# The session's servers, once a test asked for one: tests/security defines the same session fixture again (imported
# from here), so a worker that ran modules of both directories has two.
_SERVER: list[ApiServer] = []


@pytest.fixture(scope="session")
def _api_server_process(database_url, tmp_path_factory):
    # As the app role (DATABASE_URL), like production; the owner URL is in DATABASE_OWNER_URL.
    server = ApiServer(os.environ.get("DATABASE_URL", database_url), tmp_path_factory.mktemp("api-server"))
    _SERVER.append(server)
    yield server
    server.stop()
    _SERVER.remove(server)


@pytest.fixture(autouse=True)
def _no_api_server_beside_other_tests(request):
    """Stop the shared servers before a test that did not ask for one (their inbox workers would race the test).
    Every one of them: stopping only the first left the second one's worker applying the next tests' events."""
    if "api_server" not in request.fixturenames:
        for server in _SERVER:
            server.stop()


@pytest.fixture
def api_server(clean_db, _api_server_process):
    """The API routes + inbox worker (no UI) served by granian on a free port, on the test database (emptied
    before and after the test)."""
    for other in _SERVER:  # tests/security's copy of the session fixture: one inbox worker on the database at a time
        if other is not _api_server_process:
            other.stop()
    base = _api_server_process.ensure()
    resilience.reset_breakers()
    yield base
    if not _api_server_process.settle():
        _api_server_process.stop()  # the next test gets a fresh one
    resilience.reset_breakers()


@pytest.fixture
def tel_server(api_server):
    """The API server, with this test process's settings pointing at it (provider clients, webhook URLs)."""
    from voxanne_admin.settings import get_settings
    from voxanne_admin.telephony import ratelimit

    saved = os.environ.get("PORT")
    os.environ["PORT"] = api_server.rsplit(":", 1)[1]
    get_settings.cache_clear()
    ratelimit._limiter.cache_clear()
    yield api_server
    if saved is None:
        os.environ.pop("PORT", None)
    else:
        os.environ["PORT"] = saved
    get_settings.cache_clear()
    ratelimit._limiter.cache_clear()
