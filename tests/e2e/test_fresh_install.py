"""A fresh install on the embedded defaults, as the README's run command starts it: no DATABASE_URL, an empty data
directory. `serve --build-only` goes through everything `serve` does before it listens (initdb, migrations as
the owner under the startup lock, the app role, demo data, the key and credential checks, the build) and exits.

It lives with the e2e tests because it uses their frontend build (same port, so the build stamp matches and
nothing is rebuilt under the running e2e server)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import ROOT
from tests.e2e.conftest import _server_env, _wait_for_build


def _serve_build_only(data_dir: Path) -> subprocess.CompletedProcess:
    env = _server_env(VOXANNE_DATA_DIR=str(data_dir), VOXANNE_BACKUP_DIR=str(data_dir / "backups"))
    for name in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "VOXANNE_DEMO"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "voxanne_admin.cli", "serve", "--demo", "--no-history",
                           "--build-only"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600)


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split("\n", 1)[0])
    return Path(f"/proc/{pid}").exists()


def test_fresh_embedded_install_migrates_seeds_and_stops_its_database(tmp_path):
    _wait_for_build()
    data_dir = tmp_path / "data"
    first = _serve_build_only(data_dir)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"Database: embedded PostgreSQL in {data_dir / 'pgdata'}" in first.stdout
    assert "demo organizations." in first.stdout
    assert not _postmaster_running(data_dir / "pgdata"), "the embedded PostgreSQL was left running"

    second = _serve_build_only(data_dir)  # a restart: the same data, nothing seeded twice
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "demo organizations." not in second.stdout
    assert not _postmaster_running(data_dir / "pgdata")

    # What the first start left: the least-privileged app role exists and owns nothing, and the demo is there.
    from voxanne_admin import db

    server = db.start_embedded(data_dir)
    try:
        engine = sa.create_engine(server.get_uri(driver="psycopg"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from pg_roles where rolname = 'voxanne_app'")).scalar() == 1
            assert conn.execute(sa.text("select count(*) from organizations")).scalar() > 0
            owned = conn.execute(sa.text("select count(*) from pg_tables where tableowner = 'voxanne_app'")).scalar()
            assert owned == 0
        engine.dispose()
    finally:
        db.stop_embedded(data_dir)
