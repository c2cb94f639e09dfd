"""Scale-out benchmark (not a timed test): webhook ingest and page-event latency through HAProxy with one and with
two replicas, CPU and memory per replica, and failover time (SIGKILL of a replica -> first successful request
through the proxy; target < 5 s).

Uses the same fleet as tests/scale: replicas started with `voxanne-admin serve` on a fresh database on the
machine's PostgreSQL (SCALE_PG_URL) and a Redis database (SCALE_REDIS_URL), HAProxy from deploy/haproxy.cfg on
VOXANNE_E2E_PORT (so the frontend build is shared with the tests).

    .venv/bin/python benchmarks/scale_out.py [--webhooks 3000] [--concurrency 16] [--events 30]

Prints a table, then one JSON line with one_replica_per_s, two_replicas_per_s, failover_s and the rest.
Two cores will not show a linear gain: the load generator, HAProxy, PostgreSQL and Redis share them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tests.conftest import create_database, drop_database  # noqa: E402
from tests.scale import conftest as fleetlib  # noqa: E402
from voxanne_admin.webhooks.signatures import vapi_hmac  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except (OSError, IndexError, ValueError):
            pass
    return total


def _rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _proxy(fleet: fleetlib.Fleet, names: list[str], tmp: Path) -> subprocess.Popen:
    cfg = tmp / f"haproxy-{len(names)}.cfg"
    cfg.write_text(fleetlib.haproxy_config({n: fleet.replicas[n].port for n in names}, fleetlib.PROXY_PORT))
    proc = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    fleet.proxy = proc
    for name in names:
        fleet.wait_proxy_routes_to(name)
    return proc


def _message(call_id: str, status: str) -> bytes:
    return json.dumps({"message": {"type": "status-update", "status": status,
                                   "call": {"id": call_id, "status": status}}}).encode()


def _ingest(fleet: fleetlib.Fleet, names: list[str], count: int, concurrency: int, tag: str) -> dict:
    bodies = [_message(f"bench-{tag}-{i // 2}", ("ringing", "ended")[i % 2]) for i in range(count)]
    pids = set().union(*(fleet.pids(n) for n in names))
    cpu0, wall0 = _cpu_seconds(pids), time.monotonic()
    latencies: list[float] = []
    errors = 0

    def post(client: httpx.Client, body: bytes) -> None:
        nonlocal errors
        started = time.perf_counter()
        r = client.post(f"{fleet.base}/webhooks/vapi", content=body, headers={
            "content-type": "application/json", "x-vapi-signature": vapi_hmac(fleetlib.WEBHOOK_SECRET, body)})
        latencies.append(time.perf_counter() - started)
        if r.status_code != 200:
            errors += 1

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client, \
            ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda b: post(client, b), bodies))
    wall = time.monotonic() - wall0
    cpu = _cpu_seconds(pids) - cpu0
    latencies.sort()
    return {"per_s": count / wall, "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000, "errors": errors,
            "cpu_cores": cpu / wall, "rss_mb": _rss_mb(pids) / len(names)}


def _page_events(fleet: fleetlib.Fleet, rounds: int) -> dict:
    """Sidebar navigation in Chromium through the proxy: click -> the next page's heading (one websocket event
    round trip plus render), alternating two pages."""
    from playwright.sync_api import expect, sync_playwright

    from tests.chromium import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.helpers import create_account, sign_in

    account = create_account(fleet.engine, role="viewer", label=f"bench{time.time_ns()}")
    timings = []
    expect.set_options(timeout=30_000)  # a loaded shared machine
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for replica in fleet.replicas:  # warm each live replica's websocket path (first events compile state)
            if fleet.pids(replica):
                warm = browser.new_context(base_url=fleet.base, extra_http_headers={"x-voxanne-replica": replica})
                warm.new_page().goto("/login")
                warm.close()
        for attempt in range(3):  # a sign-in step lost on a loaded machine is retried, not measured
            page = browser.new_context(base_url=fleet.base).new_page()
            page.set_default_timeout(30_000)
            try:
                sign_in(page, fleet.engine, account)
                break
            except AssertionError:
                if attempt == 2:
                    raise
                page.context.close()
        nav = page.get_by_role("navigation", name="Main")
        for i in range(rounds):
            target = ("Organizations", "Overview")[i % 2]
            started = time.perf_counter()
            nav.get_by_role("link", name=target).click()
            page.get_by_role("heading", name=target).wait_for()
            timings.append((time.perf_counter() - started) * 1000)
        browser.close()
    with fleet.engine.begin() as conn:
        conn.exec_driver_sql("delete from login_attempts")
    timings.sort()
    return {"p50_ms": statistics.median(timings), "p95_ms": timings[int(len(timings) * 0.95) - 1]}


def _failover(fleet: fleetlib.Fleet) -> dict:
    """SIGKILL app2 while requests flow; time to the first success through the proxy, and to the last error."""
    stop = threading.Event()
    results: list[tuple[float, bool]] = []

    def hammer() -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.is_set():
                try:
                    ok = client.get(f"{fleet.base}/health/ready").status_code == 200
                except httpx.HTTPError:
                    ok = False
                results.append((time.monotonic(), ok))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    killed = time.monotonic()
    fleet.kill("app2")
    time.sleep(6.0)
    stop.set()
    for t in threads:
        t.join()
    after = [(t, ok) for t, ok in results if t > killed]
    first_ok = next((t for t, ok in after if ok), None)
    last_error = max((t for t, ok in after if not ok), default=killed)
    return {"failover_s": (first_ok - killed) if first_ok else float("inf"),
            "errors_after_kill": sum(1 for _, ok in after if not ok), "last_error_s": last_error - killed,
            "requests_after_kill": len(after)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(fleetlib.REDIS_URL).flushdb()
    url = create_database(fleetlib.PG_URL, "voxanne_bench_scale")
    tmp = Path(tempfile.mkdtemp(prefix="voxanne-bench-fleet-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOXANNE_", "PROMETHEUS_", "DATABASE_")) and k not in ("REDIS_URL", "PORT")}
    env.update(DATABASE_URL=url, REDIS_URL=fleetlib.REDIS_URL,
               VOXANNE_PUBLIC_URL=f"http://localhost:{fleetlib.PROXY_PORT}", VOXANNE_WORKERS="1",
               VOXANNE_BACKUP_DIR=str(tmp / "backups"),
               VAPI_WEBHOOK_SECRET=fleetlib.WEBHOOK_SECRET, **fleetlib.shared_keys(),
               TRUSTED_PROXIES="127.0.0.1", LOG_LEVEL="WARNING", VOXANNE_DRAIN_SECONDS="1")
    fleetlib.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    replicas = {n: fleetlib.Replica(n, fleetlib._free_port(), tmp / n, fleetlib.ARTIFACTS / f"bench-{n}.log")
                for n in ("app1", "app2")}
    for replica in replicas.values():
        fleetlib.share_sandbox_secrets(replica.data_dir)
    engine = sa.create_engine(url, pool_size=2)
    fleet = fleetlib.Fleet(url, engine, replicas, env)
    rows: dict[str, dict] = {}
    try:
        fleet.start("app1")
        fleet.wait_ready("app1")
        proxy = _proxy(fleet, ["app1"], tmp)
        _ingest(fleet, ["app1"], 200, args.concurrency, "warm1")
        rows["1 replica"] = _ingest(fleet, ["app1"], args.webhooks, args.concurrency, "one")
        rows["1 replica"].update({f"page_{k}": v for k, v in _page_events(fleet, args.events).items()})
        proxy.terminate()
        proxy.wait(10)
        fleet.start("app2")
        fleet.wait_ready("app2")
        proxy = _proxy(fleet, ["app1", "app2"], tmp)
        _ingest(fleet, ["app1", "app2"], 200, args.concurrency, "warm2")
        rows["2 replicas"] = _ingest(fleet, ["app1", "app2"], args.webhooks, args.concurrency, "two")
        rows["2 replicas"].update({f"page_{k}": v for k, v in _page_events(fleet, args.events).items()})
        failover = _failover(fleet)
        proxy.terminate()
        proxy.wait(10)
    finally:
        if fleet.proxy is not None and fleet.proxy.poll() is None:
            fleet.proxy.terminate()
        for name in replicas:
            fleet.stop(name)
        engine.dispose()
        fleetlib._drop_dr_slots(fleetlib.PG_URL, tmp / "backups")
        drop_database(fleetlib.PG_URL, url)
        redis.Redis.from_url(fleetlib.REDIS_URL).flushdb()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'':12} {'webhooks/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU cores':>9} "
          f"{'RSS MB/replica':>14} {'page p50 ms':>11} {'page p95 ms':>11}")
    for name, r in rows.items():
        print(f"{name:12} {r['per_s']:10.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:6d} "
              f"{r['cpu_cores']:9.2f} {r['rss_mb']:14.0f} {r['page_p50_ms']:11.0f} {r['page_p95_ms']:11.0f}")
    print(f"failover: first success {failover['failover_s']:.2f} s after SIGKILL; "
          f"{failover['errors_after_kill']} of {failover['requests_after_kill']} requests failed, the last "
          f"{failover['last_error_s']:.2f} s after the kill")
    print(json.dumps({
        "one_replica_per_s": round(rows["1 replica"]["per_s"], 1),
        "two_replicas_per_s": round(rows["2 replicas"]["per_s"], 1),
        "failover_s": round(failover["failover_s"], 3),
        "one_replica_page_p50_ms": round(rows["1 replica"]["page_p50_ms"], 1),
        "two_replicas_page_p50_ms": round(rows["2 replicas"]["page_p50_ms"], 1),
        "one_replica_cpu_cores": round(rows["1 replica"]["cpu_cores"], 2),
        "two_replicas_cpu_cores": round(rows["2 replicas"]["cpu_cores"], 2),
        "rss_mb_per_replica": round(rows["2 replicas"]["rss_mb"], 0),
        "failover_errors": failover["errors_after_kill"],
        "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
