"""Migration 0010 on a database with a pre-0010 trail: the old plain SHA-256 chain is checked, every row gets its
MAC under the new key, the result is itself an audit event, and the new chain then seals and verifies."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import Session

from tests.conftest import ROOT, create_database, drop_database
from voxanne_admin import migrate
from voxanne_admin.audit import chain

_spec = importlib.util.spec_from_file_location(
    "m0010", ROOT / "migrations" / "versions" / "20261201_0010_audit_chain.py")
m0010 = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(m0010)  # type: ignore[union-attr]


def _legacy_rows(engine, n: int, *, tamper: int | None = None) -> None:
    prev = "0" * 64
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for i in range(n):
            row = {"id": i + 1, "occurred_at": start + timedelta(minutes=i), "actor_type": "system",
                   "actor_id": "old", "actor_email": None, "action": "legacy_event", "target_type": None,
                   "target_id": str(i), "org_id": None, "diff": None, "ip": None, "user_agent": None,
                   "request_id": None}
            digest = m0010._legacy_hash(row, prev)
            conn.execute(sa.text(
                "insert into audit_events (id, occurred_at, actor_type, actor_id, action, target_id, prev_hash, hash) "
                "values (:id, :occurred_at, :actor_type, :actor_id, :action, :target_id, :p, :h)"),
                {**row, "p": prev, "h": digest})
            prev = digest
        conn.execute(sa.text("select setval('audit_events_id_seq', :n)"), {"n": n})
        if tamper:
            conn.execute(sa.text("alter table audit_events disable trigger audit_events_no_update_delete"))
            conn.execute(sa.text("update audit_events set target_id = 'forged' where id = :i"), {"i": tamper})
            conn.execute(sa.text("alter table audit_events enable trigger audit_events_no_update_delete"))


@pytest.mark.parametrize("tamper", [None, 3])
def test_legacy_trail_is_checked_macd_and_sealed(pg_server_url, database_url, tamper):
    url = create_database(pg_server_url, "voxanne_audit_mig")
    engine = sa.create_engine(url)
    try:
        command.upgrade(migrate.alembic_config(url), "0009")
        _legacy_rows(engine, 5, tamper=tamper)
        command.upgrade(migrate.alembic_config(url), "head")
        with engine.connect() as conn:
            note = conn.execute(sa.text(
                "select diff from audit_events where action = 'audit_chain_migrated'")).scalar_one()
            assert conn.execute(sa.text("select count(*) from audit_events where mac is null")).scalar() == 0
        assert note == {"rows": 5, "legacy_chain_intact": tamper is None, "legacy_first_broken_id": tamper}
        with Session(engine) as session:
            assert chain.seal_pending(session) == 6
            session.commit()
        with Session(engine) as session:
            report = chain.verify(session)
        # verify reads this test's checkpoint file too: only row problems matter here
        assert [p for p in report.problems if p.startswith("row")] == []
        assert report.rows_checked == 6
    finally:
        engine.dispose()
        drop_database(pg_server_url, url)
