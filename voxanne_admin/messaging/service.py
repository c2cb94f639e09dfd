"""Apply Twilio SMS status callbacks; a status never moves backwards."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from voxanne_admin.messaging.models import SMS_STATUS_RANK, SmsMessage
from voxanne_admin.timeutil import utcnow


def apply_sms_status(session: Session, *, form: dict[str, str]) -> SmsMessage:
    """Upsert the message by MessageSid, moving its status forward only."""
    sid = form["MessageSid"]
    status = form.get("MessageStatus") or form.get("SmsStatus") or "queued"
    rank = SMS_STATUS_RANK.get(status, 0)
    session.execute(
        insert(SmsMessage)
        .values(message_sid=sid, status=status, status_rank=rank, from_number=form.get("From"),
                to_number=form.get("To"), error_code=form.get("ErrorCode") or None, created_at=utcnow(),
                updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["message_sid"])
    )
    row = session.exec(select(SmsMessage).where(SmsMessage.message_sid == sid).with_for_update()).one()
    if rank > row.status_rank:
        row.status, row.status_rank = status, rank
        row.error_code = form.get("ErrorCode") or row.error_code
        row.updated_at = utcnow()
        session.add(row)
    return row
