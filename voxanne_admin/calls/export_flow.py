"""The CSV export, a flow: it commits its own short transactions (register, finish, audit) around a long read.

The rows are read through a server-side cursor in a read-only REPEATABLE READ transaction and written to a file
batch by batch, so memory stays bounded whatever the row count (tests/integration/test_call_logs_export.py holds
the bound); no transaction that writes is held while the file is written. `run` is what the Call logs page uses:
count and register, write in a worker thread, report progress, finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import col

from voxanne_admin import db
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.calls import exports
from voxanne_admin.calls.families import family_label
from voxanne_admin.calls.filters import CallFilter, check_scope, conditions
from voxanne_admin.calls.listing import aliases, count_calls, joined
from voxanne_admin.calls.models import Call, CallExport
from voxanne_admin.privacy import csvsafe
from voxanne_admin.privacy.masking import mask_number
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)

EXPORT_HEADER = ["call_id", "vapi_call_id", "organization", "agent", "direction", "status", "ended_reason",
                 "ended_reason_group", "customer", "started_at_utc", "ended_at_utc", "duration_s", "cost_usd",
                 "test_call", "recording_url", "summary"]
EXPORT_BATCH = 2000
POLL_S = 0.25  # how often `run` reports progress


@dataclass(frozen=True)
class ExportProgress:
    """One report of a running export: rows written of the total; `done` with the token and file at the end."""

    total: int
    written: int = 0
    done: bool = False
    token: str = ""
    path: str = ""


async def run(*, flt: CallFilter, staff_id: int, role: str, actor: Actor,
              poll_s: float = POLL_S) -> AsyncIterator[ExportProgress]:
    """The whole export as the Call logs page runs it: count and register it (one short transaction), write the
    file in a worker thread, report progress every `poll_s`, and end with a `done` report (total 0 and no token
    when nothing matches). Domain errors (scope, a refused search) propagate before anything is written."""

    def start() -> tuple[int, str, str]:
        with db.transaction() as session:
            total = count_calls(session, flt=flt, role=role)
            if total == 0:
                return 0, "", ""
            job = exports.start_export(session, flt=flt, staff_id=staff_id, role=role)
            return total, job.token, job.path

    total, token, path = await asyncio.to_thread(start)
    if not token:
        yield ExportProgress(total=0, done=True)
        return
    yield ExportProgress(total=total)
    written = {"rows": 0}
    task = asyncio.ensure_future(asyncio.to_thread(
        export_csv, flt=flt, path=path, actor=actor, token=token, role=role,
        progress=lambda n: written.__setitem__("rows", n)))
    while not task.done():
        await asyncio.sleep(poll_s)
        yield ExportProgress(total=total, written=written["rows"])
    rows = task.result()
    yield ExportProgress(total=max(rows, total), written=rows, done=True, token=token, path=path)


def _export_stmt(flt: CallFilter) -> sa.Select:
    """The export's columns, newest first."""
    org, agent_by_id, agent_by_assistant = aliases()
    return (
        joined(col(Call.id), col(Call.vapi_call_id), org.name,
               sa.func.coalesce(agent_by_id.name, agent_by_assistant.name), col(Call.direction), col(Call.status),
               col(Call.ended_reason), col(Call.customer_number), col(Call.listed_at), col(Call.ended_at),
               col(Call.duration_s), col(Call.cost), col(Call.is_test), col(Call.recording_url), col(Call.summary))
        .where(*conditions(flt))
        .order_by(col(Call.listed_at).desc(), col(Call.id).desc())
    )


def export_csv(*, flt: CallFilter, path: str | Path, progress: Callable[[int], None] | None = None,
               actor: Actor | None = None, token: str = "", role: str | None = None) -> int:
    """Write the filter's calls to a CSV file through a server-side cursor (bounded memory whatever the row
    count), reporting rows written to `progress`; then audit who exported which filter and how many rows.
    Customer numbers are masked; transcripts are not exported (open the call for them)."""
    check_scope(flt, role)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    written = 0
    try:
        with db.get_engine().connect() as conn, tmp.open("w", newline="", encoding="utf-8") as fh, conn.begin():
            conn.execute(sa.text("set transaction isolation level repeatable read, read only"))
            writer = csvsafe.writer(fh)  # every text cell neutralised (formula injection)
            writer.writerow(EXPORT_HEADER)
            # A named (server-side) cursor: PostgreSQL sends EXPORT_BATCH rows at a time.
            result = conn.execute(_export_stmt(flt).execution_options(stream_results=True,
                                                                      yield_per=EXPORT_BATCH))
            for batch in result.partitions():
                for r in batch:
                    writer.writerow([
                        r[0], r[1] or "", r[2] or "", r[3] or "", r[4] or "", r[5], r[6] or "",
                        family_label(r[6]) if r[6] else "", mask_number(r[7]),
                        r[8].astimezone(UTC).isoformat() if r[8] else "",
                        r[9].astimezone(UTC).isoformat() if r[9] else "",
                        f"{r[10]:.1f}" if r[10] is not None else "", str(r[11]) if r[11] is not None else "",
                        "yes" if r[12] else "no", r[13] or "", " ".join((r[14] or "").split())])
                written += len(batch)
                if progress:
                    progress(written)
        tmp.replace(path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if token:
            _finish_export(token, status="failed", rows=written, error=type(exc).__name__)
        raise
    with db.transaction() as session:
        audit.record(session, actor=actor or Actor.system("export"), action="calls_exported", target_type="calls",
                     target_id=token or path.name,
                     org_id=flt.org_ids[0] if len(flt.org_ids) == 1 else None,
                     diff={"filter": flt.to_query(), "org_ids": flt.org_ids, "rows": written})
        if token:
            row = session.get(CallExport, token)
            if row is not None:
                row.status, row.rows, row.finished_at = "completed", written, utcnow()
                session.add(row)
    return written


def _finish_export(token: str, *, status: str, rows: int, error: str | None = None) -> None:
    try:
        with db.transaction() as session:
            row = session.get(CallExport, token)
            if row is not None:
                row.status, row.rows, row.error, row.finished_at = status, rows, error, utcnow()
                session.add(row)
    except Exception:
        log.exception("could not record the export's failure")


