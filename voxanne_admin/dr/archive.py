"""Where backups come from and go: the source database, continuous WAL streaming, backup directories.

Physical mode (the embedded server, or an external one whose role has REPLICATION): `pg_receivewal` streams
WAL through a replication slot into `BACKUP_DIR/wal` (RPO of seconds; the slot keeps WAL on the server while
the receiver is down, so there is no gap), and `pg_basebackup` takes base backups with a manifest.
Logical mode (an external role without REPLICATION): `pg_dump -Fc`; the RPO is the time since the last dump.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from voxanne_admin.dr import pgtools
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_SLOT_KEEP = "20GB"  # a receiver that stays down must not fill the server's disk
RECEIVER_LOCK = 0x7A0DB0  # advisory lock: one WAL receiver across workers and replicas
DRILL_LOCK = 0x7A0DB1  # advisory lock: one drill or restore at a time


@dataclass(frozen=True)
class Source:
    """The database we protect."""

    mode: str  # physical | logical
    url: str  # libpq URL (for the command-line tools)
    sa_url: str  # SQLAlchemy URL
    embedded: bool
    database: str
    major: int = 0

    @property
    def bindir(self):
        """Tools of the server's major version when installed (logical dumps and their restores)."""
        return pgtools.bin_dir_for(self.major) if self.major else None

    def engine(self) -> sa.Engine:
        """A small engine for checks against it."""
        return sa.create_engine(self.sa_url, poolclass=sa.pool.NullPool, hide_parameters=True,
                                isolation_level="AUTOCOMMIT", connect_args={"application_name": "voxanne-dr"})


def libpq_url(sa_url: str) -> str:
    """A SQLAlchemy URL as libpq understands it."""
    return make_url(sa_url).set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_source(sa_url: str | None = None) -> Source:
    """The app's database, reached as its owner (backups need more than the app role may), and how it can be
    backed up (asks the server whether the role has REPLICATION)."""
    from voxanne_admin import db

    settings = get_settings()
    url = sa_url or db.owner_url()
    embedded = sa_url is None and settings.database_url is None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            can_replicate = conn.execute(sa.text(
                "select rolreplication or rolsuper from pg_roles where rolname = current_user")).scalar()
            major = int(conn.execute(sa.text("show server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()
    return Source(mode="physical" if can_replicate else "logical", url=libpq_url(url), sa_url=url,
                  embedded=embedded, database=make_url(url).database or "postgres", major=major)


def backup_dir() -> Path:
    """VOXANNE_BACKUP_DIR, not created."""
    return get_settings().backup_dir


def slot_name(directory: Path | None = None) -> str:
    """The replication slot feeding one backup directory (two installs on one server never share a slot)."""
    import hashlib

    return "voxanne_dr_" + hashlib.sha256(str(directory or backup_dir()).encode()).hexdigest()[:12]


def wal_dir() -> Path:
    """Where streamed WAL lands."""
    return backup_dir() / "wal"


def segment_size(source: Source) -> int:
    """The server's WAL segment size in bytes."""
    engine = source.engine()
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "select setting::bigint * (case when unit = 'B' then 1 else 1048576 end) "
                "from pg_settings where name = 'wal_segment_size'")).scalar() or 16 * 2**20)
    finally:
        engine.dispose()


def ensure_slot(source: Source) -> None:
    """Create the replication slot (and cap the WAL it may keep) if it is missing."""
    prepare()
    engine = source.engine()
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("select 1 from pg_replication_slots where slot_name = :s"),
                                  {"s": slot_name()}).scalar()
            superuser = conn.execute(sa.text("select rolsuper from pg_roles where rolname = current_user")).scalar()
            # Our own (embedded) server only: an external server's configuration belongs to its operator.
            if superuser and source.embedded:
                current = conn.execute(sa.text("show max_slot_wal_keep_size")).scalar()
                if current in ("-1", "-1kB"):
                    conn.execute(sa.text(f"alter system set max_slot_wal_keep_size = '{MAX_SLOT_KEEP}'"))
                    conn.execute(sa.text("select pg_reload_conf()"))
    finally:
        engine.dispose()
    if not exists:
        pgtools.run("pg_receivewal", "-d", source.url, "--slot", slot_name(), "--create-slot", "--if-not-exists",
                    timeout=120)


