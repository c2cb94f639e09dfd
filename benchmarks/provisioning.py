"""Provisioning benchmark: 200 number purchases against the sandbox providers over real HTTP (the API server under
granian on a throwaway embedded PostgreSQL), with random failures injected after the purchase: Vapi import
failures (sandbox fault), database failures at the record step, and simulated crashes between purchase and record
that leave orphans. Then the reconciliation job runs. Reports numbers bought, released, adopted and orphaned
(must be 0) and the time per provisioning at p50/p99. Prints a table and ends with one JSON line.

    .venv/bin/python benchmarks/provisioning.py [--purchases 200] [--seed 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import ROOT, free_port  # noqa: E402

ORGS = 120  # several purchases hit an org that already has a number: its crash orphans are released
FAULTS = {"vapi_import": 0.15, "db_record": 0.15, "crash": 0.10}  # the rest succeed


class SimulatedCrash(BaseException):
    """The process "dies" between purchase and record: no rollback code runs (it only catches Exception)."""


def _start(tmp: Path) -> tuple[subprocess.Popen, str, object]:
    os.environ["VOXANNE_DATA_DIR"] = str(tmp / "data")
    for name in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL", "VAPI_API_KEY", "TWILIO_ACCOUNT_SID",
                 "TWILIO_AUTH_TOKEN", "VOXANNE_PUBLIC_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    from voxanne_admin import db, migrate
    from voxanne_admin.settings import get_settings

    server = db.start_embedded(tmp / "embedded")
    url = server.get_uri(driver="psycopg")
    migrate.upgrade(url)
    port = free_port()
    os.environ.update(DATABASE_URL=url, PORT=str(port), LOG_LEVEL="WARNING")
    os.environ[db.RESOLVED_URL_ENV] = url
    get_settings.cache_clear()
    db.reset_engine()
    env = {**os.environ}
    env.pop(db.RESOLVED_URL_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "voxanne_admin.api.standalone:create_app"],
        cwd=ROOT, env=env, stdout=(tmp / "server.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base, server
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit((tmp / "server.log").read_text()[-3000:])


def _orgs() -> list[int]:
    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.orgs import service as org_service
    from voxanne_admin.telephony import service as tel

    actor = Actor.system("benchmark")
    ids = []
    with db.transaction() as session:
        for i in range(ORGS):
            org = org_service.create(session, name=f"Bench Clinic {i}", slug=f"bench-{i}", country="US",
                                     timezone="America/New_York", actor=actor, actor_role="founder")
            tel.set_country(session, org_id=org.id, country="US", actor=actor, actor_role="founder")
            ids.append(org.id)
    return ids


async def _run(purchases: int, rng: random.Random) -> tuple[Counter, list[float], dict[str, int]]:
    import sqlalchemy as sa

    from voxanne_admin.audit.service import Actor
    from voxanne_admin.errors import ProviderError
    from voxanne_admin.sandbox import store
    from voxanne_admin.telephony import ratelimit
    from voxanne_admin.telephony.flows import provisioning, reconciliation

    actor = Actor(type="staff", id="bench", email="bench@voxanne.example")
    orgs = await asyncio.to_thread(_orgs)
    record, vapi_client = provisioning._record, provisioning.vapi_client
    outcomes: Counter = Counter()
    times: list[float] = []
    for _ in range(purchases):
        ratelimit.reset()  # the benchmark measures provisioning, not the limiter
        org_id = rng.choice(orgs)
        found = await provisioning.search_numbers(org_id=org_id, country="US", number_type="local", limit=5)
        e164 = found[0].e164
        draw = rng.random()
        fault = "none"
        edge = 0.0
        for name, share in FAULTS.items():
            edge += share
            if draw < edge:
                fault = name
                break
        # Faults: the sandbox's fault API for Vapi; a broken record step or a crash after the purchase by
        # replacing the flow's collaborators for this one purchase (restored below).
        provisioning._record, provisioning.vapi_client = record, vapi_client
        if fault == "vapi_import":
            await asyncio.to_thread(store.add_fault, "vapi", "fail", operation="POST /phone-number", status=400,
                                    message="twilioAuthToken is invalid")
        elif fault == "db_record":
            def broken_record(session, **kwargs):
                session.execute(sa.text("select 1 / 0"))
                return record(session, **kwargs)

            provisioning._record = broken_record
        elif fault == "crash":
            class Crashes:
                async def import_phone_number(self, body):
                    raise SimulatedCrash

            provisioning.vapi_client = Crashes
        started = time.perf_counter()
        try:
            await provisioning.provision_number(org_id=org_id, e164=e164, number_type="local", actor=actor,
                                       actor_role="operator")
            outcomes["recorded"] += 1
        except provisioning.ProvisioningFailed as exc:
            outcomes["rolled back (released)" if exc.released else "rolled back (release failed)"] += 1
        except SimulatedCrash:
            outcomes["crashed (orphan left)"] += 1
        except ProviderError as exc:
            outcomes[f"purchase refused: {exc}"] += 1
            continue
        if fault != "crash":
            times.append((time.perf_counter() - started) * 1000)
    provisioning._record, provisioning.vapi_client = record, vapi_client
    stats = await reconciliation.reconcile_numbers(grace=timedelta(0))
    return outcomes, times, stats


def _orphans() -> int:
    from sqlmodel import select

    from voxanne_admin import db
    from voxanne_admin.agents.models import PhoneNumber
    from voxanne_admin.sandbox import store

    with db.read_only() as session:
        recorded = set(session.exec(select(PhoneNumber.e164)).all())
    twilio = {n["phone_number"] for n in store.list_kind("twilio", "incoming_number", limit=100000)}
    vapi = {n["number"] for n in store.list_kind("vapi", "phone_number", limit=100000)}
    return len((twilio | vapi) - recorded)


def _released_count() -> int:
    from voxanne_admin import db
    from voxanne_admin.telephony.models import NumberProvisioning

    with db.read_only() as session:
        from sqlmodel import func, select

        return session.exec(select(func.count()).select_from(NumberProvisioning).where(
            NumberProvisioning.state.in_(("rolled_back", "released")))).one()  # type: ignore[attr-defined]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # each rollback logs a warning; the table says it all
    tmp = Path(tempfile.mkdtemp(prefix="voxanne-bench-provisioning-"))
    proc = None
    try:
        proc, _base, _server = _start(tmp)
        outcomes, times, stats = asyncio.run(_run(args.purchases, random.Random(args.seed)))
        purchases = sum(v for k, v in outcomes.items() if not k.startswith("purchase refused"))
        orphaned = _orphans()
        released = _released_count()
        result = {"purchases": purchases, "released": released, "adopted": stats["adopted"], "orphaned": orphaned,
                  "p50_ms": round(_pct(times, 0.50), 1), "p99_ms": round(_pct(times, 0.99), 1)}
        print(f"{'outcome':<36}{'count':>8}")
        for name, count in sorted(outcomes.items()):
            print(f"{name:<36}{count:>8}")
        print(f"{'reconcile: adopted':<36}{stats['adopted']:>8}")
        print(f"{'reconcile: released':<36}{stats['released']:>8}")
        print(f"{'reconcile: stale Vapi imports deleted':<36}{stats['vapi_deleted']:>8}")
        print()
        print(f"{'bought':<12}{'released':>10}{'adopted':>10}{'orphaned':>10}{'p50 ms':>10}{'p99 ms':>10}"
              f"{'mean ms':>10}")
        print(f"{purchases:<12}{released:>10}{stats['adopted']:>10}{orphaned:>10}{result['p50_ms']:>10}"
              f"{result['p99_ms']:>10}{round(statistics.fmean(times), 1) if times else 0:>10}")
        print(json.dumps(result))
        if orphaned:
            raise SystemExit(1)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        from voxanne_admin import db

        db.reset_engine()
        db.stop_embedded(tmp / "embedded")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
