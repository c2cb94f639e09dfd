"""Disaster recovery on an external PostgreSQL 15 whose role has no REPLICATION: logical backups (pg_dump -Fc),
their verification and a drill into a scratch cluster. Uses the PostgreSQL 15 service (DR_PG15_URL, default
postgresql://postgres@127.0.0.1:5432/test); CI provides it, and there this test never skips."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import IN_CI
from tests.integration.dr_helpers import app_database, scalar, seed_small
from voxanne_admin import migrate
from voxanne_admin.dr import archive, flows

PG15 = os.environ.get("DR_PG15_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def logical():
    """A database on the PostgreSQL 15 service owned by a role without REPLICATION, migrated, with 2,000 calls."""
    try:
        scalar(PG15, "select 1")
    except sa.exc.OperationalError:
        if IN_CI:
            raise
        pytest.skip("the PostgreSQL 15 service at 127.0.0.1:5432 is not running")
    name = f"voxanne_dr_{secrets.token_hex(3)}"
    scalar(PG15, f"create role {name} login nosuperuser noreplication")
    scalar(PG15, f"create database {name} owner {name}")
    url = sa.engine.make_url(PG15).set(username=name, database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    root = Path(tempfile.mkdtemp(prefix="voxanne-dr-logical-"))  # not under pytest's 0700 basetemp
    try:
        with app_database(url, root / "backups"):
            seed_small()
            yield {"url": url, "source": archive.resolve_source(url)}
    finally:
        scalar(PG15, f"drop database if exists {name} with (force)")
        scalar(PG15, f"drop role if exists {name}")
        shutil.rmtree(root, ignore_errors=True)


def test_role_without_replication_gets_logical_backups_that_a_drill_restores(logical):
    assert logical["source"].mode == "logical"
    taken = flows.run_backup(source=logical["source"])
    assert taken.kind == "logical" and taken.status == "succeeded" and taken.verified_ok
    assert taken.row_counts["calls"] == 2000 and Path(taken.path).suffix == ".dump"
    row = flows.run_verify(source=logical["source"])
    names = {c["name"]: c["status"] for c in row.verification_details["checks"]}
    assert names["backup integrity"] == "pass" and names["WAL continuity"] == "skipped"
    assert row.status in ("success", "warning"), row.error_details
    result = CliRunner().invoke(_cli(), ["dr", "drill"])
    assert result.exit_code == 0, result.output
    assert "RTO" in result.stdout
    from voxanne_admin import db
    from voxanne_admin.dr.models import DrDrill

    with db.read_only() as session:
        drill = session.execute(sa.select(DrDrill).order_by(DrDrill.id.desc())).scalars().first()
    assert drill.status == "succeeded" and drill.rto_s > 0 and drill.rpo_s is not None
    assert drill.details["row_counts"]["calls"] == {"restored": 2000, "source": 2000}


def test_verify_names_the_dump_file_when_it_was_corrupted(logical):
    taken = flows.run_backup(source=logical["source"])
    path = Path(taken.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(_cli(), ["dr", "verify"])
    assert result.exit_code == 1
    assert path.name in result.stderr and "checksum mismatch" in result.stderr


def _cli():
    from voxanne_admin.cli import app

    return app
