"""Disaster recovery on a physical primary (the embedded default's path): WAL streamed by pg_receivewal, base
backups checked by pg_verifybackup, verification, drills, PITR and the bad inputs. One small primary cluster
(its own directory and port) serves the whole module."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.integration.dr_helpers import app_database, scalar, seed_small
from voxanne_admin import db, migrate
from voxanne_admin.audit.service import Actor
from voxanne_admin.dr import archive, flows, pgtools
from voxanne_admin.dr.models import BackupVerificationLog, DrBackup, DrDrill
from voxanne_admin.errors import Conflict, DomainError, InvalidInput

ADMIN = Actor(type="staff", id="1", email="admin@example.com")


@pytest.fixture(scope="module")
def primary():
    """A migrated primary with 2,000 calls, streaming WAL into its backup dir, one base backup.

    Not under pytest's tmp_path: every new pytest session (any on this machine, as the same user) resets
    /tmp/pytest-of-<user> to 0700, which would lock the PostgreSQL user out of its files."""
    root = Path(tempfile.mkdtemp(prefix="voxanne-dr-test-"))
    cluster = pgtools.Cluster(root / "primary", pgtools.free_port())
    cluster.init()
    cluster.start()
    scalar(cluster.url, "create database voxanne")
    url = cluster.url.rsplit("/", 1)[0] + "/voxanne"
    migrate.upgrade(url)
    with app_database(url, root / "backups"):
        seed_small()
        source = archive.resolve_source(url)
        archive.prepare()
        receiver = archive.Receiver(source, lock_url=url)
        receiver.start()
        try:
            flows.run_backup(trigger="schedule", source=source)
            yield {"cluster": cluster, "url": url, "source": source, "root": root}
        finally:
            receiver.stop()
    cluster.remove()
    shutil.rmtree(root, ignore_errors=True)


def _rows(model, **where):
    with db.read_only() as session:
        query = sa.select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.execute(query.order_by(model.id)).scalars().all()


def _audit_actions() -> list[str]:
    with db.get_engine().connect() as conn:
        return list(conn.execute(sa.text("select action from audit_events order by id")).scalars())


def test_backup_is_verified_and_recorded_when_taken(primary):
    taken = flows.run_backup(actor=ADMIN, actor_role="admin", source=primary["source"])
    assert taken.status == "succeeded" and taken.kind == "base" and taken.verified_ok is True
    assert Path(taken.path, "backup_manifest").exists() and taken.size_bytes > 1_000_000
    assert taken.start_wal and taken.requested_by == "admin@example.com"
    assert "dr_backup_started" in _audit_actions()


def test_verification_passes_all_checks_on_a_healthy_primary(primary):
    row = flows.run_verify(actor=ADMIN, actor_role="admin", source=primary["source"])
    names = {c["name"]: c["status"] for c in row.verification_details["checks"]}
    assert row.status == "success", row.error_details
    for name in ("connectivity", "critical tables", "row counts", "functions and triggers", "protections",
                 "database size", "backup age", "WAL archive age", "backup integrity", "WAL continuity"):
        assert names[name] == "pass", (name, row.verification_details)
    # The embedded wheel has no amcheck extension: the check says so instead of passing.
    assert names["pg_amcheck"] in ("pass", "skipped")
    assert row.checks_failed == 0 and row.checks_passed >= 10 and row.backup_id.startswith("base-")
    assert row.verification_details["row_counts"]["calls"] == 2000


def test_verify_names_the_corrupted_file_when_a_backup_file_changed(primary):
    taken = flows.run_backup(source=primary["source"])
    relpath = scalar(primary["url"], "select pg_relation_filepath('calls')")
    victim = Path(taken.path) / relpath
    original = victim.read_bytes()
    victim.write_bytes(b"\x00garbage" + original[8:])
    try:
        result = CliRunner().invoke(_cli(), ["dr", "verify"])
        assert result.exit_code == 1
        assert relpath in result.stderr and "checksum mismatch" in result.stderr
        row = _rows(BackupVerificationLog)[-1]
        assert row.status == "failure" and relpath in row.error_details["backup integrity"]
    finally:
        victim.write_bytes(original)


@pytest.fixture
def slack(monkeypatch):
    """A local stand-in for Slack's incoming webhook; yields the texts posted to it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from voxanne_admin.settings import get_settings

    received: list[str] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    get_settings.cache_clear()
    yield received
    server.shutdown()
    monkeypatch.delenv("SLACK_WEBHOOK_URL")
    get_settings.cache_clear()


def test_verify_names_the_gap_when_a_wal_segment_is_missing(primary, slack):
    for _ in range(3):
        scalar(primary["url"], "select pg_switch_wal()")
        scalar(primary["url"], "select txid_current()")
    archive.catch_up(primary["source"])
    files = [f for f in archive.archive_files(16 * 2**20) if not f[3]]
    missing = files[-2][2]
    stash = primary["root"] / missing
    shutil.move(archive.wal_dir() / missing, stash)
    try:
        row = flows.run_verify(source=primary["source"])
        assert row.status == "failure"
        assert missing in row.error_details["WAL continuity"]
        assert "gap in the WAL archive" in row.error_details["WAL continuity"]
        assert any("FAILURE" in text and missing in text for text in slack)  # the Slack alert names it too
    finally:
        shutil.move(stash, archive.wal_dir() / missing)


