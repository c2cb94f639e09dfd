"""Audit retention that keeps the proof: archive a sealed range to a signed segment, then delete (as the owner).

A segment is `segment-<first seq>-<last seq>.jsonl.gz` (one `{"event": ..., "seal": ...}` per line, every event
of the range, in id order) and its manifest `...manifest.json`: the range, the file's SHA-256, the link the chain
continues from, and a checkpoint of the segment's last position, all signed with the checkpoint key (Ed25519).
Only after the segment is written and fsynced are the expired rows deleted, by the owner role, with
`voxanne.audit_retention = on` (the append-only trigger lets the owner delete then, and nobody else ever).

Policy: authentication events (`AUTH_ACTIONS`) are kept `AUDIT_AUTH_RETENTION_DAYS` (90), every other event
`AUDIT_RETENTION_DAYS` (6 years). The archived range always runs from the chain's boundary to the newest sealed
row older than the shorter period, so segments tile the history without gaps; rows of the range that are still
within their period stay in the database (their MACs still verify them) and all the range's seals move to the
segment. `audit verify --archive DIR` then walks the segments from genesis into the live chain.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin import locks
from voxanne_admin.audit import checkpoints
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

# Sign-ins and sessions (the seed's 90-day policy). Changes to accounts (password, MFA set-up, roles) are not
# authentication events: they are kept the full period.
AUTH_ACTIONS = ("logout", "recovery_code_used", "account_locked")
AUTH_PREFIXES = ("login_", "session_", "mfa_challenge_", "sso_login")
EVENT_COLUMNS = ("id", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "target_type",
                 "target_id", "org_id", "diff", "ip", "user_agent", "request_id", "key_id", "mac")


class ArchiveError(ValueError):
    """A segment or manifest that is missing, unreadable, altered or unsigned."""


def is_auth_action(action: str) -> bool:
    """Authentication events (kept 90 days)."""
    return action in AUTH_ACTIONS or action.startswith(AUTH_PREFIXES)


def _auth_sql() -> str:
    prefixes = " or ".join(f"left(action, {len(p)}) = '{p}'" for p in AUTH_PREFIXES)
    names = ", ".join(f"'{a}'" for a in AUTH_ACTIONS)
    return f"(action in ({names}) or {prefixes})"


@dataclass(frozen=True)
class Segment:
    """One archived range."""

    name: str
    path: Path
    manifest: dict[str, Any]

    def records(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(event fields, seal) per archived position, in order."""
        with gzip.open(self.path, "rt", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                event = dict(record["event"])
                event["occurred_at"] = datetime.fromisoformat(event["occurred_at"])
                yield event, record["seal"]


def _signed_manifest(body: dict[str, Any]) -> dict[str, Any]:
    from voxanne_admin.audit import keys

    signing = keys.signing_keys()
    body = {**body, "key_id": signing.current_id}
    body["sig"] = signing.private.sign(_manifest_bytes(body)).hex()
    return body


def _manifest_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in body.items() if k != "sig"}, sort_keys=True, separators=(",", ":")).encode()


