"""`audit verify`: row MACs, chain links and positions, checkpoints, and the retention archive.

Every problem is named (row id, or "truncated: checkpoint N says M rows"), and the walk goes on after one so that
separate problems are reported separately. The archive's segments (`archive.py`) go through the same walker first,
so a history partly deleted by retention is still proven from genesis.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin.audit import archive, checkpoints, keys
from voxanne_admin.audit.chain import GENESIS, VerifyReport, link_of
from voxanne_admin.audit.service import compute_mac

MAX_PROBLEMS = 100
BATCH = 5000
EVENT_COLUMNS = ("id", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "target_type",
                 "target_id", "org_id", "diff", "ip", "user_agent", "request_id", "key_id", "mac")


class Walker:
    """Follows the chain over (event, seal) pairs in id order, collecting problems."""

    def __init__(self, keyring: keys.MacKeys, cps_by_last_id: dict[int, list[dict]], *, seq: int = 0,
                 prev_id: int = 0, prev_link: str = GENESIS):
        self.keyring = keyring
        self.cps = cps_by_last_id
        self.seq, self.prev_id, self.prev_link = seq, prev_id, prev_link
        self.problems: list[str] = []
        self.rows = 0
        self.unsealed_ids: list[int] = []
        self.seen_checkpoints: set[int] = set()

    def problem(self, text: str) -> None:
        """Record one problem."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def check_mac(self, event: Any) -> None:
        """The row's own MAC (also for rows kept past the archive boundary, whose seals are archived)."""
        self.rows += 1
        key = self.keyring.by_id.get(event.key_id)
        if key is None:
            self.problem(f"row {event.id}: its MAC key {event.key_id!r} is not configured (restore the key, "
                         "see AUDIT_HMAC_KEY)")
        elif not hmac.compare_digest(compute_mac(event, key), event.mac):
            self.problem(f"row {event.id}: altered (its content does not match its MAC)")

    def event(self, event: Any, seal: dict[str, Any] | None) -> None:
        """One position: an event, its seal, or both."""
        event_id = event.id if event is not None else int(seal["event_id"])  # type: ignore[index]
        if event is not None:
            self.check_mac(event)
        if seal is None:
            self.unsealed_ids.append(event_id)
            return
        if self.unsealed_ids:
            for missing in self.unsealed_ids:
                self.problem(f"row {missing}: its seal was removed (row {event_id} after it is sealed)")
            self.unsealed_ids = []
        if event is None:
            self.problem(f"row {event_id}: removed (its seal remains)")
        if int(seal["prev_id"]) != self.prev_id:
            if self.prev_id < int(seal["prev_id"]) < event_id:
                self.problem(f"row {seal['prev_id']}: removed (row {event_id} links to it)")
            else:
                self.problem(f"row {event_id}: reordered (it links to row {seal['prev_id']}, "
                             f"the row before it is {self.prev_id})")
        elif int(seal["seq"]) != self.seq + 1:
            self.problem(f"row {event_id}: removed or reordered rows before it (chain position {seal['seq']}, "
                         f"expected {self.seq + 1})")
        elif event is not None:
            key = self.keyring.by_id.get(str(seal["key_id"]))
            expected = link_of(key, seq=int(seal["seq"]), event_id=event_id, prev_id=self.prev_id,
                               row_mac=event.mac, prev_link=self.prev_link) if key else None
            if expected is None or not hmac.compare_digest(expected, str(seal["link"])):
                self.problem(f"row {event_id}: its chain link does not verify (row rewritten, removed or "
                             "reordered)")
        for cp in self.cps.get(event_id, []):
            self.seen_checkpoints.add(cp["seq"])
            if int(cp["count"]) != int(seal["seq"]) or cp["head"] != seal["link"]:
                self.problem(f"checkpoint {cp['seq']}: the chain at row {event_id} differs from it "
                             f"(checkpoint says {cp['count']} rows, head {cp['head'][:12]}...)")
        # Carry on from what is stored, so one problem is not reported again at every later row.
        self.seq, self.prev_id, self.prev_link = int(seal["seq"]), event_id, str(seal["link"])


def _db_pairs(session: Session, progress: Callable[[int, int], None] | None,
              total: int) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    after, done = 0, 0
    cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
    while True:
        rows = session.execute(sa.text(
            f"select {cols}, s.event_id as s_event_id, s.seq, s.prev_id, s.key_id as s_key_id, s.link "  # noqa: S608
            "from audit_events e full outer join audit_seals s on s.event_id = e.id "
            "where coalesce(e.id, s.event_id) > :after order by coalesce(e.id, s.event_id) limit :n"),
            {"after": after, "n": BATCH}).mappings().all()
        if not rows:
            return
        for r in rows:
            # A plain namespace, not a validated model: verify reads every row, and `compute_mac` needs attributes.
            event = SimpleNamespace(**{c: r[c] for c in EVENT_COLUMNS}) if r["id"] is not None else None
            seal = ({"event_id": r["s_event_id"], "seq": r["seq"], "prev_id": r["prev_id"], "key_id": r["s_key_id"],
                     "link": r["link"]} if r["s_event_id"] is not None else None)
            after = int(r["id"] if r["id"] is not None else r["s_event_id"])
            yield event, seal
        done += len(rows)
        if progress:
            progress(min(done, total), total)


