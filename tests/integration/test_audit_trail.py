"""The audit trail on the real database: row MACs, the sealer's chain, signed checkpoints, tamper detection by a
database superuser (each problem named separately), the app role's least privilege, the CLI, same transaction."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from voxanne_admin import db
from voxanne_admin.audit import chain, checkpoints, keys
from voxanne_admin.audit import service as audit_service
from voxanne_admin.audit.models import AuditEvent, AuditSeal
from voxanne_admin.audit.service import Actor
from voxanne_admin.cli import app as cli_app
from voxanne_admin.errors import Conflict
from voxanne_admin.orgs import service as org_service
from voxanne_admin.vault import KeyMissingError

ADMIN = Actor(type="staff", id="1", email="admin@clinic.example", ip="203.0.113.7")


def _write_events(n: int) -> list[int]:
    ids = []
    for i in range(n):
        with db.transaction() as session:
            row = audit_service.record(session, actor=ADMIN, action="test_event", target_type="thing",
                                       target_id=i, diff={"n": {"before": i, "after": i + 1}})
            ids.append(row.id)
    return ids


def _seal() -> int:
    with db.transaction() as session:
        return chain.seal_pending(session)


def _checkpoint() -> dict:
    with db.read_only() as session:
        return chain.take_checkpoint(session)


def _as_superuser(*statements: str, **params) -> None:
    """Change the audit tables behind the app's back, as the database superuser: triggers off, then on."""
    with db.get_owner_engine().begin() as conn:
        conn.execute(sa.text("alter table audit_events disable trigger audit_events_no_update_delete"))
        conn.execute(sa.text("alter table audit_seals disable trigger audit_seals_no_update_delete"))
        for sql in statements:
            conn.execute(sa.text(sql), params)
        conn.execute(sa.text("alter table audit_events enable trigger audit_events_no_update_delete"))
        conn.execute(sa.text("alter table audit_seals enable trigger audit_seals_no_update_delete"))


def _count() -> int:
    with db.read_only() as session:
        return session.exec(select(sa.func.count()).select_from(AuditEvent)).one()


def _verify() -> chain.VerifyReport:
    with db.read_only() as session:
        return chain.verify(session)


def test_rows_carry_a_mac_and_the_sealer_links_them_in_id_order(clean_db):
    ids = _write_events(3)
    with db.read_only() as session:
        assert chain.sealed_through(session) == 0
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
        keyring = keys.mac_keys()
        assert all(r.key_id == keyring.current_id and chain.mac_ok(r, keyring) for r in rows)
    assert _seal() == 3
    assert _seal() == 0  # nothing twice
    with db.read_only() as session:
        seals = session.exec(select(AuditSeal).order_by(AuditSeal.seq)).all()
        assert [(s.seq, s.event_id, s.prev_id) for s in seals] == [(1, ids[0], 0), (2, ids[1], ids[0]),
                                                                  (3, ids[2], ids[1])]
        status = chain.chain_status(session)
    assert (status.sealed_through, status.unsealed, status.sealer_lag_s) == (ids[2], 0, 0.0)
    report = _verify()
    assert (report.ok, report.problems, report.rows_checked) == (True, [], 3)


def test_unsealed_rows_verify_by_their_mac(clean_db):
    _write_events(2)
    with db.read_only() as session:
        status = chain.chain_status(session)
    assert status.unsealed == 2 and status.sealer_lag_s is not None and status.sealer_lag_s >= 0
    assert _verify().ok


def test_sealer_waits_for_an_in_flight_lower_id_and_skips_rolled_back_gaps(clean_db):
    slow = db.get_engine().connect()
    trans = slow.begin()
    with Session(bind=slow) as slow_session:
        held = audit_service.record(slow_session, actor=ADMIN, action="slow_event")  # lower id, not committed
        later = _write_events(1)[0]
        assert later > held.id
        with db.transaction() as session:
            assert chain.seal_pending(session, wait_s=0.2) == 0  # the lower id may still commit: wait
        with pytest.raises(RuntimeError), db.transaction() as session:  # a gap: this id never commits
            audit_service.record(session, actor=ADMIN, action="rolled_back")
            raise RuntimeError("rolled back")
        trans.commit()
    slow.close()
    after_gap = _write_events(1)[0]
    assert _seal() == 3
    with db.read_only() as session:
        order = session.exec(select(AuditSeal.event_id).order_by(AuditSeal.seq)).all()
    assert order == [held.id, later, after_gap]
    assert _verify().ok