def prepare() -> Path:
    """Create the backup directory tree for PostgreSQL's user; refuse when it cannot be used."""
    root = pgtools.prepare_dir(backup_dir())
    for sub in ("wal", "base", "logical", "scratch"):
        pgtools.prepare_dir(root / sub, what=f"backup directory {sub}/")
    return root


def current_lsn(source: Source) -> str:
    """The primary's current WAL insert position."""
    engine = source.engine()
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("select pg_current_wal_lsn()")).scalar())
    finally:
        engine.dispose()


def receiver_state(source: Source) -> dict:
    """Is a receiver streaming into our archive, and how far behind is it (bytes)?"""
    engine = source.engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "select s.active, pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(r.flush_lsn, s.restart_lsn)) "
                "from pg_replication_slots s left join pg_stat_replication r on r.pid = s.active_pid "
                "where s.slot_name = :s"), {"s": slot_name()}).first()
    finally:
        engine.dispose()
    if row is None:
        return {"slot": False, "active": False, "lag_bytes": None}
    return {"slot": True, "active": bool(row[0]), "lag_bytes": int(row[1] or 0)}


def catch_up(source: Source, timeout: float = 300) -> None:
    """Make the archive hold every WAL record written so far.

    With a receiver streaming, wait until it has flushed the current position; with none (CLI use, the server
    not running), run `pg_receivewal --endpos` once."""
    ensure_slot(source)
    engine = source.engine()
    try:
        with engine.connect() as conn:
            target = str(conn.execute(sa.text("select pg_current_wal_lsn()")).scalar())
            # A committed (flushed) record past the target, so the receiver can reach it on an idle server too.
            conn.execute(sa.text("select txid_current()"))
    finally:
        engine.dispose()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = receiver_state(source)
        if state["active"]:
            engine = source.engine()
            try:
                with engine.connect() as conn:
                    done = conn.execute(sa.text(
                        "select coalesce(bool_or(r.flush_lsn >= cast(:t as pg_lsn)), false) from pg_stat_replication r "
                        "join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = :s"),
                        {"t": target, "s": slot_name()}).scalar()
            finally:
                engine.dispose()
            if done:
                return
            time.sleep(0.1)
            continue
        result = pgtools.run("pg_receivewal", "-d", source.url, "-D", str(wal_dir()), "--slot", slot_name(),
                             "--endpos", target, "--no-loop", "--synchronous", "--no-password",
                             timeout=timeout, check=False)
        if result.returncode == 0:
            return
        if "replication slot" in (result.stderr or "") and "is active" in (result.stderr or ""):
            time.sleep(0.2)  # a receiver just started; wait for it instead
            continue
        raise pgtools.ToolFailed(f"WAL archiving failed: {result.stderr.strip()[-1000:]}")
    raise pgtools.ToolFailed(f"WAL archiving did not reach {target} within {int(timeout)} s.")


def status_file() -> Path:
    """The receiver writes its state here for the page and the checks."""
    return backup_dir() / "receiver-status.json"


def _write_status(state: str, error: str = "") -> None:
    with contextlib.suppress(OSError):
        tmp = status_file().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"state": state, "error": error, "pid": os.getpid(),
                                   "at": utcnow().isoformat()}))
        tmp.replace(status_file())


def read_status() -> dict:
    """The receiver's last reported state ({} when none ran)."""
    try:
        return json.loads(status_file().read_text())
    except (OSError, ValueError):
        return {}


