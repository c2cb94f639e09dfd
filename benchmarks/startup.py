"""Startup benchmark: cold run command to first page, warm restart to first page, sign-in to overview.

Cold: a fresh clone of this repository (new .venv, new npm install and frontend build, new embedded database);
package caches of uv/npm on this machine stay warm, as on any developer machine after the first install.
Warm: the same clone restarted. Sign-in: Chromium signs in (password + TOTP) against the production build and
waits until the overview figures are on screen.

Prints a table and ends with one JSON line holding warm_start_s and signin_to_overview_s.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import ROOT, stop  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "3400"))
BASE = f"http://localhost:{PORT}"
EMAIL = "bench@voxanne.example"
PASSWORD = "benchmark quartz meadow 77"
SIGNIN_RUNS = 5


def _start(clone: Path, log: Path) -> tuple[subprocess.Popen, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL")}
    env.update(PORT=str(PORT), VOXANNE_DATA_DIR=str(clone / ".voxanne"), LOG_LEVEL="WARNING")
    started = time.monotonic()
    proc = subprocess.Popen(["./voxanne", "run"], cwd=clone, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = started + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"run command exited {proc.returncode}; see {log}")
        try:
            page = httpx.get(f"{BASE}/login/", timeout=2)
            ready = httpx.get(f"{BASE}/health/ready", timeout=2)
            if page.status_code == 200 and "<html" in page.text.lower() and ready.status_code == 200:
                return proc, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit("server did not come up in 15 minutes")


def _create_founder(clone: Path) -> tuple[str, list[str]]:
    """Founder with TOTP enrolled, through the services, in the clone's database; returns secret and recovery codes."""
    script = f"""
import pyotp
from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as s
from voxanne_admin.auth import signin
with db.transaction() as session:
    u = s.create_first_founder(session, email={EMAIL!r}, name="Bench Founder", password={PASSWORD!r}, actor=Actor())
    secret, _ = signin.begin_totp_enrolment(session, user=u)
    codes = signin.confirm_totp_enrolment(session, user=u, code=pyotp.TOTP(secret).now(), actor=Actor())
print(secret + " " + ",".join(codes))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL")}
    env.update(VOXANNE_DATA_DIR=str(clone / ".voxanne"))
    out = subprocess.run([str(clone / ".venv/bin/python"), "-c", script], cwd=clone, env=env, check=True,
                         capture_output=True, text=True)
    secret, codes = out.stdout.strip().splitlines()[-1].split(" ")
    return secret, codes.split(",")


def _signin_times(secret: str, recovery_codes: list[str]) -> list[float]:
    """The first sign-in uses a TOTP code (waiting for the step after enrolment: codes never replay); the
    others use recovery codes, which take the same path after the code check."""
    import pyotp
    from playwright.sync_api import expect, sync_playwright

    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu",
                                           "--disable-background-networking", "--disable-component-update",
                                           "--no-first-run"])
        totp = pyotp.TOTP(secret)
        enrolled_code = totp.now()
        for run in range(SIGNIN_RUNS):
            context = browser.new_context(base_url=BASE)
            page = context.new_page()
            page.goto("/login")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.get_by_role("button", name="Continue").click()
            expect(page.locator("#code")).to_be_visible(timeout=20_000)
            if run == 0:
                while (code := totp.now()) == enrolled_code:
                    time.sleep(1)
            else:
                code = recovery_codes[run]
            page.fill("#code", code)
            started = time.monotonic()
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#overview-stats")).to_contain_text("Active organizations", timeout=20_000)
            expect(page.locator("#recent-activity")).to_be_visible(timeout=20_000)
            times.append(time.monotonic() - started)
            context.close()
        browser.close()
    return times


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="voxanne-bench-"))
    clone = work / "voxanne-admin"
    log = work / "run.log"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shared = ROOT.parent / "shared"
    if shared.exists() and not (work / "shared").exists():
        (work / "shared").symlink_to(shared)
    try:
        proc, cold = _start(clone, log)
        try:
            secret, recovery_codes = _create_founder(clone)
        finally:
            stop(proc)
        proc, warm = _start(clone, log)
        try:
            signin = _signin_times(secret, recovery_codes)
        finally:
            stop(proc)
    finally:
        subprocess.run([str(clone / ".venv/bin/voxanne-admin"), "db", "stop"], cwd=clone,
                       env={**os.environ, "VOXANNE_DATA_DIR": str(clone / ".voxanne")}, capture_output=True)
    median = statistics.median(signin)
    rows = [
        ("cold run command -> first page (fresh clone)", f"{cold:.1f} s", "-"),
        ("warm restart -> first page", f"{warm:.1f} s", "< 30 s"),
        (f"sign-in click -> overview shown (median of {len(signin)})", f"{median:.3f} s", "< 1 s"),
        ("sign-in click -> overview shown (max)", f"{max(signin):.3f} s", "-"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'result':>10}  target")
    for name, value, target in rows:
        print(f"{name:{width}}  {value:>10}  {target}")
    print(json.dumps({"cold_start_s": round(cold, 2), "warm_start_s": round(warm, 2),
                      "signin_to_overview_s": round(median, 3), "signin_max_s": round(max(signin), 3),
                      "cpus": os.cpu_count(), "python": sys.version.split()[0]}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
