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


def launched() -> Iterator:
    """Yield a launched Chromium and close it after; in a test, fail in CI (skip elsewhere) when it is missing."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("Chromium is missing: the test command installs Debian's chromium package.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do (Playwright's 5 s default is short on a loaded 2-core machine).
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
