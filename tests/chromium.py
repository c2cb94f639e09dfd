"""Headless Debian Chromium through Playwright, for every browser test and benchmark (`playwright install` cannot
download browsers here, so the apt package is used)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]


def launched(*, serve_port_from: tuple[int, int] | None = None) -> Iterator:
    """Yield a launched Chromium and close it after; in a test, fail in CI (skip elsewhere) when it is missing.

    `serve_port_from=(public, real)`: the browser reaches http://localhost:<public> at 127.0.0.1:<real>. The page,
    its origin, cookies and websocket are still the console's public http://localhost:<public> (the one the
    frontend build and the server's Origin check name), while several servers of one run listen side by side."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Chromium is missing: the test command installs Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do (Playwright's 5 s default is short on a loaded 2-core machine).
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        args = list(CHROMIUM_ARGS)
        if serve_port_from is not None and serve_port_from[0] != serve_port_from[1]:
            public, real = serve_port_from
            args.append(f"--host-resolver-rules=MAP localhost:{public} 127.0.0.1:{real}")
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield instance
        instance.close()
