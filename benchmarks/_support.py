"""Shared benchmark plumbing: a throwaway clone of the committed code served by `voxanne-admin serve` on its own
port, data directory and embedded PostgreSQL, so a benchmark never touches the working tree's build or data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clone() -> Path:
    """A fresh clone of HEAD (or of BENCH_REF, to measure an earlier commit with today's benchmark) in a temporary
    directory (shares this virtualenv through PYTHONPATH)."""
    work = Path(tempfile.mkdtemp(prefix="voxanne-bench-"))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "repo")], check=True)
    if os.environ.get("BENCH_REF"):
        subprocess.run(["git", "-C", str(work / "repo"), "checkout", "-q", os.environ["BENCH_REF"]], check=True)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (work / "shared").symlink_to(shared)
    return work / "repo"


def _reuse_frontend(repo: Path, env: dict[str, str]) -> Path | None:
    """With BENCH_FRONTEND_CACHE=<dir>: put a console build kept there into the clone and stamp it as current, so
    `serve` skips the frontend build (a minute of both cores, and its prerender step times out on a loaded
    machine). Its pages then embed another run's port: fine for the webhook and booking benchmarks, which never
    load a page. Returns the cache directory to fill after a start that built, or None."""
    cache = os.environ.get("BENCH_FRONTEND_CACHE")
    if not cache:
        return None
    kept = Path(cache) / "build"
    if not (kept / "client" / "index.html").exists():
        return Path(cache)
    import shutil

    (repo / ".web").mkdir(exist_ok=True)
    shutil.copytree(kept, repo / ".web" / "build", dirs_exist_ok=True)
    stamp = subprocess.run(
        [sys.executable, "-c", "from voxanne_admin.serve import _source_fingerprint as f; "
                               "from voxanne_admin.settings import get_settings as s; print(f(s()))"],
        cwd=repo, env=env, capture_output=True, text=True, check=True).stdout.strip()
    (repo / ".web" / ".voxanne-build").write_text(stamp)
    return None


def serve(repo: Path, port: int, *, demo: bool = True, **env_extra: str) -> subprocess.Popen:
    """Start `voxanne-admin serve` from `repo` and wait until /health/ready answers 200."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VOXANNE_RESOLVED_DATABASE_URL",
                                                         "DATABASE_OWNER_URL", "VOXANNE_RESOLVED_OWNER_URL")}
    env.update(PORT=str(port), VOXANNE_DATA_DIR=str(repo / ".voxanne"), LOG_LEVEL="WARNING",
               PYTHONPATH=str(repo), REFLEX_USE_NPM="1", REFLEX_TELEMETRY_ENABLED="false", **env_extra)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    fill_cache = _reuse_frontend(repo, env)
    log = repo / "server.log"
    args = [sys.executable, "-m", "voxanne_admin.cli", "serve"] + (["--demo"] if demo else [])
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                if fill_cache is not None:
                    import shutil

                    shutil.copytree(repo / ".web" / "build", fill_cache / "build", dirs_exist_ok=True)
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server not ready in 15 minutes")


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a server started with `serve` (and its embedded PostgreSQL)."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def use_database_of(repo: Path) -> str:
    """Point this process's voxanne_admin at the clone's embedded database; returns its URL."""
    os.environ["VOXANNE_DATA_DIR"] = str(repo / ".voxanne")
    os.environ.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    os.environ.pop("VOXANNE_RESOLVED_OWNER_URL", None)
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    from voxanne_admin import db
    from voxanne_admin.settings import get_settings

    get_settings.cache_clear()
    db.reset_engine()
    return db.ensure_database()


def web_worker_pid(port: int) -> int:
    """The pid of the backend worker answering on `port` (its /health says)."""
    return int(httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["pid"])


def start_profile(pid: int, name: str, seconds: float, *, idle: bool = False) -> subprocess.Popen | None:
    """With BENCH_PROFILE=<tag> set: py-spy records `pid` for `seconds` into benchmarks/profiles/<name>-<tag>.svg
    (a flame graph; `idle` also counts threads waiting, e.g. on a database lock); returns the recorder to wait for,
    or None when profiling is off."""
    tag = os.environ.get("BENCH_PROFILE")
    if not tag:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    out = ROOT / "benchmarks" / "profiles" / f"{name}-{tag}.svg"
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                             "--rate", "50", "--nonblocking", *(["--idle"] if idle else []),
                             "--format", "flamegraph", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def finish_profile(recorder: subprocess.Popen | None) -> None:
    """Wait for a py-spy recorder started by `start_profile`."""
    if recorder is not None:
        try:
            recorder.wait(120)
        except subprocess.TimeoutExpired:
            recorder.kill()


def generator_cpu_s() -> float:
    """CPU seconds this benchmark process (the load generator) has used so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_table() -> dict[int, tuple[int, int, str, float]]:
    """pid -> (ppid, session id, command, CPU seconds) for every process readable in /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        # comm may hold spaces and parentheses: split after the last ')'
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), comm, (int(fields[11]) + int(fields[12])) / tick)
    return table


def server_cpu_s(proc: subprocess.Popen, repo: Path, web_pid: int | None = None) -> dict[str, float]:
    """CPU seconds used so far by a server started with `serve`: `web` (the backend worker answering requests),
    `server` (every process of its session: serve, granian, backend and apply workers), `postgres` (the embedded
    PostgreSQL's postmaster and backends). Take it before and after a phase; the difference is what the phase cost
    the server, whatever the neighbours on a shared machine are doing."""
    table = _proc_table()
    server = sum(cpu for _, sid, _, cpu in table.values() if sid == proc.pid)
    postmaster = None
    pid_file = repo / ".voxanne" / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        postmaster = int(pid_file.read_text().split()[0])
    postgres = sum(cpu for pid, (ppid, _, _, cpu) in table.items() if postmaster in (pid, ppid))
    web = table[web_pid][3] if web_pid in table else 0.0
    return {"web": web, "server": server, "postgres": postgres}


def cpu_ms_per(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """The CPU milliseconds per request of each part between two `server_cpu_s` readings."""
    return {key: round((after[key] - before[key]) * 1000 / max(1, requests), 3) for key in after}
