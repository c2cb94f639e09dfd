"""Audit trail benchmark (not a timed test), on a throwaway embedded PostgreSQL (or BENCH_DATABASE_URL's server),
with the console connecting as its least-privileged app role, as in production:

- write_ratio: throughput of 32 concurrent writers doing a business write + `audit.record` in one transaction,
  divided by the same writes without auditing (target >= 0.8);
- sealer_lag_p99_s: per event, seal time minus commit-side insert time, while the sealer ticks every second
  under that load (target < 3 s);
- verify_rows_per_s: `audit verify` over everything written;
- first_page_p95_ms, filtered_p95_ms: the Audit log page at 1,000,000 rows, measured by `measure_page()`
  (`benchmarks/audit_page.py`: 1,000,000 rows seeded in one statement, the page's own query code).

    .venv/bin/python benchmarks/audit.py [--writers 32] [--seconds 10]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("LOG_LEVEL", "WARNING")
_OWN_DATA_DIR = "VOXANNE_DATA_DIR" not in os.environ  # keys and checkpoints of this run only
os.environ.setdefault("VOXANNE_DATA_DIR", tempfile.mkdtemp(prefix="voxanne-audit-bench-data-"))


def _setup_database(writers: int) -> object:
    """A fresh database migrated by the owner; this process then connects as the app role."""
    from sqlalchemy.engine import make_url

    from tests.conftest import create_database
    from voxanne_admin import db, migrate
    from voxanne_admin.settings import get_settings

    server = None
    base = os.environ.get("BENCH_DATABASE_URL")
    if base:
        server_url = db.normalise_url(base)
    else:
        server = db.start_embedded(Path(tempfile.mkdtemp(prefix="voxanne-audit-bench-")))
        server.cleanup_mode = "delete"  # type: ignore[attr-defined]
        server_url = server.get_uri(driver="psycopg")
    owner = create_database(server_url, "voxanne_audit_bench")
    app = make_url(owner).set(username=db.APP_ROLE, password="bench-app-role").render_as_string(
        hide_password=False)
    import sqlalchemy as sa

    engine = sa.create_engine(owner)
    with engine.begin() as conn:  # the business table the writers change (before the grants, so it gets them)
        conn.execute(sa.text("create table bench_writes (id bigserial primary key, org_id int not null, "
                             "slot bigint not null, payload jsonb not null, "
                             "created_at timestamptz not null default now())"))
        conn.execute(sa.text("create index bench_writes_slot on bench_writes (org_id, slot)"))
    engine.dispose()
    migrate.upgrade(owner, app_url=app)
    os.environ.update(DATABASE_URL=app, DATABASE_OWNER_URL=owner, VOXANNE_RESOLVED_DATABASE_URL=app,
                      VOXANNE_RESOLVED_OWNER_URL=owner)
    get_settings.cache_clear()
    db.reset_engine()
    # One pooled connection per writer, plus the sealer's.
    db.get_engine.cache_clear()
    db.get_engine = _sized_engine(app, writers + 4)  # type: ignore[assignment]
    return server


def _sized_engine(url: str, size: int) -> Callable:
    import functools

    import sqlalchemy as sa

    @functools.lru_cache(maxsize=1)
    def get_engine():
        return sa.create_engine(url, pool_size=size, max_overflow=4, hide_parameters=True)

    return get_engine


def _write(audited: bool, i: int) -> None:
    """One business write shaped like the booking tool's: the slot's transaction lock, the clash check, the insert
    (and, audited, `audit.record` in the same transaction)."""
    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.audit import service as audit
    from voxanne_admin.audit.service import Actor

    with db.transaction() as session:
        session.execute(sa.text("select pg_advisory_xact_lock(:ns, :k)"), {"ns": 0x7A99, "k": i % 100_000})
        session.execute(sa.text("select id from bench_writes where org_id = :o and slot = :s"),
                        {"o": i % 50, "s": i}).first()
        row_id = session.execute(sa.text(
            "insert into bench_writes (org_id, slot, payload) values (:o, :s, cast(:p as jsonb)) returning id"),
            {"o": i % 50, "s": i, "p": json.dumps({"slot": i, "name": f"Patient {i}"})}).scalar_one()
        if audited:
            audit.record(session, actor=Actor(type="staff", id=str(i % 7), email="ops@clinic.example",
                                              ip="203.0.113.9"), action="appointment_booked",
                         target_type="appointment", target_id=row_id, org_id=i % 50,
                         diff={"slot": {"before": None, "after": i}})


def _throughput(audited: bool, writers: int, seconds: float) -> int:
    """Transactions committed by `writers` threads in `seconds`."""
    stop = time.monotonic() + seconds
    counts = [0] * writers

    def loop(w: int) -> None:
        n = 0
        while time.monotonic() < stop:
            _write(audited, w * 1_000_000 + n)
            n += 1
        counts[w] = n

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


class Sealer(threading.Thread):
    """The production tick (`sealer.tick_once`) every second, as the scheduler runs it."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.halt = threading.Event()

    def run(self) -> None:
        from voxanne_admin.audit import sealer

        while not self.halt.is_set():
            started = time.monotonic()
            sealer.tick_once()
            self.halt.wait(max(0.0, sealer.TICK_SECONDS - (time.monotonic() - started)))


