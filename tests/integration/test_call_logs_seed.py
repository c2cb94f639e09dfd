"""`voxanne-admin seed-calls`: N realistic rows, no PHI left in what it stores."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from voxanne_admin import db
from voxanne_admin.cli import app
from voxanne_admin.privacy.redaction import find


def test_seed_calls_writes_n_rows_without_phi(clean_db):
    from voxanne_admin import demo

    with db.transaction() as session:
        demo.seed(session)
    result = CliRunner().invoke(app, ["seed-calls", "--count", "2500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Added 2500 calls." in result.output
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.text("select count(*) from calls")).scalar() == 2500
        rows = conn.execute(sa.text(
            "select c.transcript, c.summary, c.messages::text, o.country from calls c join organizations o "
            "on o.id = c.org_id where c.transcript is not null")).all()
        assert len(rows) > 1000
        leaks = [(text, spans) for t, s, m, country in rows for text in (t, s, m)
                 if (spans := find(text, region=country))]
        assert leaks == []
        placeholders = conn.execute(sa.text(
            "select count(*) from calls where transcript like '%[DOB]%' or transcript like '%[PHONE]%'")).scalar()
        assert placeholders > 100  # PHI was there and was redacted, not absent
        facts = conn.execute(sa.text(
            "select count(distinct org_id), count(distinct direction), count(distinct ended_reason), "
            "count(*) filter (where is_test), min(listed_at) < now() - interval '60 days', "
            "count(*) filter (where agent_id is null) from calls")).one()
        assert facts[0] >= 2 and facts[1] == 2 and facts[2] >= 8 and 0 < facts[3] < 250 and facts[4]
        assert facts[5] == 0
        booked = conn.execute(sa.text(
            "select count(*) from appointments a join calls c on c.vapi_call_id = a.vapi_call_id")).scalar()
        assert booked > 0
        assert conn.execute(sa.text("select count(*) from audit_events where action = 'calls_seeded'")).scalar() == 1


def test_seed_calls_unknown_org_is_a_clear_error(clean_db):
    result = CliRunner().invoke(app, ["seed-calls", "--count", "5", "--org", "nope"])
    assert result.exit_code == 1
    assert "No organization with slug 'nope'" in result.output
