"""Base backups (pg_basebackup with a manifest, checked by pg_verifybackup), logical dumps, retention.

These functions run the tools and return what happened; the records are written by `dr.flows` in short
transactions around them (a backup can take minutes: never inside a transaction).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from voxanne_admin.dr import archive, pgtools
from voxanne_admin.dr.archive import Source
from voxanne_admin.errors import DomainError
from voxanne_admin.timeutil import utcnow

CRITICAL_TABLES = ["organizations", "staff_users", "agents", "appointments", "calls", "webhook_events",
                   "audit_events", "feature_flags"]
OPTIONAL_TABLES = {"feature_flags"}  # checked when present (added by the feature-flags migration)
_FILE_RE = re.compile(r'"([^"]+)"')


@dataclass
class BackupResult:
    """What a backup produced."""

    path: Path
    size_bytes: int
    duration_ms: int
    start_wal: str | None = None
    checksum: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)
    verified_ok: bool | None = None
    verify_error: str | None = None


@dataclass
class VerifyResult:
    """pg_verifybackup's (or pg_restore's) verdict, with the files it names."""

    ok: bool
    message: str
    files: list[str] = field(default_factory=list)


def new_label(kind: str, when: datetime | None = None) -> str:
    """base-20261201T050000Z / dump-20261201T050000Z."""
    return f"{'base' if kind == 'base' else 'dump'}-{(when or utcnow()).strftime('%Y%m%dT%H%M%S%fZ')[:-3]}"


def database_bytes(source: Source) -> int:
    """Size of the cluster's databases (a base backup copies them all)."""
    engine = source.engine()
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select sum(pg_database_size(datname)) from pg_database")).scalar() or 0)
    finally:
        engine.dispose()


def base_backup(source: Source, label: str) -> BackupResult:
    """pg_basebackup (plain format, manifest, WAL streamed into the backup), then pg_verifybackup."""
    root = archive.prepare()
    archive.ensure_slot(source)  # WAL from here on is kept for the archive: no gap after this backup
    target = root / "base" / label
    pgtools.require_space(root, int(database_bytes(source) * 1.2) + 64 * 2**20, what="base backup")
    started = time.monotonic()
    try:
        pgtools.run("pg_basebackup", "-d", source.url, "-D", str(target), "-Fp", "-X", "stream", "-c", "fast",
                    "-l", label, "--manifest-checksums=CRC32C", "--no-password", timeout=6 * 3600)
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise
    duration_ms = int((time.monotonic() - started) * 1000)
    start_wal = None
    match = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", (target / "backup_label").read_text())
    if match:
        start_wal = match.group(1)
    verdict = verify_base(target)
    return BackupResult(path=target, size_bytes=pgtools.dir_size(target), duration_ms=duration_ms,
                        start_wal=start_wal, verified_ok=verdict.ok,
                        verify_error=None if verdict.ok else verdict.message)


def verify_base(path: Path) -> VerifyResult:
    """pg_verifybackup against the backup's manifest; names every file it finds missing, changed or extra."""
    if not path.exists():
        return VerifyResult(False, f"The backup directory {path} is gone.", [str(path)])
    result = pgtools.run("pg_verifybackup", str(path), timeout=6 * 3600, check=False)
    if result.returncode == 0:
        return VerifyResult(True, result.stdout.strip() or "backup successfully verified")
    lines = [ln.removeprefix("pg_verifybackup: ").removeprefix("error: ")
             for ln in (result.stderr or "").splitlines() if ln.strip() and "hint:" not in ln]
    files = []
    for line in lines:
        for name in _FILE_RE.findall(line):
            if name not in files:
                files.append(name)
    message = "; ".join(lines[:10]) or f"pg_verifybackup exited with {result.returncode}"
    return VerifyResult(False, message, files)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_rows(conn: sa.Connection) -> dict[str, int]:
    """Exact row counts of the critical tables that exist."""
    counts = {}
    for table in CRITICAL_TABLES:
        if conn.execute(sa.text("select to_regclass(:t)"), {"t": f"public.{table}"}).scalar():
            # Table names come from the constant list above.
            counts[table] = int(conn.execute(sa.text(f'select count(*) from public."{table}"')).scalar()  # noqa: S608
                                or 0)
    return counts


def logical_backup(source: Source, label: str) -> BackupResult:
    """pg_dump -Fc from an exported snapshot, with the critical tables' row counts from that same snapshot."""
    root = archive.prepare()
    target = root / "logical" / f"{label}.dump"
    engine = source.engine()
    pgtools.require_space(root, 64 * 2**20, what="logical backup")
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("begin isolation level repeatable read read only"))
            snapshot = conn.execute(sa.text("select pg_export_snapshot()")).scalar()
            counts = count_rows(conn)
            pgtools.run("pg_dump", "-Fc", "-d", source.url, "-f", str(target), f"--snapshot={snapshot}",
                        "--no-password", timeout=6 * 3600, bindir=source.bindir)
            conn.execute(sa.text("commit"))
    except Exception:
        target.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    duration_ms = int((time.monotonic() - started) * 1000)
    verdict = verify_logical(target, None, bindir=source.bindir)
    return BackupResult(path=target, size_bytes=target.stat().st_size, duration_ms=duration_ms,
                        checksum=_sha256(target), row_counts=counts, verified_ok=verdict.ok,
                        verify_error=None if verdict.ok else verdict.message)


def verify_logical(path: Path, checksum: str | None, bindir: Path | None = None) -> VerifyResult:
    """The dump's SHA-256 against the one taken when it was written, and pg_restore reading its table of contents."""
    if not path.exists():
        return VerifyResult(False, f"The dump file {path.name} is missing.", [path.name])
    if checksum and _sha256(path) != checksum:
        return VerifyResult(False, f"{path.name} has checksum mismatch: the file changed after the dump.",
                            [path.name])
    result = pgtools.run("pg_restore", "--list", str(path), timeout=600, check=False, bindir=bindir)
    if result.returncode != 0:
        return VerifyResult(False, f"{path.name} cannot be read by pg_restore: {result.stderr.strip()[-500:]}",
                            [path.name])
    entries = sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))
    return VerifyResult(True, f"{path.name}: checksum matches, {entries} archive entries readable")


def remove_backup(path: Path) -> None:
    """Delete a backup's files."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_wal(oldest_needed: str) -> str:
    """pg_archivecleanup: drop archived WAL older than the oldest kept backup needs."""
    result = pgtools.run("pg_archivecleanup", str(archive.wal_dir()), oldest_needed, timeout=600, check=False)
    if result.returncode != 0:
        raise DomainError(f"pg_archivecleanup failed: {result.stderr.strip()[-500:]}")
    return f"WAL before {oldest_needed} pruned"