def _checkpoints(problems: list[str]) -> list[dict]:
    try:
        records = checkpoints.read_all()
    except checkpoints.CheckpointFileError as exc:
        problems.append(f"checkpoint file unreadable: {exc}")
        return []
    signing = keys.signing_keys()
    good = []
    expected = 1
    for record in records:
        if record["seq"] != expected:
            problems.append(f"checkpoint file: checkpoints {expected}..{record['seq'] - 1} are missing"
                            if record["seq"] > expected else
                            f"checkpoint {record['seq']}: out of order (expected {expected})")
        expected = record["seq"] + 1
        if not checkpoints.signature_ok(record, signing):
            problems.append(f"checkpoint {record['seq']}: signature does not verify (edited, or signed by a key "
                            "that is not configured)")
            continue
        good.append(record)
    return good


def run(session: Session, *, archive_dir: Path | None = None,
        progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Verify the archive (when given), the live chain and the checkpoints."""
    keyring = keys.mac_keys()
    problems: list[str] = []
    cps = _checkpoints(problems)
    by_last: dict[int, list[dict]] = {}
    for cp in cps:
        by_last.setdefault(int(cp["last_id"]), []).append(cp)
    walker = Walker(keyring, by_last)
    boundary = session.execute(sa.text(
        "select last_seq, last_id, last_link from audit_archive_segments order by last_seq desc limit 1")).first()
    if archive_dir is not None:
        for pair in _archive_pairs(archive_dir, walker, problems):
            walker.event(*pair)
        if boundary is not None and int(boundary[0]) > walker.seq:
            problems.append(f"archive: segments up to chain position {boundary[0]} were written but {archive_dir} "
                            f"ends at position {walker.seq}")
    elif boundary is not None:
        walker.seq, walker.prev_id, walker.prev_link = int(boundary[0]), int(boundary[1]), str(boundary[2])
    total = int(session.execute(sa.text("select count(*) from audit_events")).scalar_one())
    archived_through = int(boundary[1]) if boundary is not None else 0
    for event, seal in _db_pairs(session, progress, total):
        if event is not None and seal is None and event.id is not None and event.id <= archived_through:
            walker.check_mac(event)  # kept within its retention period; its seal is in the archive
        else:
            walker.event(event, seal)
    problems.extend(walker.problems)
    # The MAC does not cover the id (one insert statement), so a copied row would carry a valid MAC: refuse twins.
    for mac_ids in session.execute(sa.text(
            "select array_agg(id order by id) from audit_events group by mac having count(*) > 1 limit 20")).all():
        first, *copies = mac_ids[0]
        problems.extend(f"row {copy}: a copy of row {first} (same MAC)" for copy in copies)
    head_seq = walker.seq
    newest = max(cps, key=lambda c: int(c["count"]), default=None)
    if newest is not None and int(newest["count"]) > head_seq:
        problems.append(f"truncated: checkpoint {newest['seq']} says {newest['count']} rows, but the chain has "
                        f"{head_seq} (rows after id {walker.prev_id} were removed)")
    for cp in cps:
        if cp["seq"] in walker.seen_checkpoints or int(cp["count"]) > head_seq or int(cp["count"]) == 0:
            continue
        if archive_dir is None and boundary is not None and int(cp["count"]) <= int(boundary[0]):
            continue  # before the archive boundary: proven with --archive
        problems.append(f"checkpoint {cp['seq']}: row {cp['last_id']} it ends at is missing from the chain")
    if progress:
        progress(total, total)
    return VerifyReport(ok=not problems, problems=problems, rows_checked=walker.rows)


def _archive_pairs(archive_dir: Path, walker: Walker,
                   problems: list[str]) -> Iterable[tuple[Any, dict[str, Any] | None]]:
    try:
        segments = archive.read_segments(archive_dir)
    except archive.ArchiveError as exc:
        problems.append(f"archive: {exc}")
        return
    for segment in segments:
        if int(segment.manifest["first_seq"]) != walker.seq + 1:
            problems.append(f"archive: segment {segment.name} starts at chain position "
                            f"{segment.manifest['first_seq']}, expected {walker.seq + 1} (a segment is missing)")
        for event_fields, seal in segment.records():
            yield SimpleNamespace(**event_fields), seal
