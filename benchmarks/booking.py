"""Booking benchmark on the production server (signed Vapi tool-calls to /webhooks/vapi):
  1. 1,000 check_availability tool calls from 100 concurrent clients (availability latency);
  2. 1,000 book_appointment tool calls from 100 concurrent clients competing for 50 slots. Reports bookings made
     (must be 50), double bookings (must be 0) and tool-call latency.
With BENCH_PROFILE=<tag>, py-spy records the backend worker during the booking phase into
benchmarks/profiles/booking-<tag>.svg. Prints a table and ends with one JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (  # noqa: E402
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

ATTEMPTS = 1000
CLIENTS = 100
SLOTS = 50


def _slots(timezone: str) -> list[str]:
    """The first 50 bookable local slot starts from the next weekday on (09:00-17:00, 30 minutes)."""
    out: list[str] = []
    day = date.today() + timedelta(days=1)
    while len(out) < SLOTS:
        if day.weekday() < 5:
            start = datetime.combine(day, datetime.min.time(), ZoneInfo(timezone)).replace(hour=9)
            for i in range(16):
                out.append((start + timedelta(minutes=30 * i)).strftime("%Y-%m-%dT%H:%M"))
        day += timedelta(days=1)
    return out[:SLOTS]


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in head[1:] if line.lower().startswith("content-length:"))
    return int(head[0].split(" ")[1]), await reader.readexactly(length)


def main() -> None:
    repo = clone()
    port = free_port()
    server = None
    try:
        server = serve(repo, port)
        url = use_database_of(repo)
        from voxanne_admin.settings import get_settings
        from voxanne_admin.webhooks.signatures import vapi_hmac

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            org_id, tz = conn.execute(sa.text(
                "select id, timezone from organizations where slug = 'harbor-dental'")).one()
        slots = _slots(tz)
        secret = get_settings().webhook_secret
        rng = random.Random(7)
        plan = [(i, rng.choice(slots)) for i in range(ATTEMPTS)]
        days = sorted({slot[:10] for slot in slots})
        availability_plan = [(i, days[i % len(days)]) for i in range(ATTEMPTS)]
        latencies: list[float] = []
        answers: list[str] = []
        statuses: list[int] = []
        availability_latencies: list[float] = []
        availability_answers: list[str] = []

        def tool_message(i: int, name: str, arguments: dict) -> bytes:
            message = {"type": "tool-calls", "call": {"id": f"bench-{name}-{i}", "metadata": {"org_id": org_id}},
                       "toolCallList": [{"id": f"tc{i}", "type": "function", "function": {
                           "name": name, "arguments": json.dumps(arguments)}}]}
            return json.dumps({"message": message}).encode()

        async def client_loop(queue: asyncio.Queue, make, lat: list[float], out: list[str], codes: list[int]) -> None:
            # A raw HTTP/1.1 keep-alive client: httpx cost ~10 ms of CPU per request here, which made the load
            # generator, not the server, the bottleneck on two shared cores.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    body = make(*item)
                    head = (f"POST /webhooks/vapi HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            f"X-Vapi-Signature: {vapi_hmac(secret, body)}\r\nContent-Length: {len(body)}\r\n\r\n")
                    started = time.perf_counter()
                    writer.write(head.encode() + body)
                    await writer.drain()
                    status, answer = await _response(reader)
                    lat.append(time.perf_counter() - started)
                    codes.append(status)
                    out.append(json.loads(answer)["results"][0].get("result", ""))
            finally:
                writer.close()

        async def run(items, make, lat, out, codes) -> float:
            queue: asyncio.Queue = asyncio.Queue()
            for item in items:
                queue.put_nowait(item)
            for _ in range(CLIENTS):
                queue.put_nowait(None)
            started = time.perf_counter()
            await asyncio.gather(*(client_loop(queue, make, lat, out, codes) for _ in range(CLIENTS)))
            return time.perf_counter() - started

        availability_codes: list[int] = []
        web_pid = web_worker_pid(port)
        cpu_start = server_cpu_s(server, repo, web_pid)
        generator_start = generator_cpu_s()
        availability_elapsed = asyncio.run(run(
            availability_plan, lambda i, day: tool_message(i, "check_availability", {"date": day}),
            availability_latencies, availability_answers, availability_codes))
        cpu_between = server_cpu_s(server, repo, web_pid)
        generator_between = generator_cpu_s()
        recorder = start_profile(web_pid, "booking", float(os.environ.get("BENCH_PROFILE_S", "8")), idle=True)
        elapsed = asyncio.run(run(
            plan, lambda i, slot: tool_message(i, "book_appointment", {
                "contact_name": f"Patient {i}", "contact_phone": "+12015550199", "slot_start": slot}),
            latencies, answers, statuses))
        cpu_end = server_cpu_s(server, repo, web_pid)
        generator_end = generator_cpu_s()
        finish_profile(recorder)
        availability_cpu = cpu_ms_per(cpu_start, cpu_between, len(availability_answers))
        booking_cpu = cpu_ms_per(cpu_between, cpu_end, len(answers))
        # The load generator's own CPU during each phase (this process: building, signing and sending the calls,
        # reading the answers), apart from its set-up (clone, imports, the server start).
        availability_cpu["generator"] = round(
            (generator_between - generator_start) * 1000 / len(availability_answers), 2)
        booking_cpu["generator"] = round((generator_end - generator_between) * 1000 / len(answers), 2)
        load = os.getloadavg()
        with engine.connect() as conn:
            booked_rows = conn.execute(sa.text(
                "select count(*) from appointments where org_id = :o and status = 'booked'"), {"o": org_id}).scalar()
            double = conn.execute(sa.text(
                "select count(*) from (select starts_at from appointments where org_id = :o and status = 'booked' "
                "group by starts_at having count(*) > 1) t"), {"o": org_id}).scalar()
    finally:
        stop(server)
        shutil.rmtree(repo.parent, ignore_errors=True)
    booked_answers = sum(a.startswith("Booked for") for a in answers)
    taken_answers = sum(a.startswith("That time was just taken") for a in answers)
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(0.99 * (len(lat) - 1))] * 1000
    avail = sorted(availability_latencies)
    avail_p50 = statistics.median(avail) * 1000
    avail_p99 = avail[int(0.99 * (len(avail) - 1))] * 1000
    avail_ok = sum(a.startswith(("Free times on", "No free times on")) for a in availability_answers)
    rows = [
        ("check_availability calls (100 concurrent clients)", f"{len(availability_answers)}"),
        ("availability answers listing times", f"{avail_ok}"),
        ("check_availability latency p50", f"{avail_p50:.0f} ms"),
        ("check_availability latency p99 (target < 150 ms)", f"{avail_p99:.0f} ms"),
        ("availability throughput", f"{len(availability_answers) / availability_elapsed:.0f} tool calls/s"),
        ("tool calls sent (100 concurrent clients)", f"{len(answers)}"),
        ("HTTP 200 answers", f"{sum(s == 200 for s in statuses)}"),
        ("slots competed for", f"{SLOTS}"),
        ("'Booked for ...' answers", f"{booked_answers}"),
        ("booked rows in the database", f"{booked_rows}"),
        ("'just taken, nearest free times ...' answers", f"{taken_answers}"),
        ("slots booked twice", f"{double}"),
        ("tool-call latency p50", f"{p50:.0f} ms"),
        ("tool-call latency p99 (target < 300 ms)", f"{p99:.0f} ms"),
        ("throughput", f"{len(answers) / elapsed:.0f} tool calls/s"),
        ("CPU per check_availability (backend worker / all server / PostgreSQL / load generator)",
         f"{availability_cpu['web']:.2f} / {availability_cpu['server']:.2f} / {availability_cpu['postgres']:.2f}"
         f" / {availability_cpu['generator']:.2f} ms"),
        ("CPU per book_appointment (backend worker / all server / PostgreSQL / load generator)",
         f"{booking_cpu['web']:.2f} / {booking_cpu['server']:.2f} / {booking_cpu['postgres']:.2f}"
         f" / {booking_cpu['generator']:.2f} ms"),
        ("load average (1 min) at the end of the booking phase", f"{load[0]:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:{width}}  {value:>10}")
    print(json.dumps({"attempts": len(answers), "slots": SLOTS, "booked": int(booked_rows),
                      "booked_answers": booked_answers, "double_booked": int(double), "p50_ms": round(p50, 1),
                      "p99_ms": round(p99, 1), "availability_p99_ms": round(avail_p99, 1),
                      "availability_p50_ms": round(avail_p50, 1), "availability_ok": avail_ok,
                      "booking_per_s": round(len(answers) / elapsed, 1), "generator_cpu_s": round(generator_cpu_s(), 2),
                      "booking_cpu_ms_per_call": booking_cpu, "availability_cpu_ms_per_call": availability_cpu,
                      "loadavg_1m": round(load[0], 2),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
