"""A real two-replica fleet for the failover tests: two `voxanne-admin serve` processes (the README's run command,
each with its own PORT and VOXANNE_DATA_DIR) on one PostgreSQL database and one Redis database, behind HAProxy
configured from `deploy/haproxy.cfg`.

- PostgreSQL: the machine's server (SCALE_PG_URL, default postgresql://postgres@127.0.0.1:5432/postgres); a fresh
  database per test session, dropped afterwards.
- Redis: SCALE_REDIS_URL (default redis://127.0.0.1:6379/13): a dedicated database number, flushed before and after
  (only that one).
- HAProxy: Debian's package (`./voxanne test` installs it when missing) on PROXY_PORT; the replicas' public URL
  is the browser tests' http://localhost:VOXANNE_E2E_PORT, so they share its production build.

One fleet for the package (both modules) keeps CI time small. Off CI, a missing PostgreSQL, Redis or HAProxy
skips; with CI=true it fails (the CI job has all three).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import IN_CI, ROOT, XDIST_INDEX, create_database, drop_database
from tests.e2e.conftest import E2E_PORT, PUBLIC_URL
from voxanne_admin.settings import get_settings

PG_URL = os.environ.get("SCALE_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SCALE_REDIS_URL", "redis://127.0.0.1:6379/13")
# The replicas' public URL is the browser tests' (PUBLIC_URL, http://localhost:E2E_PORT): they share its frontend
# build. The proxy listens on a port of its own, beside the e2e servers of a parallel run; the fleet's Chromium
# reaches PUBLIC_URL there (tests/chromium.py).
PROXY_PORT = E2E_PORT + 20 + (XDIST_INDEX or 0)
ARTIFACTS = ROOT / "test-artifacts" / "scale"
WEBHOOK_SECRET = "fleet-" + secrets.token_hex(16)
TWILIO_TOKEN = "fleet-" + secrets.token_hex(16)
READY_TIMEOUT_S = 480  # a cold frontend build on a loaded 2-core machine


def _unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is needed by the failover tests (CI provides it)")
    pytest.skip(f"{what} is not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_config(servers: dict[str, int], port: int) -> str:
    """deploy/haproxy.cfg with loopback addresses: plain HTTP on `port`, our replicas, logs to stderr.

    One test-only rule: a request carrying `X-Voxanne-Replica: appN` goes to that replica while it is up (HAProxy
    ignores use-server for a server that is down), so a test can put a browser or a duplicate on a given replica."""
    text = (ROOT / "deploy" / "haproxy.cfg").read_text()
    text = text.replace("    log /dev/log local0\n", "    log stderr format raw local0 warning\n")
    text = re.sub(r"    maxconn \d+\n", "    maxconn 1000\n", text, count=1)
    text = re.sub(r"    stats socket .*\n", "", text)
    text = re.sub(r"    ssl-default-bind-\S+ .*\n", "", text)
    text = text.replace("    bind :80\n", f"    bind 127.0.0.1:{port}\n")
    text = re.sub(r"    bind :443 .*\n", "", text)
    text = re.sub(r"    http-request redirect scheme https .*\n", "", text)
    text = re.sub(r"    bind 127.0.0.1:8404\n", f"    bind 127.0.0.1:{_free_port()}\n", text)
    servers_cfg = "".join(f"    server {name} 127.0.0.1:{p} check\n" for name, p in servers.items())
    text = re.sub(r"(    server app\d .*\n)+", servers_cfg, text)
    pins = "".join(f"    use-server {name} if {{ req.hdr(x-voxanne-replica) -m str {name} }}\n" for name in servers)
    text = text.replace("    balance leastconn\n", "    balance leastconn\n" + pins)
    return text


@dataclass
class Replica:
    name: str
    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    database_url: str
    engine: sa.Engine
    replicas: dict[str, Replica]
    env: dict[str, str]
    proxy: subprocess.Popen | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def base(self) -> str:
        """The proxy, for this process's requests (browsers open PUBLIC_URL)."""
        return f"http://127.0.0.1:{PROXY_PORT}"

    def start(self, name: str) -> None:
        replica = self.replicas[name]
        env = dict(self.env, PORT=str(replica.port), VOXANNE_DATA_DIR=str(replica.data_dir))
        replica.proc = subprocess.Popen(
            [sys.executable, "-m", "voxanne_admin.cli", "serve", "--demo", "--no-history"], cwd=ROOT, env=env,
            stdout=replica.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, name: str, timeout: float = READY_TIMEOUT_S) -> None:
        replica = self.replicas[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert replica.proc is not None
            if replica.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {replica.proc.returncode}:\n{replica.log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{replica.base}/health/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{replica.log.read_text()[-4000:]}")

    def wait_proxy_routes_to(self, name: str, timeout: float = 15) -> None:
        """Until HAProxy's checks have marked `name` up (a pinned request answers from it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"{self.base}/health", headers={"x-voxanne-replica": name}, timeout=5)
                if r.status_code == 200 and r.json()["pid"] in self.pids(name):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"HAProxy does not route to {name} after {timeout}s")

    def pids(self, name: str) -> set[int]:
        """The serve process of a replica and its granian workers."""
        proc = self.replicas[name].proc
        if proc is None or proc.poll() is not None:
            return set()
        out = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        return {int(p) for p in out}

    def kill(self, name: str) -> None:
        """SIGKILL the whole replica (serve process and workers), as a host dying would."""
        proc = self.replicas[name].proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> None:
        """SIGTERM to the serve process, as systemd's KillMode=mixed does (deploy/voxanne-admin.service)."""
        proc = self.replicas[name].proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def ensure_up(self, name: str) -> None:
        """Restart a replica a previous test stopped."""
        proc = self.replicas[name].proc
        if proc is None or proc.poll() is not None:
            self.start(name)
            self.wait_ready(name)
        self.wait_proxy_routes_to(name)

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()


def _check_services() -> None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        _unavailable(f"PostgreSQL at {PG_URL} ({type(exc).__name__})")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_URL} ({type(exc).__name__})")
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        _unavailable("HAProxy (apt-get install haproxy)")


def _drop_dr_slots(server_url: str, backup_dir: Path) -> None:
    """The fleet streamed WAL through one replication slot: drop it (once its stream ended) so the shared server
    keeps no WAL for us."""
    from voxanne_admin.dr.archive import slot_name

    name = slot_name(backup_dir.resolve())
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for _ in range(20):
            if not conn.execute(sa.text("select count(*) from pg_replication_slots where slot_name = :s and active"),
                                {"s": name}).scalar():
                break
            time.sleep(0.5)
        conn.execute(sa.text("select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                             "where slot_name = :s and not active"), {"s": name})
    engine.dispose()


@pytest.fixture(scope="package")
def fleet() -> Iterator[Fleet]:
    """Two replicas started at the same moment on an empty database, behind HAProxy."""
    import redis

    _check_services()
    redis.Redis.from_url(REDIS_URL).flushdb()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = create_database(PG_URL, "voxanne_scale")
    tmp = Path(tempfile.mkdtemp(prefix="voxanne-fleet-"))
    backups = tmp / "backups"  # one backup directory for the fleet: one WAL stream, one replication slot
    # Nothing of this test process's own database may reach the replicas: a DATABASE_OWNER_URL left by the
    # session's database fixture (whichever modules this worker ran first) made them migrate that database and
    # then fail on their own, empty one.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VOXANNE_", "PROMETHEUS_", "DATABASE_")) and k not in ("REDIS_URL", "PORT")}
    env.update(
        DATABASE_URL=url, REDIS_URL=REDIS_URL, VOXANNE_PUBLIC_URL=PUBLIC_URL,
        VOXANNE_WORKERS="1", VOXANNE_BACKUP_DIR=str(backups),
        VAPI_WEBHOOK_SECRET=WEBHOOK_SECRET, TRUSTED_PROXIES="127.0.0.1", **shared_keys(),
        WEBHOOK_LEASE_SECONDS="5", LOGIN_IP_LIMIT="12", LOG_LEVEL="WARNING", SANDBOX_CALL_SECONDS="3",
        VOXANNE_DRAIN_SECONDS="2", FLAGS_RELOAD_SECONDS="30",
    )
    replicas = {name: Replica(name, _free_port(), tmp / name, ARTIFACTS / f"{name}.log") for name in ("app1", "app2")}
    for replica in replicas.values():
        replica.log.write_text("")
        share_sandbox_secrets(replica.data_dir)
    engine = sa.create_engine(url, pool_size=4, max_overflow=4)
    fleet = Fleet(url, engine, replicas, env)
    # This test process writes to the fleet's database too (flag changes, accounts): with the fleet's audit key.
    from voxanne_admin.audit import keys as audit_keys

    saved_key = os.environ.get("AUDIT_HMAC_KEY")
    os.environ["AUDIT_HMAC_KEY"] = _AUDIT_KEY
    get_settings.cache_clear()
    audit_keys.mac_keys.cache_clear()
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(haproxy_config({n: r.port for n, r in replicas.items()}, PROXY_PORT))
    try:
        for name in replicas:  # at the same moment, on an empty database
            fleet.start(name)
        for name in replicas:
            fleet.wait_ready(name)
        fleet.proxy = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(cfg)],
                                       stdout=(ARTIFACTS / "haproxy.log").open("w"), stderr=subprocess.STDOUT,
                                       start_new_session=True)
        for name in replicas:
            fleet.wait_proxy_routes_to(name)
        fleet.started_at = time.time()
        yield fleet
    finally:
        if saved_key is None:
            os.environ.pop("AUDIT_HMAC_KEY", None)
        else:
            os.environ["AUDIT_HMAC_KEY"] = saved_key
        get_settings.cache_clear()
        audit_keys.mac_keys.cache_clear()
        if fleet.proxy is not None:
            fleet.proxy.terminate()
            fleet.proxy.wait(10)
        for name in replicas:
            fleet.stop(name)
        engine.dispose()
        _drop_dr_slots(PG_URL, backups)
        drop_database(PG_URL, url)
        redis.Redis.from_url(REDIS_URL).flushdb()
        shutil.rmtree(tmp, ignore_errors=True)


def shared_keys() -> dict[str, str]:
    """The keys every replica must share (docs/deploy.md): the audit MAC key and the recovery-code key, as the
    environment gives them (the encryption keyring is VOXANNE_ENCRYPTION_KEYS, set beside)."""
    return {"AUDIT_HMAC_KEY": _AUDIT_KEY, "VOXANNE_RECOVERY_CODE_KEY": _RECOVERY_KEY,
            "VOXANNE_ENCRYPTION_KEYS": _fernet_key()}


def share_sandbox_secrets(data_dir: Path) -> None:
    """Sandbox mode keeps its Twilio token in each data directory; replicas share it as they would share a copied
    `secrets/` folder (a real Twilio token would be the same environment variable on every replica)."""
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "twilio-token").write_text(TWILIO_TOKEN)
    (folder / "twilio-token").chmod(0o600)


