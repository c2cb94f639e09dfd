"""Feature flag benchmark (not a timed test): in-process evaluation speed beside a bare dict lookup, and how fast a
change reaches a second worker process over LISTEN/NOTIFY, beside the UnleashClient SDK at its default refresh.

Runs on a throwaway embedded PostgreSQL (or BENCH_DATABASE_URL's server) with 300 organizations:

    .venv/bin/python benchmarks/flags.py [--changes 200] [--sdk-changes 5]

Prints a table, then one JSON line with evals_per_s, propagation_p99_ms and the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child() -> None:
    """The second worker: run the listener, print (rollout of lead_scoring, wall time) after every reload."""
    import asyncio

    from voxanne_admin.flags import listener, snapshot

    original = snapshot.reload

    def reload_and_report():
        snap = original()
        print(f"{snap.flags['lead_scoring'].rollout} {time.time():.6f}", flush=True)
        return snap

    snapshot.reload = reload_and_report  # type: ignore[assignment]
    asyncio.run(listener.listen_forever(reload_seconds=30))


def _setup_database() -> tuple[str, object]:
    from sqlalchemy.engine import make_url

    from tests.conftest import create_database
    from voxanne_admin import migrate
    from voxanne_admin.db import normalise_url, start_embedded

    server = None
    base = os.environ.get("BENCH_DATABASE_URL")
    if base:
        server_url = normalise_url(base)
    else:
        server = start_embedded(Path(tempfile.mkdtemp(prefix="voxanne-flags-bench-")))
        server_url = server.get_uri(driver="psycopg")
    url = create_database(server_url, "voxanne_flags_bench")
    migrate.upgrade(url)
    os.environ["DATABASE_URL"] = url
    os.environ["VOXANNE_RESOLVED_DATABASE_URL"] = url
    return make_url(url).render_as_string(hide_password=False), server


def _seed_orgs(count: int) -> None:
    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.orgs import service as org_service

    countries = [("US", "America/New_York"), ("GB", "Europe/London"), ("NG", "Africa/Lagos"),
                 ("TR", "Europe/Istanbul")]
    with db.transaction() as session:
        for i in range(count):
            country, tz = countries[i % 4]
            org_service.create(session, name=f"Clinic {i:03d}", slug=f"clinic-{i:03d}", country=country,
                               timezone=tz, actor=Actor.system("bench"), actor_role="founder")


def _rate(fn, seconds: float = 1.5) -> float:
    count, started = 0, time.perf_counter()
    while True:
        for _ in range(1000):
            fn()
        count += 1000
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count / elapsed


def _evaluation_rates() -> dict[str, float]:
    from voxanne_admin.flags import snapshot

    snap = snapshot.reload()
    snapshot.set_listening(True)  # as in a worker: the listener keeps it fresh, no TTL reloads
    org_ids = list(snap.orgs)
    one = org_ids[len(org_ids) // 2]
    plain = {f"{key}:{one}": True for key in snap.flags}
    probe = f"lead_scoring:{one}"
    rates = {
        "dict": _rate(lambda: plain[probe]),
        "single": _rate(lambda: snapshot.is_enabled("lead_scoring", one)),
        "all_flags": _rate(lambda: snapshot.evaluate_all(one), seconds=1.0),
    }
    snapshot.set_listening(False)
    snapshot.flush_counts()
    return rates


def _propagation(changes: int) -> list[float]:
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.flags import flows

    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, __file__, "--child"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen: dict[int, float] = {}
    ready = threading.Event()
    lock = threading.Condition()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            rollout, stamp = line.split()
            with lock:
                seen.setdefault(int(rollout), float(stamp))
                lock.notify_all()
            ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        raise SystemExit("the second worker did not start")
    latencies = []
    try:
        for i in range(changes):
            value = 1 + (i % 99)
            if value == 50:
                value = 99 - (i % 7)
            with lock:
                seen.pop(value, None)
            started = time.time()
            flows.update(key="lead_scoring", changes={"rollout": value}, actor=Actor.system("bench"),
                         actor_role="admin")
            with lock:
                if not lock.wait_for(lambda v=value: v in seen, timeout=30):
                    raise SystemExit(f"change {i} never reached the second worker")
                latencies.append((seen[value] - started) * 1000)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    return latencies


def _sdk_propagation(changes: int) -> tuple[list[float], int]:
    import httpx
    from UnleashClient import UnleashClient

    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import tokens
    from voxanne_admin.flags import flows

    with db.transaction() as session:
        user = auth_service.create_staff(session, email=f"bench-{secrets.token_hex(3)}@voxanne.example",
                                         name="Bench", role="viewer", password="velvet orchid kestrel 41",
                                         actor=Actor.system("bench"), actor_role="founder")
        token = tokens.create(session, staff_id=user.id or 0, name="bench sdk", actor=Actor.system("bench"),
                              scopes=["flags"])
    port = _free_port()
    env = {**os.environ, "PORT": str(port)}
    server = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host",
                               "127.0.0.1", "--port", str(port), "voxanne_admin.api.standalone:create_app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/api/client/features", headers={"Authorization": token}, timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the API server did not start")
        time.sleep(0.2)
    client = UnleashClient(url=f"{base}/api", app_name="voxanne-bench", custom_headers={"Authorization": token},
                           cache_directory=tempfile.mkdtemp())
    client.initialize_client()
    from voxanne_admin.flags import snapshot

    org_id = next(iter(snapshot.reload().orgs))
    context = {"orgId": str(org_id)}
    latencies = []
    try:
        state = client.is_enabled("sms_campaigns", context)
        for _ in range(changes):
            state = not state
            started = time.time()
            flows.update(key="sms_campaigns", changes={"enabled": state, "rollout": 100}, actor=Actor.system("bench"),
                         actor_role="admin")
            while client.is_enabled("sms_campaigns", context) != state:
                if time.time() - started > 120:
                    raise SystemExit("the SDK never saw the change")
                time.sleep(0.01)
            latencies.append((time.time() - started) * 1000)
    finally:
        client.destroy()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    return latencies, 15


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run every measurement, print the table and the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--sdk-changes", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=300)
    args = parser.parse_args()
    if args.child:
        child()
        return
    url, server = _setup_database()
    _seed_orgs(args.orgs)
    rates = _evaluation_rates()
    latencies = _propagation(args.changes)
    sdk, sdk_interval = _sdk_propagation(args.sdk_changes) if args.sdk_changes else ([], 15)
    rows = [
        ("bare dict lookup", f"{rates['dict']:,.0f} /s", ""),
        ("single flag, in process", f"{rates['single']:,.0f} /s",
         f"{rates['dict'] / rates['single']:.1f}x a dict lookup"),
        ("all 10 flags for one org", f"{rates['all_flags']:,.0f} /s", "with reasons"),
        (f"propagation to a 2nd process (n={len(latencies)})",
         f"p50 {statistics.median(latencies):.1f} ms",
         f"p99 {_pct(latencies, 99):.1f} ms, max {max(latencies):.1f} ms"),
    ]
    if sdk:
        rows.append((f"UnleashClient SDK, refresh {sdk_interval} s (n={len(sdk)})",
                     f"p50 {statistics.median(sdk):,.0f} ms", f"max {max(sdk):,.0f} ms"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'result':>22}  note")
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>22}  {note}")
    print(json.dumps({
        "evals_per_s": round(rates["single"]), "all_flags_evals_per_s": round(rates["all_flags"]),
        "dict_lookups_per_s": round(rates["dict"]), "organizations": args.orgs,
        "propagation_p50_ms": round(statistics.median(latencies), 2),
        "propagation_p99_ms": round(_pct(latencies, 99), 2),
        "propagation_changes": len(latencies),
        "sdk_propagation_p50_ms": round(statistics.median(sdk)) if sdk else None,
        "sdk_refresh_interval_s": sdk_interval, "targets_met": rates["single"] >= 200_000 and _pct(latencies, 99) < 500,
    }))
    if server is not None:
        from voxanne_admin.db import reset_engine

        reset_engine()
        server.cleanup()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
