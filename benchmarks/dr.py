"""Disaster-recovery benchmark on the embedded default with 1,000,000 calls (not a timed test).

Measures: base backup time and size, verification time, drill RTO, and the RPO after destroying the primary:
markers are written every 100 ms while WAL streams, the postmaster is SIGKILLed and its data directory removed,
the latest base backup + archived WAL are restored, and the seconds of committed markers lost are reported.

    .venv/bin/python benchmarks/dr.py [--calls 1000000] [--keep]

Prints a table and a final JSON line: backup_s, backup_mb, verify_s, drill_rto_s, rpo_s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="voxanne-bench-dr-"))
    for key in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL", "VOXANNE_BACKUP_DIR"):
        os.environ.pop(key, None)
    os.environ["VOXANNE_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    os.environ["LOG_LEVEL"] = "WARNING"

    import sqlalchemy as sa

    from voxanne_admin import db, demo, migrate
    from voxanne_admin.calls import seed as call_seed
    from voxanne_admin.dr import archive, flows, pgtools, restore

    rows: list[tuple[str, str]] = []
    url = db.ensure_database()  # the embedded server, as `serve` starts it
    migrate.upgrade(url)
    with db.transaction() as session:
        demo.seed(session)
    started = time.monotonic()
    call_seed.seed_calls(count=args.calls, seed=42)
    rows.append(("calls loaded", f"{args.calls:,} in {time.monotonic() - started:.0f} s"))
    print(*rows[-1], flush=True)
    source = archive.resolve_source()
    archive.prepare()
    receiver = archive.Receiver(source, lock_url=url)
    receiver.start()

    backup_row = flows.run_backup(source=source)
    backup_s = (backup_row.duration_ms or 0) / 1000
    backup_mb = (backup_row.size_bytes or 0) / 2**20
    rows.append(("base backup", f"{backup_s:.1f} s, {backup_mb:.0f} MB, verified={backup_row.verified_ok}"))

    started = time.monotonic()
    verification = flows.run_verify(source=source)
    verify_s = time.monotonic() - started
    rows.append(("verification", f"{verify_s:.1f} s, {verification.status} "
                                 f"({verification.checks_passed} passed, {verification.checks_failed} not)"))

    drill = flows.run_drill(source=source)
    rows.append(("drill RTO", f"{drill.rto_s:.1f} s (RPO achieved {drill.rpo_s} s)"))
    print(*rows[-3:], sep="\n", flush=True)

    # RPO: markers every 100 ms, then destroy the primary.
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("create table bench_markers (id bigserial primary key, at timestamptz not null)"))
    committed: list[tuple[int, float]] = []
    stop = threading.Event()

    def write_markers() -> None:
        with engine.connect() as conn:
            while not stop.is_set():
                try:
                    marker = conn.execute(sa.text(
                        "insert into bench_markers (at) values (clock_timestamp()) returning id")).scalar()
                except sa.exc.DBAPIError:
                    return  # the primary is gone
                committed.append((int(marker), time.time()))
                time.sleep(0.1)

    writer = threading.Thread(target=write_markers, daemon=True)
    writer.start()
    time.sleep(10)
    pgdata = Path(os.environ["VOXANNE_DATA_DIR"]) / "pgdata"
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    killed_at = time.time()
    shutil.rmtree(pgdata, ignore_errors=True)
    stop.set()
    writer.join(5)
    receiver.stop()
    last_id, last_at = committed[-1]
    # The app database died with the primary: the restore reads only the backup directory.
    base = _latest_base(archive)
    dest = work / "restored"
    t0 = time.monotonic()
    port = pgtools.free_port()
    try:
        result = restore.restore_physical(base, dest, port, None, database=source.database,
                                          progress=lambda text: None)
    except Exception:
        pgtools.Cluster(dest, port).remove()
        raise
    restore_s = time.monotonic() - t0
    restored_url = result.cluster.url.rsplit("/", 1)[0] + f"/{source.database}"
    check = sa.create_engine(restored_url, poolclass=sa.pool.NullPool)
    try:
        with check.connect() as conn:
            newest_id = conn.execute(sa.text("select coalesce(max(id), 0) from bench_markers")).scalar()
    finally:
        check.dispose()
        result.cluster.remove()
    lost = [at for marker, at in committed if marker > newest_id]
    rpo_s = (last_at - min(lost)) + 0.1 if lost else 0.0
    rows.append(("RPO after SIGKILL + rm -rf pgdata",
                 f"{rpo_s:.2f} s ({len(lost)} of {len(committed)} committed markers lost; newest recovered "
                 f"#{newest_id}, newest committed #{last_id}; restore {restore_s:.1f} s; "
                 f"killed {killed_at - last_at:.2f} s after the last commit)"))

    width = max(len(name) for name, _ in rows)
    print(f"\n{'measure':<{width}}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps({"calls": args.calls, "backup_s": round(backup_s, 2), "backup_mb": round(backup_mb, 1),
                      "verify_s": round(verify_s, 2), "drill_rto_s": drill.rto_s, "rpo_s": round(rpo_s, 2)}))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _latest_base(archive):
    """The newest base backup found in the backup directory (the catalogue died with the primary)."""
    from datetime import UTC, datetime

    from voxanne_admin.dr import pgtools
    from voxanne_admin.dr.checks import LatestBackup

    newest = sorted((archive.backup_dir() / "base").iterdir())[-1]

    return LatestBackup(label=newest.name, kind="base", path=newest, finished_at=datetime.now(UTC),
                        size_bytes=pgtools.dir_size(newest), start_wal=None, checksum=None)


if __name__ == "__main__":
    main()
