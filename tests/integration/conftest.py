"""Integration fixtures: the API server (routes + inbox worker, no UI) over real HTTP on the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ROOT
from voxanne_admin import db
from voxanne_admin.providers import resilience


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scalar(sql: str, **params):
    with db.get_engine().connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture
def api_server(clean_db, tmp_path):
    """The API routes + inbox worker (no UI) served by granian on a free port, on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": clean_db,
        "PORT": str(port),
        "SANDBOX_CALL_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "voxanne_admin.api.standalone:create_app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        raise RuntimeError((tmp_path / "server.log").read_text())
    resilience.reset_breakers()
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


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