_AUDIT_KEY = secrets.token_hex(32)
# The test process makes accounts in the fleet's database (TOTP seeds encrypted, recovery codes keyed): the fleet
# uses the keys this run's tests/conftest.py set, so both sides open the same secrets.
_RECOVERY_KEY = os.environ.get("VOXANNE_RECOVERY_CODE_KEY") or secrets.token_hex(32)


def _fernet_key() -> str:
    """This run's keyring (tests/conftest.py sets it), so the test process and the fleet open the same seeds."""
    from cryptography.fernet import Fernet

    return os.environ.get("VOXANNE_ENCRYPTION_KEYS") or Fernet.generate_key().decode()


@pytest.fixture(scope="package")
def monitoring_token(fleet: Fleet) -> str:
    """An operator's API token with the monitoring and flags scopes, made in the fleet's database."""
    from sqlmodel import Session

    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import tokens

    with Session(fleet.engine) as session:
        user = auth_service.create_staff(session, email="prometheus@clinic.example", name="Prom Etheus",
                                         role="admin", password="velvet orchid kestrel 41", actor=Actor(),
                                         actor_role="founder")
        token = tokens.create(session, staff_id=user.id, name="prometheus", actor=Actor(),
                              scopes=["monitoring", "flags", "flags:write"])
        session.commit()
    return token