def test_one_sealer_at_a_time_across_connections(clean_db):
    _write_events(20)
    results: list[int] = []

    def seal() -> None:
        with db.transaction() as session:
            results.append(chain.seal_pending(session))

    threads = [threading.Thread(target=seal) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.append(_seal())
    assert sum(results) == 20
    with db.read_only() as session:
        seqs = session.exec(select(AuditSeal.seq).order_by(AuditSeal.seq)).all()
    assert seqs == list(range(1, 21))


def test_sealer_tick_flushes_seals_and_checkpoints(clean_db):
    from voxanne_admin.audit import sealer

    ids = _write_events(3)
    sealed, checkpoint = sealer.tick_once()
    assert sealed == 3
    assert checkpoint is not None and (checkpoint["count"], checkpoint["last_id"]) == (3, ids[-1])
    assert sealer.tick_once() == (0, None)  # nothing new, checkpoint not due
    assert _verify().ok


def test_checkpoints_are_signed_and_numbered(clean_db):
    _write_events(2)
    _seal()
    first = _checkpoint()
    _write_events(1)
    _seal()
    second = _checkpoint()
    assert (first["seq"], first["count"], second["seq"], second["count"]) == (1, 2, 2, 3)
    assert checkpoints.signature_ok(second)
    assert [c["seq"] for c in chain.read_checkpoints()] == [1, 2]
    assert [c["seq"] for c in chain.read_checkpoints(after_seq=1)] == [2]
    with db.read_only() as session:
        assert chain.chain_status(session).last_checkpoint == second
    assert _verify().ok


# --- the tamper test: as the database superuser, each problem named separately ------------------------

def test_superuser_rewriting_a_row_is_named(clean_db):
    ids = _write_events(4)
    _seal()
    _checkpoint()
    _as_superuser("update audit_events set diff = '{\"n\": \"forged\"}'::jsonb where id = :id", id=ids[1])
    report = _verify()
    assert not report.ok
    assert report.problems == [f"row {ids[1]}: altered (its content does not match its MAC)"]


def test_superuser_rewriting_a_row_before_it_is_sealed_is_named(clean_db):
    ids = _write_events(2)
    _as_superuser("update audit_events set actor_email = 'someone.else@clinic.example' where id = :id", id=ids[0])
    assert _verify().problems == [f"row {ids[0]}: altered (its content does not match its MAC)"]


def test_superuser_deleting_a_middle_row_and_its_seal_is_named(clean_db):
    ids = _write_events(4)
    _seal()
    _as_superuser("delete from audit_events where id = :id", "delete from audit_seals where event_id = :id", id=ids[1])
    report = _verify()
    assert report.problems[0] == f"row {ids[1]}: removed (row {ids[2]} links to it)"


def test_superuser_deleting_only_the_event_is_named(clean_db):
    ids = _write_events(3)
    _seal()
    _as_superuser("delete from audit_events where id = :id", id=ids[1])
    assert _verify().problems[0] == f"row {ids[1]}: removed (its seal remains)"


def test_superuser_deleting_the_newest_rows_is_a_truncated_tail(clean_db):
    ids = _write_events(5)
    _seal()
    cp = _checkpoint()
    _as_superuser("delete from audit_events where id > :id", "delete from audit_seals where event_id > :id",
                  id=ids[2])
    report = _verify()
    assert not report.ok
    assert report.problems == [f"truncated: checkpoint {cp['seq']} says 5 rows, but the chain has 3 "
                               f"(rows after id {ids[2]} were removed)"]
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"truncated: checkpoint {cp['seq']} says 5 rows" in result.stderr


def test_superuser_recomputing_plain_hashes_is_still_caught(clean_db):
    """Rewrite a row and recompute a plain SHA-256 in place of its MAC (and of its link): no key, no forgery."""
    ids = _write_events(3)
    _seal()
    with db.read_only() as session:
        row = session.get(AuditEvent, ids[1])
        session.expunge(row)
        row.diff = {"n": "forged"}
        plain = hashlib.sha256(audit_service.canonical(row)).hexdigest()
        seal = session.get(AuditSeal, ids[1])
        plain_link = hashlib.sha256(f"{seal.seq}|{ids[1]}|{plain}".encode()).hexdigest()
    _as_superuser("update audit_events set diff = '{\"n\": \"forged\"}'::jsonb, mac = :m where id = :id",
                  "update audit_seals set link = :l where event_id = :id", m=plain, l=plain_link, id=ids[1])
    report = _verify()
    assert report.problems[0] == f"row {ids[1]}: altered (its content does not match its MAC)"
    assert f"row {ids[1]}: its chain link does not verify (row rewritten, removed or reordered)" in report.problems


def test_superuser_reordering_rows_is_named(clean_db):
    ids = _write_events(3)
    _seal()
    # Swap the chain positions of the first two rows (their seals' prev ids and seqs exchanged).
    _as_superuser("update audit_seals set seq = seq + 100 where event_id in (:a, :b)",
                  "update audit_seals set seq = 2, prev_id = :b where event_id = :a",
                  "update audit_seals set seq = 1, prev_id = 0 where event_id = :b", a=ids[0], b=ids[1])
    problems = _verify().problems
    assert problems and problems[0] == f"row {ids[0]}: reordered (it links to row {ids[1]}, the row before it is 0)"


def test_superuser_copying_a_row_is_named(clean_db):
    ids = _write_events(2)
    _as_superuser("insert into audit_events (occurred_at, actor_type, actor_id, actor_email, action, target_type, "
                  "target_id, org_id, diff, ip, user_agent, request_id, key_id, mac) select occurred_at, actor_type, "
                  "actor_id, actor_email, action, target_type, target_id, org_id, diff, ip, user_agent, request_id, "
                  "key_id, mac from audit_events where id = :id", id=ids[0])
    _seal()
    copy = max(_ids_now())
    assert _verify().problems == [f"row {copy}: a copy of row {ids[0]} (same MAC)"]


def _ids_now() -> list[int]:
    with db.read_only() as session:
        return list(session.exec(select(AuditEvent.id)).all())


def test_edited_checkpoint_fails_its_signature(clean_db):
    _write_events(2)
    _seal()
    _checkpoint()
    path = checkpoints.path()
    record = json.loads(path.read_text())
    record["count"] = 1
    path.write_text(json.dumps(record) + "\n")
    report = _verify()
    assert report.problems[0] == "checkpoint 1: signature does not verify (edited, or signed by a key that is " \
                                 "not configured)"


def test_unreadable_checkpoint_file_fails_loudly(clean_db):
    _write_events(1)
    _seal()
    _checkpoint()
    checkpoints.path().write_text("{not json\n")
    report = _verify()
    assert not report.ok and "line 1 is not valid JSON" in report.problems[0]


# --- least privilege ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "update audit_events set action = 'nothing_happened'",
    "delete from audit_events",
    "truncate audit_events",
    "update audit_seals set link = 'x'",
    "delete from audit_seals",
])
def test_app_role_may_only_insert_and_select_audit_tables(clean_db, statement):
    _write_events(2)
    _seal()
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), db.get_engine().begin() as conn:
        conn.execute(sa.text(statement))
    assert _count() == 2
    assert _verify().ok


