"""Finding 5, the part issue #14 owns (the MACs, seals and signed checkpoints are the audit trail's, tests in
tests/integration/test_audit_trail.py): nothing but the owner can disable, drop or replace the trigger that keeps
audit_events append-only. Each statement goes over the application's own database connection (DATABASE_URL, as
`serve` connects) in a transaction that is rolled back whatever happens."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from voxanne_admin import db

TAMPER = [
    "alter table audit_events disable trigger audit_events_no_update_delete",
    "alter table audit_events disable trigger user",
    "drop trigger audit_events_no_update_delete on audit_events",
    "create or replace function audit_events_append_only() returns trigger language plpgsql "
    "as $$ begin return old; end $$",
    "alter table audit_events owner to current_user",
]


def _refusal(statement: str) -> str | None:
    """The database's refusal of `statement` as the app's role, or None if it ran (then rolled back)."""
    with db.get_engine().connect() as conn:
        transaction = conn.begin()
        try:
            conn.execute(sa.text(statement))
            return None
        except sa.exc.DBAPIError as exc:
            return str(exc.orig)
        finally:
            transaction.rollback()


@pytest.mark.parametrize("statement", TAMPER, ids=["disable-trigger", "disable-user-triggers", "drop-trigger",
                                                  "replace-function", "take-ownership"])
def test_the_apps_role_cannot_disable_drop_or_replace_the_audit_trigger(clean_db, statement):
    refusal = _refusal(statement)
    assert refusal is not None, f"the application's database role may run: {statement}"
    assert "must be owner" in refusal or "permission denied" in refusal, refusal


def test_the_trigger_is_still_on(clean_db):
    with db.get_engine().connect() as conn:
        enabled = conn.execute(sa.text(
            "select tgenabled from pg_trigger where tgname = 'audit_events_no_update_delete'")).scalar()
    assert enabled == "O"  # fires in normal (origin) replication mode
