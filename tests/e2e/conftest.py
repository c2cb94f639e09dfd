"""End-to-end fixtures: the real production server (`voxanne-admin serve`) on its own database, and
headless Debian Chromium driven by Playwright. Screenshots of each step go to test-artifacts/e2e/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, ROOT, create_database, drop_database

E2E_PORT = int(os.environ.get("VOXANNE_E2E_PORT", "3317"))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


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
def live_server(pg_server_url: str, tmp_path_factory) -> Iterator[dict]:
    """`voxanne-admin serve --demo` on E2E_PORT against a fresh database; yields base URL, db URL and process."""
    url = create_database(pg_server_url, "voxanne_e2e")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "server.log"
    env = dict(os.environ)
    env.update(DATABASE_URL=url, PORT=str(E2E_PORT), VOXANNE_DATA_DIR=str(tmp_path_factory.mktemp("e2e-data")),
               LOG_LEVEL="WARNING")
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    env.pop("VOXANNE_PUBLIC_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxanne_admin.cli", "serve", "--demo"], cwd=ROOT, env=env,
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://localhost:{E2E_PORT}"
    try:
        _wait_ready(base, proc, log)
        yield {"base": base, "database_url": url, "proc": proc}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        drop_database(pg_server_url, url)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium through Playwright (playwright install cannot download browsers here)."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Chromium is missing: the test command installs Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Shots:
    """Numbered screenshots per test under test-artifacts/e2e/<test>/."""

    def __init__(self, page, name: str):
        self.page = page
        self.dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, step: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{step}.png"), full_page=True)


@pytest.fixture
def browser_page(browser, live_server, request) -> Iterator:
    """A fresh browser context (no cookies) with a screenshot helper at `page.shot(step)`."""
    context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=live_server["base"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.shot = Shots(page, request.node.name)  # type: ignore[attr-defined]
    yield page
    try:
        page.shot("final")  # type: ignore[attr-defined]
    finally:
        context.close()
