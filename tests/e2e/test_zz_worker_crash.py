"""A backend worker killed with SIGKILL is replaced and the console keeps answering.

Runs after every other e2e test (E2E_ORDER): the crash drops every browser's in-memory state.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.e2e.helpers import wait_until

E2E_ORDER = "last"


def _health(base: str) -> dict | None:
    try:
        response = httpx.get(f"{base}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _wal_receivers(backup_dir) -> dict[int, int]:
    """pid -> parent pid of every pg_receivewal streaming into this server's archive."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if argv and argv[0].endswith(b"pg_receivewal") and str(backup_dir).encode() in b" ".join(argv):
            found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def test_killed_worker_is_respawned(browser_page, live_server):
    base = live_server["direct"]
    page = browser_page
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.shot("before-crash")

    first = _health(base)
    assert first and first["status"] == "ok"
    pid = first["pid"]
    assert pid != live_server["proc"].pid, "/health answers from a worker, not the supervisor"
    # The worker streams WAL into the backup archive (physical mode on the embedded server).
    receivers = wait_until(lambda: _wal_receivers(live_server["backup_dir"]), what="the WAL receiver")
    assert set(receivers.values()) == {pid}, receivers
    os.kill(pid, signal.SIGKILL)

    deadline = time.monotonic() + 30
    after = None
    while time.monotonic() < deadline:
        after = _health(base)
        if after and after["pid"] != pid:
            break
        time.sleep(0.25)
    assert after and after["pid"] != pid, f"no new worker answered /health within 30 s (last answer: {after})"
    assert live_server["proc"].poll() is None, "the server process exited when its worker died"
    # The dead worker's receiver went with it; the new worker streams (an orphan would hold the slot).
    wait_until(lambda: set(_wal_receivers(live_server["backup_dir"]).values()) == {after["pid"]}, timeout=60,
               what="only the new worker's WAL receiver")

    page.goto("/login")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.shot("after-respawn")
    # Events reach the new worker over a fresh websocket: the sign-in form answers.
    page.fill("#email", "nobody@e2e.voxanne.example")
    page.fill("#password", "not a real account password")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#form-error")).to_have_text("Email or password is incorrect.")
    page.shot("new-worker-answers-events")
    assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