def test_app_role_is_neither_owner_nor_superuser(clean_db):
    with db.get_engine().connect() as conn:
        me, superuser = conn.execute(sa.text(
            "select current_user, rolsuper from pg_roles where rolname = current_user")).one()
        owner = conn.execute(sa.text(
            "select pg_get_userbyid(relowner) from pg_class where relname = 'audit_events'")).scalar()
    assert me == db.APP_ROLE and not superuser and owner != me


def test_owner_is_refused_by_the_trigger_outside_retention(clean_db):
    _write_events(1)
    with pytest.raises(sa.exc.DBAPIError, match="audit_events is append-only"), \
            db.get_owner_engine().begin() as conn:
        conn.execute(sa.text("delete from audit_events"))


def test_startup_refuses_when_rows_exist_but_the_key_is_missing(clean_db, monkeypatch):
    _write_events(1)
    key_path = keys.vault.secrets_dir() / keys.MAC_FILE
    saved = key_path.read_text()
    key_path.unlink()
    keys.mac_keys.cache_clear()
    try:
        with db.read_only() as session, pytest.raises(KeyMissingError, match="is missing, but data protected"):
            keys.check_startup(session)
        assert not key_path.exists()  # never silently re-created for old rows
    finally:
        key_path.write_text(saved)
        key_path.chmod(0o600)
        keys.mac_keys.cache_clear()


