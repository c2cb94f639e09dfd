"""First-run takeover: a fresh install listening beyond loopback prints a one-time setup code at start, and the
first-run form needs it (the browser flow is tests/e2e/test_first_run.py). Loopback-only installs need none.

The first test reads the log of the real production server (`voxanne-admin serve` on a fresh database, bound to
0.0.0.0, the default HOST, as tests/e2e/conftest.py starts it): that is what fails on the code before the fixes.
The others drive the announcement and the code store directly (modules the fix added)."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import SERVER_LOG
from voxanne_admin.settings import load_settings

CODE = r"setup code: ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})"


def test_the_production_server_on_a_fresh_install_prints_a_setup_code(live_server):
    log = SERVER_LOG
    deadline = time.monotonic() + 20
    while not re.search(CODE, log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert re.search(CODE, log.read_text()), "a fresh install on 0.0.0.0 printed no setup code"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_fresh_install_beyond_loopback_prints_a_setup_code(clean_db, capsys, host):
    from voxanne_admin.auth import setup_code
    from voxanne_admin.cli.commands import _announce_setup_code

    setup_code.clear()
    _announce_setup_code(load_settings(host=host))
    line = capsys.readouterr().out
    found = re.search(CODE, line)
    assert found, line
    assert setup_code.required()
    assert not setup_code.check("") and not setup_code.check("AAAA-BBBB-CCCC")
    assert setup_code.check(found.group(1).lower().replace("-", " "))
    _announce_setup_code(load_settings(host=host))  # a restart before the founder exists: the same code
    assert found.group(1) in capsys.readouterr().out
    setup_code.clear()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_install_needs_no_setup_code(clean_db, capsys, host):
    from voxanne_admin.auth import setup_code
    from voxanne_admin.cli.commands import _announce_setup_code

    _announce_setup_code(load_settings(host=host))
    assert "setup code" not in capsys.readouterr().out
    assert not setup_code.required() and setup_code.check("")


def test_no_setup_code_once_the_founder_exists(clean_db, capsys):
    from tests.unit.factories import make_staff
    from voxanne_admin import db
    from voxanne_admin.auth import setup_code
    from voxanne_admin.cli.commands import _announce_setup_code

    setup_code.issue(host="0.0.0.0")
    with db.transaction() as session:
        make_staff(session, role="founder")
    _announce_setup_code(load_settings(host="0.0.0.0"))
    assert "setup code" not in capsys.readouterr().out
    assert not setup_code.required()
