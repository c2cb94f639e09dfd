"""Security regression tests: the integration API server (real HTTP, tests/integration/conftest.py) and the
production server with a real browser and raw websockets (tests/e2e/conftest.py; the process-wide instances are
shared with tests/e2e when both run)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    E2E_PORT,
    _browser,
    _shared,
    browser_page,
    e2e_db,
    founder,
    live_server,
    make_account,
    new_page,
    oidc_provider,
)
from tests.integration.conftest import (  # noqa: F401  (fixtures)
    _api_server_process,
    _no_api_server_beside_other_tests,
    api_server,
)


@pytest.fixture(scope="module")
def browser():
    """Chromium per module here (tests/e2e shares one per package): in a parallel run this directory's other
    modules may follow on the same worker, and their tests call asyncio.run(), which an open Playwright forbids."""
    yield from _shared("browser", _browser)
