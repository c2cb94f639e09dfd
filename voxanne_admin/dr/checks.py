"""The verification checks: the seed's six on the live database, then the backup checks.

Each check returns a `Check`; none raises. Levels: pass, warning, failure (skipped checks are listed, not counted).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from voxanne_admin.dr import archive, backup, pgtools
from voxanne_admin.dr.archive import Source
from voxanne_admin.timeutil import utcnow

GENERATED_COLUMNS = [("calls", "listed_at"), ("calls", "ended_family"), ("calls", "search")]
AUDIT_TRIGGERS = ["audit_events_no_update_delete", "audit_events_no_truncate"]
BASE_BACKUP_WARN_HOURS = 26.0  # a daily backup, with slack for a slow run
BASE_BACKUP_FAIL_HOURS = 50.0
WAL_WARN_SECONDS = 300.0  # RPO target with streaming: minutes at most
WAL_FAIL_SECONDS = 3600.0
ROW_DROP_WARN = 0.10


@dataclass
class Check:
    """One check's outcome."""

    name: str
    status: str  # pass | warning | failure | skipped
    detail: str
    data: dict | None = None

    def as_dict(self) -> dict:
        """JSON for verification_details."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class LatestBackup:
    """The newest succeeded backup as the checks need it."""

    label: str
    kind: str
    path: Path
    finished_at: datetime
    size_bytes: int
    start_wal: str | None
    checksum: str | None


def live_checks(conn: sa.Connection, *, baseline: dict[str, int] | None, backup_root: Path | None,
                connect_ms: float) -> tuple[list[Check], dict[str, int]]:
    """The seed's six checks on an open connection; returns them and the row counts (the next baseline)."""
    checks = [Check("connectivity", "pass", f"connected in {connect_ms:.0f} ms; "
                    f"{conn.execute(sa.text('select version()')).scalar_one().split(',')[0]}")]
    missing = [t for t in backup.CRITICAL_TABLES if t not in backup.OPTIONAL_TABLES
               and not conn.execute(sa.text("select to_regclass(:t)"), {"t": f"public.{t}"}).scalar()]
    present_optional = [t for t in backup.OPTIONAL_TABLES
                        if conn.execute(sa.text("select to_regclass(:t)"), {"t": f"public.{t}"}).scalar()]
    checks.append(Check("critical tables", "failure" if missing else "pass",
                        f"missing: {', '.join(missing)}" if missing else
                        f"all {len(backup.CRITICAL_TABLES) - len(backup.OPTIONAL_TABLES) + len(present_optional)} "
                        "present" + ("" if present_optional else " (feature_flags not installed)")))
    counts = backup.count_rows(conn)
    drops = []
    for table, before in (baseline or {}).items():
        now = counts.get(table)
        if now is not None and before > 0 and (before - now) / before > ROW_DROP_WARN:
            drops.append(f"{table} {before} -> {now} ({(before - now) / before:.0%} fewer)")
    checks.append(Check("row counts", "warning" if drops else "pass",
                        "dropped more than 10% since the last verification: " + "; ".join(drops) if drops else
                        ("no baseline yet: stored " if not baseline else "within 10% of the baseline: ")
                        + ", ".join(f"{t} {n}" for t, n in counts.items()), {"row_counts": counts}))
    problems = []
    if not conn.execute(sa.text("select 1 from pg_proc where proname = 'audit_events_append_only'")).scalar():
        problems.append("function audit_events_append_only() is missing")
    triggers: dict[str, str] = dict(conn.execute(sa.text(
        "select tgname, tgenabled from pg_trigger where tgrelid = to_regclass('public.audit_events') "
        "and not tgisinternal")).all()) if conn.execute(sa.text("select to_regclass('public.audit_events')")).scalar() \
        else {}
    problems += [f"trigger {name} is missing" for name in AUDIT_TRIGGERS if name not in triggers]
    for table, column in GENERATED_COLUMNS:
        generated = conn.execute(sa.text(
            "select attgenerated from pg_attribute where attrelid = to_regclass(:t) and attname = :c"),
            {"t": f"public.{table}", "c": column}).scalar()
        if generated != "s":
            problems.append(f"generated column {table}.{column} is missing")
    checks.append(Check("functions and triggers", "failure" if problems else "pass",
                        "; ".join(problems) if problems else
                        "audit append-only function and its 2 triggers, 3 generated columns of calls present"))
    disabled = [name for name, enabled in triggers.items() if name in AUDIT_TRIGGERS and enabled == "D"]
    # The role requests run as (the app role), not this connection's (the owner, for backups): a superuser
    # there could switch the triggers off.
    app_role = _app_role_name()
    role = conn.execute(sa.text(
        "select rolname, rolsuper, rolbypassrls from pg_roles where rolname = coalesce(:r, current_user)"),
        {"r": app_role}).first() or conn.execute(sa.text(
        "select current_user, rolsuper, rolbypassrls from pg_roles where rolname = current_user")).first()
    replica = conn.execute(sa.text("show session_replication_role")).scalar()
    forced = conn.execute(sa.text(
        "select count(*) from pg_db_role_setting where array_to_string(setconfig, ',') like "
        "'%session_replication_role=replica%'")).scalar()
    protection_problems = [f"trigger {n} is disabled" for n in disabled]
    if replica != "origin" or forced:
        protection_problems.append("session_replication_role=replica is set: triggers do not fire")
    privileges = ("superuser (can disable triggers: use a non-superuser application role in production)"
                  if role and role[1] else "no superuser rights")
    checks.append(Check("protections", "failure" if protection_problems else "pass",
                        "; ".join(protection_problems) if protection_problems else
                        f"audit_events append-only triggers enabled; role {role[0] if role else '?'}: {privileges}"))
    size = int(conn.execute(sa.text("select pg_database_size(current_database())")).scalar() or 0)
    size_status, size_detail = "pass", f"database {size / 2**20:.1f} MB"
    if backup_root is not None and backup_root.exists():
        free = shutil.disk_usage(backup_root).free
        size_detail += f"; {free / 2**30:.1f} GB free for backups"
        if free < size * 1.2:
            size_status, size_detail = "warning", size_detail + ": the next base backup may not fit"
    checks.append(Check("database size", size_status, size_detail, {"bytes": size}))
    return checks, counts


