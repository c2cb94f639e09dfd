"""The audit trail on the real database: hash chain, tamper detection, append-only table, CLI, same transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from voxanne_admin import db
from voxanne_admin.audit import service as audit_service
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import GENESIS_HASH, Actor
from voxanne_admin.cli import app as cli_app
from voxanne_admin.errors import Conflict
from voxanne_admin.orgs import service as org_service

ADMIN = Actor(type="staff", id="1", email="admin@clinic.example", ip="203.0.113.7")


def _write_events(n: int) -> list[int]:
    ids = []
    for i in range(n):
        with db.transaction() as session:
            row = audit_service.record(session, actor=ADMIN, action="test_event", target_type="thing",
                                       target_id=i, diff={"n": {"before": i, "after": i + 1}})
            ids.append(row.id)
    return ids


def _as_superuser(sql: str, **params) -> None:
    """Change audit_events behind the app's back (the append-only trigger switched off for one statement)."""
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("alter table audit_events disable trigger audit_events_no_update_delete"))
        conn.execute(sa.text(sql), params)
        conn.execute(sa.text("alter table audit_events enable trigger audit_events_no_update_delete"))


def _count() -> int:
    with db.read_only() as session:
        return session.exec(select(sa.func.count()).select_from(AuditEvent)).one()


def _verify():
    with db.read_only() as session:
        return audit_service.verify_chain(session)


def test_audit_rows_chain_each_hash_to_the_previous(clean_db):
    _write_events(3)
    with db.read_only() as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert rows[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
        assert len({r.hash for r in rows}) == 3
        assert all(audit_service.compute_hash(r) == r.hash for r in rows)
    result = _verify()
    assert (result.ok, result.checked, result.broken_id) == (True, 3, None)


def test_audit_chain_verifies_across_batches(clean_db):
    _write_events(5)
    with db.read_only() as session:
        assert audit_service.verify_chain(session, batch=2).checked == 5


def test_audit_chain_verifies_when_empty(clean_db):
    result = _verify()
    assert result.ok and result.checked == 0


def test_audit_secrets_redacted_in_diff(clean_db):
    with db.transaction() as session:
        row = audit_service.record(session, actor=ADMIN, action="test_event",
                                   diff={"password": "hunter2-horse", "nested": {"api_token": "tok-1"}, "name": "A"})
    assert row.diff == {"password": "[redacted]", "nested": {"api_token": "[redacted]"}, "name": "A"}
    assert _verify().ok


def test_audit_altered_row_detected_with_its_id(clean_db):
    ids = _write_events(4)
    _as_superuser("update audit_events set diff = '{\"n\": \"forged\"}'::jsonb where id = :id", id=ids[1])
    result = _verify()
    assert not result.ok
    assert result.broken_id == ids[1]
    assert result.checked == 1
    assert "altered" in result.reason


def test_audit_altered_actor_detected(clean_db):
    ids = _write_events(3)
    _as_superuser("update audit_events set actor_email = 'someone.else@clinic.example' where id = :id", id=ids[2])
    assert _verify().broken_id == ids[2]


def test_audit_deleted_row_detected_at_the_next_row(clean_db):
    ids = _write_events(4)
    _as_superuser("delete from audit_events where id = :id", id=ids[1])
    result = _verify()
    assert not result.ok
    assert result.broken_id == ids[2]
    assert "removed" in result.reason


def test_audit_rehashed_forgery_detected_by_the_link_of_the_next_row(clean_db):
    ids = _write_events(3)
    with db.read_only() as session:
        row = session.get(AuditEvent, ids[1])
        row.diff = {"n": "forged"}
        forged_hash = audit_service.compute_hash(row)
    _as_superuser("update audit_events set diff = '{\"n\": \"forged\"}'::jsonb, hash = :h where id = :id",
                  h=forged_hash, id=ids[1])
    assert _verify().broken_id == ids[2]


@pytest.mark.parametrize(
    "statement",
    [
        "update audit_events set action = 'nothing_happened'",
        "delete from audit_events",
        "truncate audit_events",
    ],
)
def test_audit_table_refuses_changes_from_the_app(clean_db, statement):
    _write_events(2)
    with pytest.raises(sa.exc.DBAPIError, match="audit_events is append-only"), db.get_engine().begin() as conn:
        conn.execute(sa.text(statement))
    assert _count() == 2
    assert _verify().ok


def test_cli_audit_verify_exits_zero_when_intact(clean_db):
    _write_events(3)
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 3 events verified." in result.output


def test_cli_audit_verify_exits_one_naming_the_broken_row(clean_db):
    ids = _write_events(3)
    _as_superuser("update audit_events set target_id = 'other' where id = :id", id=ids[1])
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"Audit trail BROKEN at event id {ids[1]}" in result.stderr
    assert "1 events before it verified" in result.stderr


def test_failed_org_create_leaves_no_audit_row(clean_db):
    with db.transaction() as session:
        org_service.create(session, name="Harbor Dental", slug="harbor", country="US", timezone="America/New_York",
                           actor=ADMIN, actor_role="admin")
    before = _count()
    with pytest.raises(Conflict), db.transaction() as session:
        org_service.create(session, name="Harbor Two", slug="harbor", country="US",
                           timezone="America/New_York", actor=ADMIN, actor_role="admin")
    assert _count() == before == 1
    assert _verify().ok


def test_audit_row_rolled_back_with_the_change_it_records(clean_db):
    with pytest.raises(RuntimeError), db.transaction() as session:
        org_service.create(session, name="Camden Physio", slug="camden", country="GB",
                           timezone="Europe/London", actor=ADMIN, actor_role="admin")
        raise RuntimeError("a later step of the same unit of work failed")
    assert _count() == 0
    with db.read_only() as session:
        assert org_service.get_by_slug(session, slug="camden") is None
    # The chain carries on cleanly from the rolled-back attempt.
    _write_events(1)
    assert _verify().ok
