"""Founder console latency: time from clicking "Place test call" to the first call status shown on the page,
against the sandbox provider on the production server, in headless Chromium. Median of several calls.
Prints a table and ends with one JSON line holding place_to_first_status_ms."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import clone, free_port, serve, stop, use_database_of  # noqa: E402

CALLS = 5
EMAIL = "bench@voxanne.example"
PASSWORD = "benchmark quartz meadow 77"


def main() -> None:
    import pyotp
    from playwright.sync_api import expect, sync_playwright

    repo = clone()
    port = free_port()
    server = None
    samples: list[float] = []
    page_reported: list[int] = []
    try:
        server = serve(repo, port, SANDBOX_CALL_SECONDS="2")
        use_database_of(repo)
        from voxanne_admin import db
        from voxanne_admin.audit.service import Actor
        from voxanne_admin.auth import service as auth
        from voxanne_admin.auth import signin

        with db.transaction() as session:
            user = auth.create_first_founder(session, email=EMAIL, name="Bench Founder", password=PASSWORD,
                                             actor=Actor())
            secret, _ = signin.begin_totp_enrolment(session, user=user)
            codes = signin.confirm_totp_enrolment(session, user=user, code=pyotp.TOTP(secret).now(), actor=Actor())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu",
                                               "--disable-background-networking", "--disable-component-update",
                                               "--no-first-run"])
            page = browser.new_page(base_url=f"http://localhost:{port}")
            page.set_default_timeout(30_000)
            page.goto("/login")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Continue").click()
            page.fill("#code", codes[0])
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            for _ in range(CALLS):
                page.goto("/console")  # a fresh page each time, so no earlier status is on screen
                page.locator("#console-org").click()
                page.get_by_role("option", name="Harbor Dental Care").click()
                page.fill("#console-number", "2015550143")
                page.click("#run-preflight")
                expect(page.locator("#preflight-checks")).to_contain_text("Customer number")
                expect(page.locator("#place-call")).to_be_enabled()
                started = time.perf_counter()
                page.click("#place-call")
                expect(page.locator("#call-status")).to_have_text(
                    re.compile(r"queued|ringing|in-progress|ended"), timeout=20_000)
                samples.append((time.perf_counter() - started) * 1000)
                expect(page.locator("#call-report")).to_be_visible(timeout=30_000)
                page_reported.append(int(page.locator("text=first status after").inner_text().split()[3]))
            browser.close()
    finally:
        stop(server)
        shutil.rmtree(repo.parent, ignore_errors=True)
    median = statistics.median(samples)
    print(f"{'measure':48}  result")
    print(f"{'click -> first status on screen (median of ' + str(CALLS) + ')':48}  {median:.0f} ms (target < 500 ms)")
    print(f"{'click -> first status on screen (max)':48}  {max(samples):.0f} ms")
    print(f"{'server-side place -> first status (median)':48}  {statistics.median(page_reported):.0f} ms")
    print(json.dumps({"place_to_first_status_ms": round(median, 1), "max_ms": round(max(samples), 1),
                      "calls": CALLS}))


if __name__ == "__main__":
    main()