def test_drill_measures_rto_and_rpo_and_removes_the_scratch_cluster(primary):
    drill = flows.run_drill(actor=ADMIN, actor_role="admin", source=primary["source"])
    assert drill.status == "succeeded", drill.error
    assert drill.rto_s is not None and drill.rto_s > 0
    assert drill.rpo_s == 0.0  # the drill's own audit event, committed before the restore, was recovered
    assert drill.details["row_counts"]["audit_events_at_target"]["restored"] == \
        drill.details["row_counts"]["audit_events_at_target"]["source"]
    assert drill.details["row_counts"]["calls"]["restored"] == 2000
    assert all(c["status"] == "pass" for c in drill.details["checks"])
    assert not (archive.backup_dir() / "scratch" / f"drill-{drill.id}").exists()
    assert "dr_drill_started" in _audit_actions()


def test_pitr_restore_excludes_a_row_written_after_the_target(primary):
    url = primary["url"]
    scalar(url, "create table if not exists pitr_probe (name text, at timestamptz default now())")
    scalar(url, "insert into pitr_probe (name) values ('before')")
    time.sleep(1.2)
    target = scalar(url, "select now()")
    time.sleep(1.2)
    scalar(url, "insert into pitr_probe (name) values ('after')")
    dest = primary["root"] / "restored"
    result = CliRunner().invoke(_cli(), ["dr", "restore", "--to", str(dest), "--target-time", target.isoformat()])
    assert result.exit_code == 0, result.output
    assert "RTO" in result.stdout
    cluster = pgtools.Cluster(dest, pgtools.free_port())
    cluster.start()
    try:
        restored = cluster.url.rsplit("/", 1)[0] + "/voxanne"
        names = scalar(restored, "select string_agg(name, ',' order by at) from pitr_probe")
        assert names == "before"
        assert scalar(restored, "select count(*) from calls") == 2000
    finally:
        cluster.remove()
    assert _rows(DrDrill, kind="restore")[-1].status == "succeeded"


def test_drill_refuses_a_target_outside_the_recoverable_window(primary):
    with pytest.raises(InvalidInput, match="outside the recoverable window"):
        flows.run_drill(target_time=flows.parse_target("2001-01-01T00:00:00Z"), source=primary["source"])
    result = CliRunner().invoke(_cli(), ["dr", "drill", "--target-time", "2001-01-01T00:00:00Z"])
    assert result.exit_code == 1 and "recoverable window" in result.stderr


def test_drill_fails_with_the_reason_and_no_files_when_its_port_is_busy(primary):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(DomainError, match=f"Port {port} is busy"):
            flows.run_drill(port=port, source=primary["source"])
    failed = _rows(DrDrill)[-1]
    assert failed.status == "failed" and "busy" in failed.error
    assert not (archive.backup_dir() / "scratch" / f"drill-{failed.id}").exists()


def test_only_one_drill_runs_at_a_time(primary):
    with db.get_engine().connect() as conn:
        conn.execute(sa.text("select pg_advisory_lock(:k)"), {"k": archive.DRILL_LOCK})
        try:
            with pytest.raises(Conflict, match="already running"):
                flows.run_drill(source=primary["source"])
        finally:
            conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": archive.DRILL_LOCK})


def test_backup_fails_with_the_reason_when_the_backup_dir_is_not_writable(primary, monkeypatch):
    from voxanne_admin.settings import get_settings

    locked = primary["root"] / "readonly"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.setenv("VOXANNE_BACKUP_DIR", str(locked))
    get_settings.cache_clear()
    try:
        with pytest.raises(DomainError, match="not writable"):
            flows.run_backup(source=primary["source"])
        assert _rows(DrBackup)[-1].status == "failed" and "not writable" in _rows(DrBackup)[-1].error
        row = flows.run_verify(source=primary["source"])
        assert row.status == "failure" and "not writable" in row.error_details["backup directory"]
        monkeypatch.setenv("VOXANNE_BACKUP_DIR", "/proc/voxanne-missing/backups")
        get_settings.cache_clear()
        result = CliRunner().invoke(_cli(), ["dr", "backup"])
        assert result.exit_code == 1 and "cannot be created" in result.stderr
    finally:
        monkeypatch.setenv("VOXANNE_BACKUP_DIR", str(primary["root"] / "backups"))
        get_settings.cache_clear()


def test_verification_rows_are_kept_90_days(primary):
    from datetime import timedelta

    from voxanne_admin.timeutil import utcnow

    with db.transaction() as session:
        session.add(BackupVerificationLog(status="success", verified_at=utcnow() - timedelta(days=91)))
        session.add(BackupVerificationLog(status="success", verified_at=utcnow() - timedelta(days=89)))
    flows.apply_retention()
    ages = [(utcnow() - r.verified_at).days for r in _rows(BackupVerificationLog)]
    assert 89 in ages and not any(age > 90 for age in ages)


def _cli():
    from voxanne_admin.cli import app

    return app


def test_operator_cannot_back_up_verify_or_drill(primary):
    from voxanne_admin.errors import PermissionDenied

    before = len(_rows(DrBackup))
    for action in (flows.run_backup, flows.run_verify, flows.run_drill):
        with pytest.raises(PermissionDenied):
            action(actor=ADMIN, actor_role="operator", source=primary["source"])
    assert len(_rows(DrBackup)) == before


def test_target_time_that_is_not_iso_is_refused_with_an_example():
    with pytest.raises(InvalidInput, match="2026-12-01T09:30:00Z"):
        flows.parse_target("yesterday at noon")
    assert flows.parse_target("2026-12-01T09:30:00").tzinfo is not None