def _app_role_name() -> str | None:
    from sqlalchemy.engine import make_url

    from voxanne_admin import db

    try:
        return make_url(db.ensure_database()).username
    except Exception:  # verification of a scratch restore still reports this connection's role
        return None


def backup_age(latest: LatestBackup | None, mode: str) -> Check:
    """Age of the newest base backup (or dump) against the daily schedule."""
    if latest is None:
        return Check("backup age", "failure", "no successful backup yet: run `voxanne-admin dr backup`")
    hours = (utcnow() - latest.finished_at).total_seconds() / 3600
    status = "pass" if hours <= BASE_BACKUP_WARN_HOURS else "warning" if hours <= BASE_BACKUP_FAIL_HOURS else "failure"
    return Check("backup age", status, f"{latest.label} is {hours:.1f} h old", {"hours": round(hours, 3)})


def wal_age(source: Source, mode: str) -> Check:
    """RPO now: how far behind the archive is (physical), or the age of the newest dump (logical)."""
    if mode == "logical":
        return Check("WAL archive age", "skipped", "logical backups: no WAL archive; the RPO is the dump's age")
    state = archive.receiver_state(source)
    newest = archive.newest_wal_mtime()
    status = archive.read_status()
    if newest is None:
        return Check("WAL archive age", "failure", "no WAL archived yet" +
                     (f": {status.get('error')}" if status.get("error") else ""))
    age = max(0.0, time.time() - newest)
    if state["active"] and (state["lag_bytes"] or 0) < 16 * 2**20:
        rpo = 0.0 if (state["lag_bytes"] or 0) == 0 else min(age, 1.0)
        return Check("WAL archive age", "pass", f"streaming, {state['lag_bytes']} bytes behind (RPO ~{rpo:.0f} s)",
                     {"rpo_s": rpo})
    reason = status.get("error") or "no WAL receiver is streaming (the console is not running?)"
    level = "pass" if age <= WAL_WARN_SECONDS else "warning" if age <= WAL_FAIL_SECONDS else "failure"
    if not state["active"] and level == "pass":
        level = "warning"
    return Check("WAL archive age", level, f"newest archived WAL is {age:.0f} s old; {reason}",
                 {"rpo_s": round(age, 1)})