def measure_page() -> dict[str, float | None]:
    """The Audit log page at 1,000,000 rows (seeded as the owner with one INSERT ... SELECT generate_series), through
    the page's own query code: first page and filtered pages p95 (benchmarks/audit_page.py, also runnable alone)."""
    from benchmarks.audit_page import measure_page as page

    return page()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=32, help="concurrent writers (default 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per write phase (default 10)")
    args = parser.parse_args()
    server = _setup_database(args.writers)
    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.audit import chain, sealer

    _write(True, 0)  # warm: keys, pool, statements
    sealer.tick_once()
    background = Sealer()
    background.start()
    # Alternate short phases, so the load other processes put on a shared machine weighs on both alike.
    plain = audited = 0
    rounds = 4
    for _ in range(rounds):
        plain += _throughput(False, args.writers, args.seconds / rounds)
        audited += _throughput(True, args.writers, args.seconds / rounds)
    time.sleep(3 * sealer.TICK_SECONDS)  # let the sealer finish the tail
    background.halt.set()
    background.join()
    sealer.tick_once()
    with db.get_owner_engine().connect() as conn:
        lag_p99, lag_max, unsealed = conn.execute(sa.text(
            "select percentile_cont(0.99) within group (order by extract(epoch from s.sealed_at - e.occurred_at)), "
            "max(extract(epoch from s.sealed_at - e.occurred_at)), "
            "(select count(*) from audit_events x where not exists "
            " (select 1 from audit_seals y where y.event_id = x.id)) "
            "from audit_seals s join audit_events e on e.id = s.event_id")).one()
    started = time.perf_counter()
    with db.read_only() as session:
        report = chain.verify(session)
    verify_s = time.perf_counter() - started
    page = measure_page()
    db.reset_engine()
    if server is not None:  # the throwaway embedded server: stop it and delete its files
        server.cleanup()  # type: ignore[attr-defined]
    if _OWN_DATA_DIR:
        import shutil

        shutil.rmtree(os.environ["VOXANNE_DATA_DIR"], ignore_errors=True)
    ratio = audited / plain if plain else 0.0
    rows = [
        ("writers", f"{args.writers}"),
        ("writes without auditing", f"{plain / args.seconds:.0f} tx/s"),
        ("audited writes (sealer ticking)", f"{audited / args.seconds:.0f} tx/s"),
        ("write ratio (target >= 0.8)", f"{ratio:.2f}"),
        ("sealer lag p99 (target < 3 s)", f"{lag_p99:.2f} s"),
        ("sealer lag max", f"{lag_max:.2f} s"),
        ("rows left unsealed", f"{unsealed}"),
        ("audit verify", f"{report.rows_checked} rows in {verify_s:.1f} s, "
                         f"{'intact' if report.ok else 'BROKEN: ' + report.problems[0]}"),
        ("verify rows/s", f"{report.rows_checked / verify_s:.0f}"),
        ("audit page first page p95 (1M rows)", "n/a" if page["first_page_p95_ms"] is None
         else f"{page['first_page_p95_ms']:.1f} ms"),
        ("audit page filtered p95 (1M rows)", "n/a" if page["filtered_p95_ms"] is None
         else f"{page['filtered_p95_ms']:.1f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:{width}}  {value}")
    print(json.dumps({"writers": args.writers, "write_ratio": round(ratio, 3),
                      "plain_tx_per_s": round(plain / args.seconds, 1),
                      "audited_tx_per_s": round(audited / args.seconds, 1),
                      "sealer_lag_p99_s": round(float(lag_p99 or 0), 3), "unsealed": int(unsealed),
                      "verify_ok": report.ok, "verify_rows_per_s": round(report.rows_checked / verify_s),
                      **page}))


if __name__ == "__main__":
    main()
