"""Audit-trail exports (CSV and JSON) of one filter, streamed: rows go out as they are read through a server-side
cursor in one read-only REPEATABLE READ transaction (a consistent snapshot, bounded memory whatever the row
count). The export itself is audited (who, which filter, which format) in its own short transaction before the
first byte, so even an interrupted download is on the record. CSV cells are written the way the call-logs export
writes them (`csv` module, every cell through `privacy.csvsafe` so a spreadsheet runs no formula)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session

from voxanne_admin import db
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.query import AuditFilter, iter_events
from voxanne_admin.audit.service import Actor
from voxanne_admin.privacy import csvsafe
from voxanne_admin.timeutil import utcnow

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CSV_HEADER = ["id", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "target_type", "target_id",
              "org_id", "ip", "user_agent", "request_id", "summary", "diff"]
FLUSH_ROWS = 500  # rows per chunk sent to the client


def filename(fmt_name: str) -> str:
    """The download's file name."""
    return f"audit-{utcnow():%Y%m%d-%H%M%S}.{fmt_name}"


def record_export(session: Session, *, flt: AuditFilter, fmt_name: str, actor: Actor, via: str) -> None:
    """Audit that `actor` exported `flt` as `fmt_name` (the caller's transaction)."""
    audit.record(session, actor=actor, action="audit_exported", target_type="audit_events", target_id=fmt_name,
                 org_id=flt.org_id, diff={"filter": flt.to_query(), "format": fmt_name, "via": via})


def _summary(event: dict[str, Any]) -> str:
    parts = []
    for key, change in list((event["diff"] or {}).items())[:4]:
        if isinstance(change, dict) and "after" in change:
            before, after = change.get("before"), change.get("after")
            parts.append(f"{key}: {after}" if before is None else f"{key}: {before} → {after}")
        else:
            parts.append(f"{key}: {change}")
    return "; ".join(parts)[:200]


def _csv_row(event: dict[str, Any]) -> list[str]:
    target = event["targets"][0] if event["targets"] else {"type": None, "id": None}
    cells = [event["occurred_at"], event["actor"]["type"], event["actor"]["id"], event["actor"]["email"],
             event["action"], target["type"], target["id"], event["org_id"], event["context"]["ip"],
             event["context"]["user_agent"], event["context"]["request_id"], _summary(event),
             json.dumps(event["diff"], ensure_ascii=False, sort_keys=True) if event["diff"] else ""]
    return [str(event["id"]), *("" if c is None else " ".join(str(c).split()) for c in cells)]


def stream(flt: AuditFilter, *, fmt_name: str, actor: Actor, via: str = "api") -> Iterator[bytes]:
    """Audit the export, then yield the file in chunks (call it from a worker thread: it reads the database)."""
    with db.transaction() as session:
        record_export(session, flt=flt, fmt_name=fmt_name, actor=actor, via=via)
    return _chunks(flt, fmt_name)


def _chunks(flt: AuditFilter, fmt_name: str) -> Iterator[bytes]:
    with db.read_only() as session:
        session.connection().exec_driver_sql("set transaction isolation level repeatable read, read only")
        if fmt_name == "csv":
            buf = io.StringIO()
            writer = csvsafe.writer(buf)  # every text cell neutralised (formula injection)
            writer.writerow(CSV_HEADER)
            for n, event in enumerate(iter_events(session, flt), 1):
                writer.writerow(_csv_row(event))
                if n % FLUSH_ROWS == 0:
                    yield buf.getvalue().encode()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue().encode()
            return
        yield (json.dumps({"filter": flt.to_query(), "exported_at": utcnow().isoformat()})[:-1]
               + ', "events": [\n').encode()
        chunk: list[str] = []
        first = True
        for event in iter_events(session, flt):
            chunk.append(("" if first else ",\n") + json.dumps(event, ensure_ascii=False))
            first = False
            if len(chunk) >= FLUSH_ROWS:
                yield "".join(chunk).encode()
                chunk = []
        yield ("".join(chunk) + "\n]}\n").encode()
