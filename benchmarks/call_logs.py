"""Call-logs benchmark: 1,000,000 calls loaded with `voxanne-admin seed-calls` into a throwaway embedded PostgreSQL,
then p50/p95 of what the Call logs page asks for, through the same service calls the page makes (first page, a
filtered page, a full-text search, the statistics panel), beside the naive version of each (OFFSET pagination
with SELECT *, per-row aggregation in Python), and a CSV export of every row with its peak memory.

    .venv/bin/python benchmarks/call_logs.py [--rows 1000000] [--runs 30] [--keep DIR]

`--keep DIR` keeps (and on a later run reuses) the loaded database in DIR, to iterate without reloading.
Prints a table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# Runs in a fresh interpreter and reads its own VmHWM (the high-water RSS of this process's memory since exec).
# Not ru_maxrss: Linux carries a process's maximum RSS across exec, so a child forked from this benchmark would
# report the benchmark's own peak (its naive phase streams SELECT * in 5,000-row batches) as the export's.
EXPORT_PROBE = """
import json, sys, time
from voxanne_admin.calls import export_flow
from voxanne_admin.calls.filters import CallFilter
from voxanne_admin import db

def hwm_mb(key="VmHWM"):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":")) / 1024

db.get_engine().connect().close()
base = hwm_mb()
t = time.perf_counter()
rows = export_flow.export_csv(flt=CallFilter(), path=sys.argv[1], progress=lambda n: None)
seconds = time.perf_counter() - t
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": hwm_mb(), "base_rss_mb": base}))
"""


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _time(fn, runs: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--keep", default="")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="voxanne-calllogs-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["VOXANNE_DATA_DIR"] = str(work / "data")
    for key in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL"):
        os.environ.pop(key, None)
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")

    import sqlalchemy as sa

    from voxanne_admin import db, migrate
    from voxanne_admin.settings import get_settings

    get_settings.cache_clear()
    db.reset_engine()
    server = db.start_embedded(work / "embedded")
    url = server.get_uri(driver="psycopg")
    os.environ["DATABASE_URL"] = url
    os.environ[db.RESOLVED_URL_ENV] = url
    get_settings.cache_clear()
    db.reset_engine()
    try:
        migrate.upgrade(url)
        engine = db.get_engine()
        with engine.connect() as conn:
            have = conn.execute(sa.text("select count(*) from calls")).scalar()
        load_s = 0.0
        if have < args.rows:
            from voxanne_admin import demo

            with db.transaction() as session:
                demo.seed(session)
            _log(f"seeding {args.rows - have} calls with voxanne-admin seed-calls")
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "voxanne_admin.cli", "seed-calls", "--count",
                            str(args.rows - have), "--seed", "11"], check=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            load_s = time.perf_counter() - t
            _log(f"seeded in {load_s:.0f} s; vacuum analyze")
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("vacuum analyze calls"))
                conn.execute(sa.text("vacuum analyze appointments"))
        results = run(engine, args.runs, work)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select count(*) from calls")).scalar()
            size = conn.execute(sa.text("select pg_size_pretty(pg_total_relation_size('calls'))")).scalar()
        results["rows"] = rows
        print(f"\nrows: {rows:,}  table+indexes: {size}  load: {load_s:.0f} s (seed-calls incl. index upkeep)")
        print(json.dumps(results))
    finally:
        db.reset_engine()
        db.stop_embedded(work / "embedded")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(engine, runs: int, work: Path) -> dict:
    """Every measurement; returns the JSON figures."""
    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.calls import families, listing
    from voxanne_admin.calls import stats as call_stats
    from voxanne_admin.calls.filters import CallFilter

    with engine.connect() as conn:
        org_id = conn.execute(sa.text("select org_id from calls group by 1 order by count(*) desc limit 1")).scalar()
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    filtered = CallFilter(org_ids=[org_id], direction="inbound", ended_family="customer-ended", min_duration=60,
                          date_from=since)
    # Common words, phrases, a pair of common words that never meet (the planner overestimates it) and a negation.
    searches = ["refill", "charged twice", "insurance network", '"blood test"', "saturday hours", "refill invoice",
                "cancel -rebook"]

    def with_session(fn):
        def call():
            with db.read_only() as session:
                return fn(session)
        return call

    rows_out: list[tuple[str, list[float], float]] = []
    _log("first page")
    first = _time(with_session(lambda s: listing.list_calls(s, flt=CallFilter(), limit=50)), runs)
    page = with_session(lambda s: listing.list_calls(s, flt=CallFilter(), limit=50))()
    deep_cursor = page.next_cursor
    for _ in range(200):  # walk 200 pages down to show keyset depth does not matter
        deep_cursor = with_session(lambda s, c=deep_cursor: listing.list_calls(s, flt=CallFilter(), cursor=c,
                                                                            limit=50))().next_cursor
    deep = _time(with_session(lambda s: listing.list_calls(s, flt=CallFilter(), cursor=deep_cursor, limit=50)), runs)
    _log("filtered page")
    filt = _time(with_session(lambda s: listing.list_calls(s, flt=filtered, limit=50)), runs)
    _log("search")
    per_query: dict[str, list[float]] = {}
    for q in searches:
        per_query[q] = _time(with_session(lambda s, q=q: listing.list_calls(s, flt=CallFilter(q=q), limit=50)),
                             max(10, runs // 3), warmup=2)
    search = [ms for samples in per_query.values() for ms in samples]
    _log("stats")
    stats_all = _time(with_session(lambda s: call_stats.stats(s, flt=CallFilter())), runs, warmup=3)
    stats_org = _time(with_session(lambda s: call_stats.stats(s, flt=CallFilter(org_ids=[org_id], date_from=since))),
                      runs, warmup=3)

    _log("naive first page (OFFSET deep, SELECT *)")

    def naive_page(offset: int):
        def go():
            with engine.connect() as conn:
                return conn.execute(sa.text(
                    "select * from calls c left join organizations o on o.id = c.org_id "
                    "order by c.started_at desc nulls last, c.id desc offset :o limit 50"), {"o": offset}).all()
        return go

    naive_first = _time(naive_page(0), max(5, runs // 3), warmup=1)
    naive_deep = _time(naive_page(10_000), max(5, runs // 3), warmup=1)

    _log("naive stats (SELECT * streamed, aggregated in Python)")

    def naive_stats():
        total = answered = 0
        durations: list[float] = []
        cost = 0
        per_day: dict = {}
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                sa.text("select * from calls where org_id = :o and listed_at >= :d"), {"o": org_id, "d": since})
            for r in result.mappings():
                total += 1
                fam = families.family_of(r["ended_reason"])
                if r["status"] == "ended" and (r["duration_s"] or 0) > 0 and fam not in families.MISSED_FAMILIES:
                    answered += 1
                    durations.append(r["duration_s"])
                cost += r["cost"] or 0
                day = r["listed_at"].date()
                per_day[day] = per_day.get(day, 0) + 1
        durations.sort()
        return total, answered, durations[int(0.9 * (len(durations) - 1))] if durations else 0, cost

    naive_stats_ms = _time(naive_stats, 3, warmup=0)

    _log("export of every row (in a fresh process: its peak RSS is the export's whole memory)")
    path = work / "export.csv"
    with db.read_only() as session:
        total = listing.count_calls(session, flt=CallFilter())
    probe = subprocess.run([sys.executable, "-c", EXPORT_PROBE, str(path)], check=True, capture_output=True,
                           text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    measured = json.loads(probe.stdout.strip().splitlines()[-1])
    written, export_s = measured["rows"], measured["seconds"]
    export_mb, base_mb = measured["peak_rss_mb"], measured["base_rss_mb"]
    file_mb = path.stat().st_size / 1e6
    path.unlink(missing_ok=True)
    assert written == total, (written, total)

    rows_out = [("first page (no filter)", first, 30), ("page 201 via cursor", deep, 30),
                ("filtered page", filt, 50), ("full-text search (all queries below)", search, 150),
                *[(f"  search {q}", samples, 0) for q, samples in per_query.items()],
                ("statistics panel (all calls)", stats_all, 200), ("statistics panel (1 org, 30 days)", stats_org, 200),
                ("naive page 1 (SELECT *, ORDER BY started_at)", naive_first, 0),
                ("naive page 201 (OFFSET 10000)", naive_deep, 0),
                ("naive stats (1 org, 30 days, Python)", naive_stats_ms, 0)]
    print(f"\n{'measurement':48} {'p50 ms':>9} {'p95 ms':>9} {'target':>8}")
    for name, samples, target in rows_out:
        print(f"{name:48} {_pct(samples, .5):9.1f} {_pct(samples, .95):9.1f} "
              f"{('< ' + str(target)) if target else '':>8}")
    print(f"\nCSV export: {written:,} rows, {file_mb:.0f} MB file in {export_s:.0f} s; peak RSS of the exporting "
          f"process {export_mb:.0f} MB (target < 200; VmHWM of a fresh process, interpreter and libraries "
          f"included: {base_mb:.0f} MB before the export started)")
    p95_stats = max(_pct(stats_all, .95), _pct(stats_org, .95))
    return {"rows": 0, "first_page_p95_ms": round(_pct(first, .95), 1), "filtered_p95_ms": round(_pct(filt, .95), 1),
            "search_p95_ms": round(_pct(search, .95), 1), "stats_p95_ms": round(p95_stats, 1),
            "naive_first_page_p95_ms": round(_pct(naive_first, .95), 1),
            "naive_deep_page_p95_ms": round(_pct(naive_deep, .95), 1),
            "naive_stats_p95_ms": round(_pct(naive_stats_ms, .95), 1),
            "stats_all_p95_ms": round(_pct(stats_all, .95), 1), "stats_org_p95_ms": round(_pct(stats_org, .95), 1),
            "deep_page_p95_ms": round(_pct(deep, .95), 1), "export_rows": written,
            "export_peak_mb": round(export_mb, 1), "export_seconds": round(export_s, 1)}


if __name__ == "__main__":
    main()