def _dies_with_this_process() -> list[str]:
    """A prefix that makes the receiver get SIGTERM (it flushes and exits) when the thread that started it dies,
    as when its worker is SIGKILLed: an orphaned pg_receivewal would hold the slot unsupervised, and the worker
    that takes over could never stream. util-linux's setpriv sets it after Popen's change of user, which would
    clear it (prctl(2)); without setpriv the receiver runs as before."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class Receiver:
    """Runs `pg_receivewal` for as long as this process holds the receiver lock; restarts it when it exits."""

    def __init__(self, source: Source, lock_url: str):
        self.source = source
        self.lock_url = lock_url
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start supervising in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="wal-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the receiver (it flushes what it has)."""
        self._stop.set()
        proc = self._proc
        if proc and proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        if self._thread:
            self._thread.join(15)

    def _loop(self) -> None:
        engine = sa.create_engine(self.lock_url, poolclass=sa.pool.NullPool)
        backoff = 1.0
        while not self._stop.is_set():
            try:
                with engine.connect() as conn:
                    got = conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": RECEIVER_LOCK}).scalar()
                    conn.commit()
                    if not got:
                        self._stop.wait(30)  # another worker streams; take over if it goes away
                        continue
                    while not self._stop.is_set():
                        self._run_once()
                        if self._stop.wait(backoff):
                            break
                        backoff = min(backoff * 2, 30)
            except Exception as exc:  # the database went away: retry, never kill the worker
                _write_status("failing", f"{type(exc).__name__}: {exc}"[:500])
                self._stop.wait(min(backoff, 30))
        engine.dispose()

    def _run_once(self) -> None:
        try:
            ensure_slot(self.source)
        except Exception as exc:
            _write_status("failing", str(exc)[:500])
            log.error("WAL archiving cannot start", extra={"error": str(exc)[:500]})
            return
        cmd = [*_dies_with_this_process(), str(pgtools.bin_dir() / "pg_receivewal"), "-d", self.source.url,
               "-D", str(wal_dir()), "--slot", slot_name(), "--synchronous", "--no-loop", "--no-password",
               "--status-interval", "1"]
        self._proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                      user=pgtools.run_user(), cwd="/")
        _write_status("streaming")
        _out, err = self._proc.communicate()
        if self._stop.is_set():
            _write_status("stopped")
            return
        reason = (err or "").strip()[-500:] or f"pg_receivewal exited with {self._proc.returncode}"
        _write_status("failing", reason)
        log.error("WAL archiving stopped; restarting", extra={"error": reason})


def archive_files(segment_bytes: int) -> list[tuple[int, int, str, bool]]:
    """(timeline, segment number, file name, partial) of every WAL file in the archive, oldest first."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(wal_dir()):
            parsed = pgtools.segment_number(entry.name, segment_bytes)
            if parsed:
                out.append((parsed[0], parsed[1], entry.name, entry.name.endswith(".partial")))
    return sorted(out)


def newest_wal_mtime() -> float | None:
    """When the archive last received WAL (epoch seconds)."""
    newest = None
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(wal_dir()):
            if pgtools.SEGMENT_RE.match(entry.name):
                mtime = entry.stat().st_mtime
                newest = mtime if newest is None else max(newest, mtime)
    return newest


@contextlib.asynccontextmanager
async def lifespan():
    """Stream WAL for the life of the backend worker (physical mode); one worker streams, the others stand by."""
    import asyncio

    from voxanne_admin import db

    receiver = None
    try:
        source = await asyncio.to_thread(resolve_source)
        if source.mode == "physical":
            await asyncio.to_thread(prepare)
            receiver = Receiver(source, lock_url=db.owner_url())
            receiver.start()
    except Exception as exc:  # the console still serves; the page and verification show the failure
        _write_status("failing", f"WAL archiving could not start: {exc}"[:500])
        log.error("WAL archiving could not start", extra={"error": str(exc)[:500]})
    try:
        yield
    finally:
        if receiver is not None:
            await asyncio.to_thread(receiver.stop)