def test_rotated_keys_keep_old_rows_verifying(clean_db):
    old = _write_events(2)
    _seal()
    _checkpoint()
    mac_id, signing_id = keys.rotate()
    try:
        new = _write_events(1)
        _seal()
        cp = _checkpoint()
        with db.read_only() as session:
            assert session.get(AuditEvent, old[0]).key_id != mac_id
            assert session.get(AuditEvent, new[0]).key_id == mac_id
        assert cp["key_id"] == signing_id
        assert _verify().ok
    finally:
        keys.mac_keys.cache_clear()
        keys.signing_keys.cache_clear()


def test_signing_keys_from_the_environment_sign_verify_and_are_not_rotated_into_a_file(clean_db, monkeypatch):
    """AUDIT_SIGNING_KEY (how replicas share the key): the first key signs, every listed key verifies, a malformed
    list is refused by name, and `rotate` leaves it to its owner instead of writing a key file."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from voxanne_admin import vault
    from voxanne_admin.settings import get_settings

    def raw_hex() -> tuple[str, str]:
        private = Ed25519PrivateKey.generate()
        return (private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex(),
                keys.public_id(private.public_key()))

    (older, older_id), (newer, newer_id) = raw_hex(), raw_hex()
    file = vault.secrets_dir() / keys.SIGNING_FILE
    before = file.read_text() if file.exists() else None
    try:
        monkeypatch.setenv("AUDIT_SIGNING_KEY", older)
        get_settings.cache_clear()
        keys.signing_keys.cache_clear()
        _write_events(2)
        _seal()
        assert _checkpoint()["key_id"] == older_id
        monkeypatch.setenv("AUDIT_SIGNING_KEY", f"{newer}, {older}")
        get_settings.cache_clear()
        keys.signing_keys.cache_clear()
        _write_events(1)
        _seal()
        assert _checkpoint()["key_id"] == newer_id
        assert _verify().ok  # the older checkpoint still verifies under the listed older key
        mac_id, signing_id = keys.rotate()
        assert signing_id == "" and keys.signing_keys().current_id == newer_id
        assert (file.read_text() if file.exists() else None) == before
        monkeypatch.setenv("AUDIT_SIGNING_KEY", "not-hex")
        get_settings.cache_clear()
        with pytest.raises(KeyMissingError, match="AUDIT_SIGNING_KEY holds a malformed key"):
            keys.load_signing_keys()
    finally:
        monkeypatch.delenv("AUDIT_SIGNING_KEY", raising=False)
        get_settings.cache_clear()
        keys.mac_keys.cache_clear()
        keys.signing_keys.cache_clear()


# --- CLI and transactions -------------------------------------------------------------------------------------

def test_cli_audit_verify_exits_zero_when_intact(clean_db):
    _write_events(3)
    result = CliRunner().invoke(cli_app, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "Checkpoint 1: 3 events" in result.output
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 3 events verified." in result.output


def test_cli_audit_verify_exits_one_naming_the_broken_row(clean_db):
    ids = _write_events(3)
    _as_superuser("update audit_events set target_id = 'other' where id = :id", id=ids[1])
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"Audit trail BROKEN: row {ids[1]}: altered" in result.stderr


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
    _write_events(1)
    _seal()
    assert _verify().ok


def test_audit_secrets_redacted_in_diff(clean_db):
    with db.transaction() as session:
        row = audit_service.record(session, actor=ADMIN, action="test_event",
                                   diff={"password": "hunter2-horse", "nested": {"api_token": "tok-1"}, "name": "A"})
    assert row.diff == {"password": "[redacted]", "nested": {"api_token": "[redacted]"}, "name": "A"}
    assert _verify().ok
