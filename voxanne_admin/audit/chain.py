"""The audit chain: the sealer that links committed rows, signed checkpoints, and verification.

Writers (`service.record`) take no shared lock; each row carries its own MAC. The sealer links rows afterwards, in
id order, into `audit_seals` (insert-only: the app may not UPDATE audit tables):

    link(n) = HMAC(key, "link|seq|event id|previous event id|row MAC|link(n-1)")

Commit-safe order: ids come from a sequence, so a lower id may still be in flight when a higher one has committed,
and ids of rolled-back transactions never appear (gaps). A tick therefore reads the sequence's last value `L` and
THEN a snapshot; every transaction that allocated an id <= L already had an xid (record takes its xid before its
id) and so is either finished or in that snapshot's in-progress list. Once each of those has ended, no id <= L can
still appear: the sealer links every visible row up to L. A long transaction only delays sealing, never reorders.

One sealer across workers: each tick takes a transaction-level advisory lock with try-lock (`locks.AUDIT_SEALER`);
other workers skip. Signed checkpoints (Ed25519, `keys.py`) of the head are appended to a file outside the
database every `AUDIT_CHECKPOINT_SECONDS` and on demand (`take_checkpoint`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from voxanne_admin import locks
from voxanne_admin.audit import checkpoints, keys
from voxanne_admin.audit.checkpoints import read_checkpoints
from voxanne_admin.audit.models import AuditEvent, AuditSeal
from voxanne_admin.audit.service import compute_mac
from voxanne_admin.timeutil import utcnow

__all__ = ["ChainStatus", "VerifyReport", "chain_status", "read_checkpoints", "seal_pending", "sealed_through",
           "take_checkpoint", "verify"]

GENESIS = "0" * 64
SEAL_BATCH = 5000
_WAIT_INFLIGHT_S = 1.5


def link_of(key: bytes, *, seq: int, event_id: int, prev_id: int, row_mac: str, prev_link: str) -> str:
    """The chain link of one sealed event."""
    message = f"link|{seq}|{event_id}|{prev_id}|{row_mac}|{prev_link}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainStatus:
    """What the chain-status panel shows."""

    sealed_through: int
    unsealed: int
    sealer_lag_s: float | None
    last_checkpoint: dict | None
    last_checkpoint_at: datetime | None


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of `verify`: every problem named, in the order found."""

    ok: bool
    problems: list[str]
    rows_checked: int


def _head(session: Session) -> AuditSeal | None:
    return session.exec(select(AuditSeal).order_by(col(AuditSeal.seq).desc()).limit(1)).first()


def sealed_through(session: Session) -> int:
    """Every event with id <= this is sealed (linked)."""
    head = _head(session)
    return head.event_id if head else 0


def chain_status(session: Session) -> ChainStatus:
    """Sealed head, rows waiting for the sealer and how long the oldest has waited, the last checkpoint."""
    through = sealed_through(session)
    unsealed, oldest = session.execute(sa.text(
        "select count(*), min(occurred_at) from audit_events where id > :t"), {"t": through}).one()
    any_rows = through > 0 or unsealed > 0
    lag = (utcnow() - oldest).total_seconds() if oldest is not None else (0.0 if any_rows else None)
    try:
        last = checkpoints.last_checkpoint()
    except checkpoints.CheckpointFileError:
        last = None
    at = datetime.fromisoformat(last["at"]) if last else None
    return ChainStatus(sealed_through=through, unsealed=int(unsealed), sealer_lag_s=lag, last_checkpoint=last,
                       last_checkpoint_at=at)


def _inflight_done(session: Session, snapshot: str) -> bool:
    return bool(session.execute(sa.text(
        "select coalesce(bool_and(pg_xact_status(x) is distinct from 'in progress'), true) "
        "from pg_snapshot_xip(cast(:s as pg_snapshot)) x"), {"s": snapshot}).scalar())


def _fence(session: Session) -> tuple[int, str]:
    # The sequence first, the snapshot second (see the module docstring).
    last_value, is_called = session.execute(sa.text(
        "select last_value, is_called from audit_events_id_seq")).one()
    snapshot = session.execute(sa.text("select cast(pg_current_snapshot() as text)")).scalar_one()
    return (int(last_value) if is_called else 0), snapshot