def read_segments(directory: Path) -> list[Segment]:
    """Every segment in `directory`, checked (file hash, manifest signature, checkpoint), in chain order."""
    from cryptography.exceptions import InvalidSignature

    from voxanne_admin.audit import keys

    if not directory.is_dir():
        raise ArchiveError(f"{directory} is not a directory")
    signing = keys.signing_keys()
    out = []
    for manifest_path in sorted(directory.glob("segment-*.manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{manifest_path.name} is unreadable: {exc}") from None
        public = signing.public_by_id.get(str(manifest.get("key_id")))
        try:
            if public is None:
                raise InvalidSignature
            public.verify(bytes.fromhex(str(manifest.get("sig", ""))), _manifest_bytes(manifest))
        except (InvalidSignature, ValueError):
            raise ArchiveError(f"{manifest_path.name}: signature does not verify (edited, or signed by a key "
                               "that is not configured)") from None
        data = directory / manifest["file"]
        if not data.exists():
            raise ArchiveError(f"{manifest['file']} is missing (its manifest is present)")
        if hashlib.sha256(data.read_bytes()).hexdigest() != manifest["sha256"]:
            raise ArchiveError(f"{manifest['file']}: altered (its SHA-256 does not match the signed manifest)")
        if not checkpoints.signature_ok(manifest["checkpoint"], signing):
            raise ArchiveError(f"{manifest_path.name}: its checkpoint's signature does not verify")
        out.append(Segment(name=manifest["file"], path=data, manifest=manifest))
    return sorted(out, key=lambda s: int(s.manifest["first_seq"]))


def _json_event(row: Any) -> dict[str, Any]:
    event = {c: row[c] for c in EVENT_COLUMNS}
    event["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return event


def archive_and_purge(owner: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Archive the expired range to a signed segment, then delete expired rows (run as the owner role)."""
    settings = get_settings()
    now = now or utcnow()
    auth_cutoff = now - timedelta(days=settings.audit_auth_retention_days)
    other_cutoff = now - timedelta(days=settings.audit_retention_days)
    owner.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": locks.AUDIT_RETENTION})
    boundary = owner.execute(sa.text(
        "select last_seq, last_id, last_link from audit_archive_segments order by last_seq desc limit 1")).first()
    start_seq, start_id, start_link = (int(boundary[0]), int(boundary[1]), str(boundary[2])) if boundary \
        else (0, 0, "0" * 64)
    cutoff = max(auth_cutoff, other_cutoff)  # the range ends where the shorter retention period does
    end = owner.execute(sa.text(
        "select s.event_id, s.seq, s.link from audit_seals s join audit_events e on e.id = s.event_id "
        "where s.seq > :s and e.occurred_at < :c order by s.seq desc limit 1"),
        {"s": start_seq, "c": cutoff}).first()
    if end is None:
        return {"archived": 0, "deleted": 0, "segment": None}
    last_id, last_seq, last_link = int(end[0]), int(end[1]), str(end[2])
    rows = owner.execute(sa.text(
        f"select {', '.join('e.' + c for c in EVENT_COLUMNS)}, s.event_id as s_event_id, s.seq, s.prev_id, "  # noqa: S608
        "s.key_id as s_key_id, s.link from audit_seals s left join audit_events e on e.id = s.event_id "
        "where s.seq > :a and s.seq <= :b order by s.seq"), {"a": start_seq, "b": last_seq}).mappings().all()
    directory = settings.audit_archive_path
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"segment-{start_seq + 1:012d}-{last_seq:012d}"
    data_path = directory / f"{name}.jsonl.gz"
    tmp = data_path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for r in rows:
            if r["id"] is None:
                raise ArchiveError(f"row {r['s_event_id']} is sealed but missing: run `voxanne-admin audit verify` "
                                   "before retention archives anything")
            seal = {"event_id": r["s_event_id"], "seq": r["seq"], "prev_id": r["prev_id"], "key_id": r["s_key_id"],
                    "link": r["link"]}
            fh.write(json.dumps({"event": _json_event(r), "seal": seal}, sort_keys=True, default=str) + "\n")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, data_path)
    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()
    checkpoint = checkpoints.sign({"seq": 0, "at": now.isoformat(timespec="microseconds"), "last_id": last_id,
                                   "count": last_seq, "head": last_link})
    manifest = _signed_manifest({
        "file": data_path.name, "sha256": digest, "first_id": int(rows[0]["id"]), "last_id": last_id,
        "first_seq": start_seq + 1, "last_seq": last_seq, "prev_id": start_id, "prev_link": start_link,
        "last_link": last_link, "rows": len(rows), "created_at": now.isoformat(), "checkpoint": checkpoint})
    manifest_path = directory / f"{name}.manifest.json"
    manifest_tmp = manifest_path.with_suffix(".tmp")
    manifest_tmp.write_text(json.dumps(manifest, sort_keys=True, indent=1))
    os.replace(manifest_tmp, manifest_path)
    owner.execute(sa.text("set local voxanne.audit_retention = 'on'"))
    deleted = cast("sa.CursorResult[Any]", owner.execute(sa.text(
        f"delete from audit_events where id <= :last and id > :first and (occurred_at < :other "  # noqa: S608
        f"or (occurred_at < :auth and {_auth_sql()}))"),
        {"last": last_id, "first": start_id, "other": other_cutoff, "auth": auth_cutoff})).rowcount
    owner.execute(sa.text("delete from audit_seals where seq > :a and seq <= :b"), {"a": start_seq, "b": last_seq})
    owner.execute(sa.text("set local voxanne.audit_retention = 'off'"))
    owner.execute(sa.text(
        "insert into audit_archive_segments (created_at, first_id, last_id, first_seq, last_seq, last_link, rows, "
        "deleted, path, sha256) values (:now, :fi, :li, :fs, :ls, :ll, :r, :d, :p, :h)"),
        {"now": now, "fi": int(rows[0]["id"]), "li": last_id, "fs": start_seq + 1, "ls": last_seq, "ll": last_link,
         "r": len(rows), "d": deleted, "p": str(data_path), "h": digest})
    from voxanne_admin.audit import service as audit

    audit.record(owner, actor=audit.Actor.system("retention"), action="audit_archived", target_type="audit_segment",
                 target_id=data_path.name[:64], diff={"first_id": int(rows[0]["id"]), "last_id": last_id,
                                                      "archived": len(rows), "deleted": int(deleted)})
    return {"archived": len(rows), "deleted": int(deleted), "segment": data_path.name}
