"""Restores: a base backup plus archived WAL into a cluster of its own (directory and port), recovered to the
latest point or a target time, or a logical dump restored into a fresh cluster. Used by drills (then torn down)
and by `dr restore --to DIR` (kept, stopped, for the operator to promote)."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from voxanne_admin.dr import archive, backup, checks, pgtools
from voxanne_admin.dr.checks import Check, LatestBackup
from voxanne_admin.errors import DomainError

NOT_REACHED = "recovery ended before configured recovery target was reached"


@dataclass
class RestoreResult:
    """What a restore measured."""

    cluster: pgtools.Cluster
    database: str
    recovered_to_latest: bool
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    newest_audit: datetime | None = None
    audit_then: int = 0
    seconds: float = 0.0


def _write_recovery_conf(pgdata: Path, target: datetime | None) -> None:
    wal = archive.wal_dir()
    lines = ["", "# voxanne-admin restore",
             f"restore_command = 'cp \"{wal}/%f\" \"%p\"'",
             "archive_mode = 'off'", "max_slot_wal_keep_size = -1", "hot_standby = 'on'"]
    if target is not None:
        lines += [f"recovery_target_time = '{target.astimezone(UTC).isoformat()}'",
                  "recovery_target_action = 'promote'", "recovery_target_inclusive = 'on'"]
    with (pgdata / "postgresql.auto.conf").open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    (pgdata / "recovery.signal").write_text("")
    (pgdata / "standby.signal").unlink(missing_ok=True)


def _drop_target(pgdata: Path) -> None:
    conf = pgdata / "postgresql.auto.conf"
    kept = [ln for ln in conf.read_text().splitlines() if not ln.startswith(("recovery_target_time",
                                                                             "recovery_target_inclusive"))]
    conf.write_text("\n".join(kept) + "\n")


def _wait_promoted(cluster: pgtools.Cluster, database: str, timeout: float) -> None:
    engine = sa.create_engine(cluster.url.rsplit("/", 1)[0] + f"/{database}", poolclass=sa.pool.NullPool)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(sa.exc.OperationalError), engine.connect() as conn:
                if not conn.execute(sa.text("select pg_is_in_recovery()")).scalar():
                    return
            if not (cluster.pgdata / "postmaster.pid").exists():
                raise pgtools.ToolFailed(f"The restored cluster stopped during recovery: {cluster.log_tail()}")
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise pgtools.ToolFailed(f"Recovery did not finish within {int(timeout)} s: {cluster.log_tail()}")


def restore_physical(base: LatestBackup, dest: Path, port: int, target: datetime | None, *,
                     progress: Callable[[str], None], database: str, timeout: float = 3600,
                     bindir: Path | None = None) -> RestoreResult:
    """Copy the base backup to `dest`, add the newest partial WAL, recover to `target` (or the end) and promote."""
    started = time.monotonic()
    if not pgtools.port_free(port):
        raise DomainError(f"Port {port} is busy: another process listens on it. Choose a free port.")
    if dest.exists() and any(dest.iterdir()):
        raise DomainError(f"{dest} is not empty: restore into a new or empty directory.")
    pgtools.require_space(dest.parent, int(base.size_bytes * 1.1) + 64 * 2**20, what="restore")
    progress(f"copying base backup {base.label}")
    shutil.copytree(base.path, dest, dirs_exist_ok=True)
    (dest / "backup_manifest").unlink(missing_ok=True)
    # The segment being streamed is a .partial in the archive; recovery reads it from pg_wal.
    segment_bytes = 16 * 2**20
    for _tli, _n, name, partial in archive.archive_files(segment_bytes):
        if partial:
            shutil.copyfile(archive.wal_dir() / name, dest / "pg_wal" / name.removesuffix(".partial"))
    _write_recovery_conf(dest, target)
    dest.chmod(0o700)
    pgtools.own(dest)
    cluster = pgtools.Cluster(dest, port, bindir=bindir)  # the source's major version
    progress("replaying WAL" + (f" to {target.isoformat()}" if target else " to the latest point"))
    latest = target is None
    try:
        cluster.start(timeout=timeout, wait=False)
        cluster.wait_ready(timeout)
        _wait_promoted(cluster, database, timeout)
    except pgtools.ToolFailed as exc:
        if target is None or NOT_REACHED not in cluster.log_tail(30) + str(exc):
            raise
        # All archived WAL is older than the target: the end of WAL is that point.
        progress("target is past the newest WAL: recovering to the end")
        cluster.stop("immediate")
        _drop_target(dest)
        latest = True
        cluster.start(timeout=timeout, wait=False)
        cluster.wait_ready(timeout)
        _wait_promoted(cluster, database, timeout)
    return RestoreResult(cluster=cluster, database=database, recovered_to_latest=latest,
                         seconds=time.monotonic() - started)


def restore_logical(dump: LatestBackup, dest: Path, port: int, *, progress: Callable[[str], None],
                    database: str, bindir: Path | None = None) -> RestoreResult:
    """initdb a scratch cluster on `port` (the source's major version when installed), create the database and
    pg_restore the dump into it."""
    started = time.monotonic()
    if not pgtools.port_free(port):
        raise DomainError(f"Port {port} is busy: another process listens on it. Choose a free port.")
    if dest.exists() and any(dest.iterdir()):
        raise DomainError(f"{dest} is not empty: restore into a new or empty directory.")
    if not dump.path.exists():
        raise DomainError(f"The dump file {dump.path.name} is missing.")
    progress("creating a scratch cluster")
    cluster = pgtools.Cluster(dest, port, bindir=bindir)
    cluster.init()
    cluster.start()
    pgtools.run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database, timeout=120,
                bindir=bindir)
    progress(f"restoring dump {dump.label}")
    pgtools.run("pg_restore", "-d", cluster.libpq_url(database), "--no-owner", "--no-acl", "--exit-on-error",
                "-j", "2", str(dump.path), timeout=6 * 3600, bindir=bindir)
    return RestoreResult(cluster=cluster, database=database, recovered_to_latest=True,
                         seconds=time.monotonic() - started)


def check_restored(result: RestoreResult, target: datetime | None) -> RestoreResult:
    """The critical checks on the restored database, its row counts and newest audit event (at/before target)."""
    engine = sa.create_engine(result.cluster.url.rsplit("/", 1)[0] + f"/{result.database}",
                              poolclass=sa.pool.NullPool)
    try:
        conn, ms, reason = checks.connect_time(engine)
        if conn is None:
            result.checks = [Check("connectivity", "failure", reason)]
            return result
        with conn:
            live, counts = checks.live_checks(conn, baseline=None, backup_root=None, connect_ms=ms)
            result.checks = [c for c in live if c.name != "row counts"]
            result.counts = counts
            if conn.execute(sa.text("select to_regclass('public.audit_events')")).scalar():
                query = "select max(occurred_at) from audit_events"
                params = {}
                if target is not None:
                    query += " where occurred_at <= :t"
                    params = {"t": target}
                result.newest_audit = conn.execute(sa.text(query), params).scalar()
                result.audit_then = int(conn.execute(sa.text(
                    query.replace("max(occurred_at)", "count(*)")), params).scalar() or 0)
    finally:
        engine.dispose()
    return result


def source_as_of(source: archive.Source, target: datetime | None) -> tuple[dict[str, int], datetime | None, int]:
    """The source's critical-table counts now, its newest audit event at/before target, and audit rows then."""
    engine = source.engine()
    try:
        with engine.connect() as conn:
            counts = backup.count_rows(conn)
            params = {"t": target} if target else {}
            where = " where occurred_at <= :t" if target else ""
            # `where` is one of two constant strings; the target is a bound parameter.
            newest = conn.execute(sa.text(f"select max(occurred_at) from audit_events{where}"),  # noqa: S608
                                  params).scalar()
            audit_then = int(conn.execute(sa.text(f"select count(*) from audit_events{where}"),  # noqa: S608
                                          params).scalar() or 0)
    finally:
        engine.dispose()
    return counts, newest, audit_then