def backup_integrity(latest: LatestBackup | None, bindir: Path | None = None) -> Check:
    """pg_verifybackup (base) or checksum + pg_restore --list (dump) on the newest backup."""
    if latest is None:
        return Check("backup integrity", "failure", "no backup to verify")
    verdict = (backup.verify_base(latest.path) if latest.kind == "base"
               else backup.verify_logical(latest.path, latest.checksum, bindir=bindir))
    tool = "pg_verifybackup" if latest.kind == "base" else "pg_restore --list"
    if verdict.ok:
        return Check("backup integrity", "pass", f"{tool}: {verdict.message}")
    named = f" (files: {', '.join(verdict.files[:10])})" if verdict.files else ""
    return Check("backup integrity", "failure", f"{tool} on {latest.label}: {verdict.message}{named}",
                 {"files": verdict.files})


def wal_continuity(latest: LatestBackup | None, segment_bytes: int, mode: str) -> Check:
    """Every WAL segment from the backup's start to the newest one is in the archive."""
    if mode == "logical":
        return Check("WAL continuity", "skipped", "logical backups: no WAL archive")
    if latest is None or not latest.start_wal:
        return Check("WAL continuity", "failure", "no base backup to start from")
    start = pgtools.segment_number(latest.start_wal, segment_bytes)
    files = archive.archive_files(segment_bytes)
    if start is None or not files:
        return Check("WAL continuity", "failure", f"no archived WAL from {latest.start_wal} on")
    timeline = files[-1][0]
    numbers = sorted({n for tli, n, _name, _p in files if tli == timeline})
    first = start[1] if start[0] == timeline else numbers[0]
    if start[0] == timeline and (not numbers or numbers[0] > first):
        return Check("WAL continuity", "failure",
                     f"missing WAL segment {latest.start_wal} (the start of {latest.label}) and after",
                     {"missing": [latest.start_wal]})
    wanted = [n for n in numbers if n >= first]
    missing = []
    for prev, nxt in zip(wanted, wanted[1:], strict=False):
        for gap in range(prev + 1, nxt):
            missing.append(pgtools.segment_name(timeline, gap, segment_bytes))
    if missing:
        span = missing[0] if len(missing) == 1 else f"{missing[0]} .. {missing[-1]}"
        return Check("WAL continuity", "failure",
                     f"gap in the WAL archive: missing segment{'s' if len(missing) > 1 else ''} {span} "
                     f"({len(missing)}); recovery past it is impossible: take a new base backup",
                     {"missing": missing[:50]})
    newest = pgtools.segment_name(timeline, wanted[-1], segment_bytes)
    return Check("WAL continuity", "pass", f"{len(wanted)} segments from {latest.start_wal} to {newest}, no gap")


def amcheck(source: Source) -> Check:
    """pg_amcheck on the critical tables and their B-tree indexes."""
    args = ["--install-missing", "--no-password"]
    for table in backup.CRITICAL_TABLES:
        args += ["-t", f"public.{table}"]
    # A table that does not exist (feature_flags before its migration) is not an error.
    result = pgtools.run("pg_amcheck", *args, "--no-strict-names", source.url, timeout=3600, check=False,
                         bindir=source.bindir)
    if result.returncode == 0:
        return Check("pg_amcheck", "pass", "tables and indexes of the critical tables are consistent")
    text = (result.stdout + result.stderr).strip()
    if 'extension "amcheck" is not available' in text:
        return Check("pg_amcheck", "skipped", "this PostgreSQL build does not ship the amcheck extension (the "
                     "embedded wheel has no contrib modules); the drill's restore checks the data instead")
    if "permission denied" in text or "must be superuser" in text or "must be owner" in text:
        return Check("pg_amcheck", "warning", f"could not run (privileges): {text[-300:]}")
    return Check("pg_amcheck", "failure", f"corruption reported: {text[-1500:]}")


def summarize(checks: list[Check]) -> tuple[str, int, int]:
    """Overall status, checks passed, checks not passed (warnings and failures)."""
    counted = [c for c in checks if c.status != "skipped"]
    failed = [c for c in counted if c.status != "pass"]
    status = ("failure" if any(c.status == "failure" for c in counted) else
              "warning" if failed else "success")
    return status, len(counted) - len(failed), len(failed)


def connect_time(engine: sa.Engine) -> tuple[sa.Connection | None, float, str]:
    """Open a connection, timing it; (None, ms, reason) when the database does not answer."""
    started = time.monotonic()
    try:
        conn = engine.connect()
    except Exception as exc:
        return None, (time.monotonic() - started) * 1000, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return conn, (time.monotonic() - started) * 1000, ""


def env_hint() -> str:
    """Who runs the tools (for messages)."""
    return pgtools.run_user() or os.environ.get("USER", "")
