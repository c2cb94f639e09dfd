"""Audit retention that keeps the proof: expired rows are archived to a signed segment with its checkpoint, then
deleted by the owner; `audit verify` still proves the live chain from the boundary, and `--archive DIR` the whole
history from genesis."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from voxanne_admin import db
from voxanne_admin.audit import archive, chain
from voxanne_admin.audit import service as audit_service
from voxanne_admin.audit.service import Actor
from voxanne_admin.cli import app as cli_app
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

ACTOR = Actor(type="staff", id="7", email="ops@clinic.example", ip="203.0.113.5")


def _event(monkeypatch, action: str, age: timedelta) -> int:
    when = utcnow() - age
    monkeypatch.setattr(audit_service, "utcnow", lambda: when)
    with db.transaction() as session:
        row_id = audit_service.record(session, actor=ACTOR, action=action, diff={"age_days": age.days}).id
    monkeypatch.undo()
    return int(row_id or 0)


def _ids(sql: str = "select id from audit_events order by id") -> list[int]:
    with db.get_engine().connect() as conn:
        return [r[0] for r in conn.execute(sa.text(sql)).all()]


def _seal_and_checkpoint() -> dict:
    with db.transaction() as session:
        chain.seal_pending(session)
    with db.read_only() as session:
        return chain.take_checkpoint(session)


def _verify(archive_dir=None) -> chain.VerifyReport:
    with db.read_only() as session:
        return chain.verify(session, archive_dir=archive_dir)


@pytest.fixture
def history(clean_db, monkeypatch):
    ids = {
        "ancient": _event(monkeypatch, "organization_created", timedelta(days=7 * 365)),
        "old_login": _event(monkeypatch, "login_success", timedelta(days=100)),
        "old_failed": _event(monkeypatch, "login_failed", timedelta(days=99)),
        "old_change": _event(monkeypatch, "agent_updated", timedelta(days=98)),
        "recent_login": _event(monkeypatch, "login_success", timedelta(days=3)),
        "recent_change": _event(monkeypatch, "flag_updated", timedelta(days=1)),
    }
    _seal_and_checkpoint()
    return ids


def _purge() -> dict:
    with db.owner_transaction() as owner:
        return archive.archive_and_purge(owner)


def test_retention_archives_then_deletes_only_expired_rows(history):
    result = _purge()
    assert result["archived"] == 4 and result["deleted"] == 3  # the 7-year-old row and two 90-day sign-ins
    kept = _ids()
    assert history["ancient"] not in kept and history["old_login"] not in kept and history["old_failed"] not in kept
    assert {history["old_change"], history["recent_login"], history["recent_change"]} <= set(kept)
    segment = get_settings().audit_archive_path / result["segment"]
    with gzip.open(segment, "rt") as fh:
        archived = [json.loads(line)["event"]["id"] for line in fh]
    assert archived == [history["ancient"], history["old_login"], history["old_failed"], history["old_change"]]
    manifest = json.loads(segment.with_name(segment.name.replace(".jsonl.gz", ".manifest.json")).read_text())
    assert manifest["checkpoint"]["count"] == 4 and manifest["checkpoint"]["last_id"] == history["old_change"]
    assert _ids("select id from audit_events where action = 'audit_archived'")  # the purge is audited


def test_live_chain_verifies_from_the_archive_boundary(history):
    _purge()
    _seal_and_checkpoint()
    report = _verify()
    assert report.ok, report.problems


def test_archive_proves_the_whole_history(history):
    _purge()
    _seal_and_checkpoint()
    directory = get_settings().audit_archive_path
    report = _verify(directory)
    assert report.ok, report.problems
    result = CliRunner().invoke(cli_app, ["audit", "verify", "--archive", str(directory)])
    assert result.exit_code == 0, result.output


def test_altered_archive_segment_is_named(history):
    result = _purge()
    _seal_and_checkpoint()
    segment = get_settings().audit_archive_path / result["segment"]
    lines = gzip.decompress(segment.read_bytes()).decode().splitlines()
    first = json.loads(lines[0])
    first["event"]["actor_email"] = "nobody@clinic.example"
    lines[0] = json.dumps(first)
    segment.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    report = _verify(segment.parent)
    assert report.problems[0] == f"archive: {result['segment']}: altered (its SHA-256 does not match the signed " \
                                 "manifest)"


def test_a_missing_segment_is_named(history, monkeypatch):
    first = _purge()
    _event(monkeypatch, "login_success", timedelta(days=95))
    _seal_and_checkpoint()
    second = _purge()
    assert second["segment"] and second["segment"] != first["segment"]
    directory = get_settings().audit_archive_path
    (directory / first["segment"]).unlink()
    (directory / first["segment"].replace(".jsonl.gz", ".manifest.json")).unlink()
    report = _verify(directory)
    assert not report.ok
    assert "a segment is missing" in report.problems[0]


def test_app_role_cannot_purge_even_with_the_retention_setting(history):
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.get_engine().begin() as conn:
        conn.execute(sa.text("set local voxanne.audit_retention = 'on'"))
        conn.execute(sa.text("delete from audit_events"))


def test_nothing_expired_writes_no_segment(clean_db, monkeypatch):
    _event(monkeypatch, "login_success", timedelta(days=1))
    _seal_and_checkpoint()
    assert _purge() == {"archived": 0, "deleted": 0, "segment": None}
    assert not get_settings().audit_archive_path.exists() or not any(get_settings().audit_archive_path.iterdir())