def seal_pending(session: Session, *, wait_s: float = _WAIT_INFLIGHT_S) -> int:
    """Link every committed row that can no longer be preceded by an in-flight one; returns rows sealed.

    Runs in the caller's transaction, and does nothing (0) when another process is sealing right now.
    """
    if not session.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": locks.AUDIT_SEALER}).scalar():
        return 0
    limit, snapshot = _fence(session)
    deadline = time.monotonic() + wait_s
    while not _inflight_done(session, snapshot):
        if time.monotonic() >= deadline:
            return 0  # a transaction older than the fence is still open: next tick
        time.sleep(0.05)
    head = _head(session)
    seq, prev_id, prev_link = (head.seq, head.event_id, head.link) if head else _boundary(session)
    keyring = keys.mac_keys()
    sealed = 0
    while True:
        rows = session.execute(sa.text(
            "select id, mac from audit_events where id > :after and id <= :limit order by id limit :n"),
            {"after": prev_id, "limit": limit, "n": SEAL_BATCH}).all()
        if not rows:
            return sealed
        now = utcnow()
        values = []
        for event_id, row_mac in rows:
            seq += 1
            link = link_of(keyring.current, seq=seq, event_id=event_id, prev_id=prev_id, row_mac=row_mac,
                           prev_link=prev_link)
            values.append({"event_id": event_id, "seq": seq, "prev_id": prev_id, "key_id": keyring.current_id,
                           "link": link, "sealed_at": now})
            prev_id, prev_link = event_id, link
        session.execute(sa.insert(AuditSeal), values)
        sealed += len(values)


def _boundary(session: Session) -> tuple[int, int, str]:
    """Where the chain starts: genesis, or the end of the newest archived segment (retention)."""
    row = session.execute(sa.text(
        "select last_seq, last_id, last_link from audit_archive_segments order by last_seq desc limit 1")).first()
    return (int(row[0]), int(row[1]), str(row[2])) if row else (0, 0, GENESIS)


def take_checkpoint(session: Session) -> dict:
    """Sign the sealed head (last id, count, head link, time) and append it to the checkpoint file."""
    head = _head(session)
    seq, last_id, link = (head.seq, head.event_id, head.link) if head else _boundary(session)
    return checkpoints.append(last_id=last_id, count=seq, head=link)


def checkpoint_if_due(session: Session, every_s: float) -> dict | None:
    """The periodic checkpoint: one when the last is older than `every_s` and the head moved (or none exists)."""
    try:
        last = checkpoints.last_checkpoint()
    except checkpoints.CheckpointFileError:
        # verify reports the damaged file; keep signing new checkpoints at the usual pace
        if time.time() - checkpoints.path().stat().st_mtime < every_s:
            return None
        return take_checkpoint(session)
    if last is not None:
        age = (utcnow() - datetime.fromisoformat(last["at"])).total_seconds()
        head = _head(session)
        moved = (head.seq if head else 0) != last["count"]
        if age < every_s or (not moved and age < 3600):
            return None
    return take_checkpoint(session)


def verify(session: Session, *, archive_dir: Path | None = None,
           progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Check every row's MAC, every link, every checkpoint (and the archive, when given); name each problem."""
    from voxanne_admin.audit import verification

    return verification.run(session, archive_dir=archive_dir, progress=progress)


def tick(session: Session, *, checkpoint_every_s: float) -> tuple[int, dict | None]:
    """One sealer tick (scheduler): seal, then checkpoint when due. Rows sealed and the checkpoint taken."""
    sealed = seal_pending(session)
    if not session.execute(sa.text("select pg_try_advisory_xact_lock(:k)"), {"k": locks.AUDIT_SEALER}).scalar():
        return sealed, None
    return sealed, checkpoint_if_due(session, checkpoint_every_s)


def count_events(session: Session) -> int:
    """Rows in audit_events."""
    return int(session.exec(select(sa.func.count()).select_from(AuditEvent)).one())


def mac_ok(row: AuditEvent, keyring: keys.MacKeys) -> bool | None:
    """True/False for a row's MAC; None when its key id is not configured."""
    key = keyring.by_id.get(row.key_id)
    if key is None:
        return None
    return hmac.compare_digest(compute_mac(row, key), row.mac)
