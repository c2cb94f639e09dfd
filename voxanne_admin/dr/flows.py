"""Backup, verification, drill and restore runs: short transactions for their records around long tool runs.

Every run is recorded before it starts (with an audit event in the same transaction) and finished with its
outcome; the DR page polls those rows for progress. Nothing here holds a transaction while a tool runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from voxanne_admin import db
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.dr import archive, backup, checks, pgtools, restore
from voxanne_admin.dr import service as dr_service
from voxanne_admin.dr.models import BackupVerificationLog, DrBackup, DrDrill
from voxanne_admin.errors import Conflict, DomainError, InvalidInput
from voxanne_admin.providers import slack
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
VERIFICATION_RETENTION_DAYS = 90


def _authorise(actor: Actor | None, actor_role: str | None) -> Actor:
    if actor is None:
        return Actor.system("dr")
    require_role(actor_role, "admin")
    return actor


def alert(text: str) -> None:
    """Slack incoming webhook when SLACK_WEBHOOK_URL is set (best effort; the record and log line always exist)."""
    log.warning("dr alert", extra={"alert": text[:500]})
    slack.post(f":rotating_light: {text}")


# --- backups -------------------------------------------------------------------------------------------------

def run_backup(*, trigger: str = "manual", actor: Actor | None = None, actor_role: str | None = None,
               source: archive.Source | None = None) -> DrBackup:
    """Take a base backup (physical) or a dump (logical), verify it, apply retention; returns the record.

    Raises DomainError (after recording the failure and alerting) when it cannot be taken."""
    who = _authorise(actor, actor_role)
    source = source or archive.resolve_source()
    kind = "base" if source.mode == "physical" else "logical"
    label = backup.new_label(kind)
    with db.transaction() as session:
        row = DrBackup(label=label, kind=kind, trigger=trigger, requested_by=who.email or who.id)
        session.add(row)
        session.flush()
        audit.record(session, actor=who, action="dr_backup_started", target_type="dr_backup", target_id=label,
                     diff={"kind": {"before": None, "after": kind}})
        backup_id = row.id
    try:
        result = backup.base_backup(source, label) if kind == "base" else backup.logical_backup(source, label)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        _finish_backup(backup_id, status="failed", error=reason[:4000])
        alert(f"Voxanne Admin backup {label} FAILED: {reason[:300]}")
        raise DomainError(f"Backup failed: {reason}") from None
    _finish_backup(backup_id, status="succeeded", result=result)
    if result.verified_ok is False:
        alert(f"Voxanne Admin backup {label} was taken but pg_verifybackup rejects it: {result.verify_error}")
    apply_retention()
    with db.read_only() as session:
        done = session.get(DrBackup, backup_id)
        assert done is not None
        return done


def _finish_backup(backup_id: int | None, *, status: str, error: str | None = None,
                   result: backup.BackupResult | None = None) -> None:
    with db.transaction() as session:
        row = session.get(DrBackup, backup_id)
        if row is None:
            return
        row.status = status
        row.finished_at = utcnow()
        row.error = error
        if result is not None:
            row.path = str(result.path)
            row.size_bytes = result.size_bytes
            row.duration_ms = result.duration_ms
            row.start_wal = result.start_wal
            row.checksum = result.checksum
            row.row_counts = result.row_counts or None
            row.verified_at = utcnow()
            row.verified_ok = result.verified_ok
            if result.verify_error:
                row.error = result.verify_error[:4000]
        else:
            row.duration_ms = int((row.finished_at - row.started_at).total_seconds() * 1000)
        session.add(row)


def apply_retention() -> str:
    """Keep the newest N backups of each kind; remove older files and the WAL only they needed."""
    keep = get_settings().voxanne_backup_retention
    removed: list[str] = []
    with db.transaction() as session:
        for kind in ("base", "logical"):
            query = (sa.select(DrBackup).where(col(DrBackup.kind) == kind, col(DrBackup.status) == "succeeded")
                     .order_by(col(DrBackup.started_at).desc()))
            rows = session.execute(query).scalars().all()
            for row in rows[keep:]:
                backup.remove_backup(Path(row.path))
                row.status = "removed"
                session.add(row)
                removed.append(row.label)
            if kind == "base" and rows:
                oldest = rows[:keep][-1]
                if oldest.start_wal and archive.wal_dir().exists():
                    backup.prune_wal(oldest.start_wal)
        cutoff = utcnow() - timedelta(days=VERIFICATION_RETENTION_DAYS)
        session.execute(sa.delete(BackupVerificationLog).where(col(BackupVerificationLog.verified_at) < cutoff))
    return f"kept {keep} per kind; removed {len(removed)}" + (f" ({', '.join(removed)})" if removed else "")


# --- verification --------------------------------------------------------------------------------------------

def run_verify(*, trigger: str = "manual", actor: Actor | None = None, actor_role: str | None = None,
               source: archive.Source | None = None) -> BackupVerificationLog:
    """The seed's six checks and the backup checks; recorded in backup_verification_log, alert unless success."""
    who = _authorise(actor, actor_role)
    started = time.monotonic()
    with db.read_only() as session:
        baseline = dr_service.baseline_counts(session)
        latest = dr_service.latest_backup(session)
    root = archive.backup_dir()
    results: list[checks.Check] = []
    try:
        source = source or archive.resolve_source()
    except Exception as exc:
        results.append(checks.Check("connectivity", "failure", f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
    counts: dict[str, int] = {}
    if source is not None and not results:
        engine = source.engine()
        conn, ms, reason = checks.connect_time(engine)
        if conn is None:
            results.append(checks.Check("connectivity", "failure", reason))
        else:
            with conn:
                live, counts = checks.live_checks(conn, baseline=baseline, backup_root=root, connect_ms=ms)
            results += live
        engine.dispose()
    if source is not None and len(results) > 1:
        dir_problem = _backup_dir_problem(root)
        if dir_problem:
            results.append(checks.Check("backup directory", "failure", dir_problem))
        if source.mode == "physical" and not dir_problem:
            try:
                archive.catch_up(source, timeout=120)
            except DomainError as exc:
                results.append(checks.Check("WAL archiving", "failure", str(exc)))
        results.append(checks.backup_age(latest, source.mode))
        results.append(checks.wal_age(source, source.mode))
        results.append(checks.backup_integrity(latest, bindir=source.bindir if source.mode == "logical" else None))
        segment = archive.segment_size(source) if source.mode == "physical" else 16 * 2**20
        results.append(checks.wal_continuity(latest, segment, source.mode))
        results.append(checks.amcheck(source))
    status, passed, failed = checks.summarize(results)
    details = {"checks": [c.as_dict() for c in results], "row_counts": counts,
               "mode": source.mode if source else None, "duration_s": round(time.monotonic() - started, 2)}
    errors = {c.name: c.detail for c in results if c.status in ("warning", "failure")}
    age_hours = (utcnow() - latest.finished_at).total_seconds() / 3600 if latest else None
    with db.transaction() as session:
        row = BackupVerificationLog(
            backup_id=latest.label if latest else None, backup_age_hours=round(age_hours, 3) if age_hours else None,
            backup_size_mb=round(latest.size_bytes / 2**20, 2) if latest else None, status=status,
            checks_passed=passed, checks_failed=failed, error_details=errors or None, verification_details=details)
        session.add(row)
        session.flush()
        audit.record(session, actor=who, action="dr_verification_run", target_type="backup_verification",
                     target_id=row.id, diff={"status": {"before": None, "after": status}})
    if status != "success":
        alert(f"Voxanne Admin backup verification: {status.upper()}: "
              + "; ".join(f"{k}: {v}" for k, v in errors.items())[:1500])
    return row


def _backup_dir_problem(root: Path) -> str:
    try:
        archive.prepare()
    except DomainError as exc:
        return str(exc)
    return ""


# --- drills and restores -------------------------------------------------------------------------------------

@contextmanager
def drill_lock() -> Iterator[None]:
    """One drill or restore at a time across workers and replicas (session advisory lock)."""
    with db.get_engine().connect() as conn:
        got = conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": archive.DRILL_LOCK}).scalar()
        conn.commit()
        if not got:
            with db.read_only() as session:
                running = dr_service.running_drill(session)
            since = f" (started {running.started_at:%H:%M:%S} UTC, {running.phase})" if running else ""
            raise Conflict(f"A restore drill is already running{since}: wait for it to finish.")
        try:
            yield
        finally:
            conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": archive.DRILL_LOCK})
            conn.commit()


def _phase(drill_id: int, text: str) -> None:
    with db.transaction() as session:
        row = session.get(DrDrill, drill_id)
        if row is not None:
            row.phase = text[:200]
            session.add(row)


def parse_target(text: str | None) -> datetime | None:
    """An ISO 8601 time (UTC when no offset is given); InvalidInput with an example otherwise."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{text}' is not an ISO 8601 time: use e.g. 2026-12-01T09:30:00Z.",
                           field="target_time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run_drill(*, trigger: str = "manual", target_time: datetime | None = None, actor: Actor | None = None,
              actor_role: str | None = None, port: int | None = None, source: archive.Source | None = None,
              keep_dir: Path | None = None) -> DrDrill:
    """Restore the right backup into a scratch cluster (or `keep_dir` for a real restore), recover to the target,
    check it, compare with the source, tear it down; records RTO and RPO. Raises DomainError on failure."""
    who = _authorise(actor, actor_role)
    kind = "restore" if keep_dir else "drill"
    with drill_lock():
        source = source or archive.resolve_source()
        with db.read_only() as session:
            chosen, window = dr_service.choose_backup(session, target_time, mode=source.mode)
        if chosen is None:
            start, end = window
            shown = (f"{start:%Y-%m-%d %H:%M:%S} UTC to {end:%Y-%m-%d %H:%M:%S} UTC" if start and end
                     else "empty: no successful backup yet")
            raise InvalidInput(f"{target_time.isoformat() if target_time else 'That time'} is outside the "
                               f"recoverable window ({shown}).", field="target_time")
        with db.transaction() as session:
            row = DrDrill(kind=kind, trigger=trigger, requested_by=who.email or who.id, backup_label=chosen.label,
                          target_time=target_time, phase="starting")
            session.add(row)
            session.flush()
            audit.record(session, actor=who, action=f"dr_{kind}_started", target_type="dr_drill", target_id=row.id,
                         diff={"target_time": {"before": None, "after": target_time},
                               "backup": {"before": None, "after": chosen.label}})
            drill_id = row.id or 0
        try:
            return _drill(drill_id, source, chosen, target_time, port, keep_dir)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
            with db.transaction() as session:
                failed = session.get(DrDrill, drill_id)
                if failed is not None:
                    failed.status, failed.phase, failed.error = "failed", "failed", reason[:4000]
                    failed.finished_at = utcnow()
                    session.add(failed)
            alert(f"Voxanne Admin restore {kind} {drill_id} FAILED: {reason[:300]}")
            raise DomainError(f"The {kind} failed: {reason}") from None


def _drill(drill_id: int, source: archive.Source, chosen: checks.LatestBackup, target: datetime | None,
           port: int | None, keep_dir: Path | None) -> DrDrill:
    root = archive.prepare()
    dest = keep_dir or root / "scratch" / f"drill-{drill_id}"
    port = port or pgtools.free_port()
    if source.mode == "physical":
        _phase(drill_id, "waiting for the WAL archive to catch up")
        archive.catch_up(source, timeout=300)
    src_counts, src_newest, src_audit_then = restore.source_as_of(source, target)
    started = time.monotonic()
    result = None
    try:
        if chosen.kind == "base":
            result = restore.restore_physical(chosen, dest, port, target, database=source.database,
                                              bindir=source.bindir,
                                              progress=lambda text: _phase(drill_id, text))
        else:
            result = restore.restore_logical(chosen, dest, port, database=source.database, bindir=source.bindir,
                                             progress=lambda text: _phase(drill_id, text))
        _phase(drill_id, "checking the restored database")
        restore.check_restored(result, target if chosen.kind == "base" else None)
        rto = time.monotonic() - started
        details, lost = _compare(result, chosen, src_counts, src_audit_then)
        if chosen.kind == "base":
            rpo = (max(0.0, (src_newest - result.newest_audit).total_seconds())
                   if src_newest and result.newest_audit else 0.0 if not src_newest else None)
        else:
            snapshot = chosen.finished_at
            rpo = max(0.0, ((target or utcnow()) - snapshot).total_seconds())
        bad = [c for c in result.checks if c.status == "failure"]
        status = "failed" if bad or lost else "succeeded"
        error = "; ".join([f"{c.name}: {c.detail}" for c in bad] + ([lost] if lost else [])) or None
    finally:
        if result is not None and keep_dir is None:
            result.cluster.remove()
        elif result is not None:
            result.cluster.stop()
        else:
            # A failed drill or real restore leaves nothing half-made: stop whatever started, remove the files.
            pgtools.Cluster(dest, port).remove()
    with db.transaction() as session:
        row = session.get(DrDrill, drill_id)
        assert row is not None
        row.status, row.finished_at, row.error = status, utcnow(), error
        row.phase = "done" if status == "succeeded" else "failed"
        row.rto_s, row.rpo_s = round(rto, 2), (round(rpo, 2) if rpo is not None else None)
        row.recovered_to = result.newest_audit if chosen.kind == "base" else chosen.finished_at
        row.details = {**details, "checks": [c.as_dict() for c in result.checks], "port": port,
                       "recovered_to_latest": result.recovered_to_latest, "restore_s": round(result.seconds, 2),
                       "directory": str(dest) if keep_dir else None}
        session.add(row)
    if status != "succeeded":
        alert(f"Voxanne Admin restore drill {drill_id}: {error}")
        raise DomainError(f"The drill restored the backup but its checks failed: {error}")
    with db.read_only() as session:
        done = session.get(DrDrill, drill_id)
        assert done is not None
        return done


def _compare(result: restore.RestoreResult, chosen: checks.LatestBackup, src_counts: dict[str, int],
             src_audit_then: int) -> tuple[dict, str]:
    """Row counts restored vs source; committed audit events missing from the restore are a failure."""
    if chosen.kind == "logical":
        with db.read_only() as session:
            expected = dr_service.dump_counts(session, chosen.label)
        rows = {t: {"restored": result.counts.get(t), "source": n} for t, n in expected.items()}
        wrong = [t for t, n in expected.items() if result.counts.get(t) != n]
        return ({"row_counts": rows, "compared_with": "the dump's snapshot"},
                f"row counts differ from the dump's snapshot: {', '.join(wrong)}" if wrong else "")
    rows = {t: {"restored": result.counts.get(t), "source_now": n} for t, n in src_counts.items()}
    rows["audit_events_at_target"] = {"restored": result.audit_then, "source": src_audit_then}
    lost = ""
    if result.audit_then < src_audit_then:
        lost = (f"{src_audit_then - result.audit_then} committed audit events at or before the target are "
                "missing from the restore")
    return {"row_counts": rows, "compared_with": "the source as of the target time"}, lost
