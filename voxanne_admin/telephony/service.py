"""Apply Twilio voice status callbacks to voice legs; a status never moves backwards."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from voxanne_admin.telephony.models import VOICE_STATUS_RANK, VoiceLeg
from voxanne_admin.timeutil import utcnow


def apply_voice_status(session: Session, *, form: dict[str, str]) -> VoiceLeg:
    """Upsert the leg by CallSid; SequenceNumber and status rank keep late callbacks from undoing later ones."""
    sid = form["CallSid"]
    status = form.get("CallStatus") or "queued"
    rank = VOICE_STATUS_RANK.get(status, 0)
    seq = int(form["SequenceNumber"]) if str(form.get("SequenceNumber", "")).isdigit() else -1
    session.execute(
        insert(VoiceLeg)
        .values(call_sid=sid, status=status, status_rank=rank, sequence=seq, direction=form.get("Direction"),
                from_number=form.get("From"), to_number=form.get("To"), forwarded_from=form.get("ForwardedFrom"),
                created_at=utcnow(), updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["call_sid"])
    )
    row = session.exec(select(VoiceLeg).where(VoiceLeg.call_sid == sid).with_for_update()).one()
    if rank > row.status_rank or (rank == row.status_rank and seq > row.sequence):
        row.status, row.status_rank, row.sequence = status, rank, max(seq, row.sequence)
        if form.get("CallDuration", "").isdigit():
            row.duration_s = int(form["CallDuration"])
        row.updated_at = utcnow()
    row.forwarded_from = row.forwarded_from or form.get("ForwardedFrom")
    session.add(row)
    return row
