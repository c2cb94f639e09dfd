"""Security regression tests: the integration API server (real HTTP, tests/integration/conftest.py) and the
production server with a real browser and raw websockets (tests/e2e/conftest.py; the process-wide instances are
shared with tests/e2e when both run); a granian API server with the inbox applied elsewhere
(WEBHOOK_APPLY_WORKERS=1, as under serve) and a raw HTTP client for floods."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    E2E_PORT,
    _browser,
    _shared,
    browser_page,
    e2e_db,
    founder,
    live_server,
    make_account,
    new_page,
    oidc_provider,
)
from tests.integration.conftest import (  # noqa: F401  (fixtures)
    _api_server_process,
    _no_api_server_beside_other_tests,
    api_server,
)


def direct_url(server: dict) -> str:
    """Where this process reaches the e2e server (`live_server["direct"]`). An older tree's fixture, which
    `run_against.sh` runs these tests on, has one server on its public URL only."""
    return server.get("direct") or server["base"]


@pytest.fixture(scope="module")
def browser():
    """Chromium per module here (tests/e2e shares one per package): in a parallel run this directory's other
    modules may follow on the same worker, and their tests call asyncio.run(), which an open Playwright forbids."""
    yield from _shared("browser", _browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def flood_server(clean_db, tmp_path) -> Iterator[int]:
    """A granian API server on a free port; yields the port."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": clean_db, "PORT": str(port), "LOG_LEVEL": "ERROR",
           "WEBHOOK_APPLY_WORKERS": "1"}
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "voxanne_admin.api.standalone:create_app"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def read_status(reader: asyncio.StreamReader) -> int:
    """The status of one HTTP/1.1 response (its body read and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")),
                  0)
    if length:
        await reader.readexactly(length)
    return int(lines[0].split(" ")[1])


async def post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None, *,
               declared: int | None = None, trickle_s: float = 0.0, chunk: int = 1024) -> int:
    """POST over a fresh connection; `trickle_s` sends the body `chunk` bytes at a time with that pause (a slow
    client); `declared` overrides Content-Length. Returns the status (0 if the server closed the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head += f"Content-Length: {declared if declared is not None else len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        if trickle_s:
            for i in range(0, len(body), chunk):
                writer.write(body[i:i + chunk])
                await writer.drain()
                await asyncio.sleep(trickle_s)
        else:
            writer.write(body)
            await writer.drain()
        return await read_status(reader)
    except (ConnectionError, asyncio.IncompleteReadError):
        return 0
    finally:
        writer.close()


# The /health prober runs in its own process: in the test's process it would share the event loop (and the GIL)
# with the flood it measures, and time the client as much as the server.
_PROBER = r"""
import select, sys, time
import httpx
port, every_s, baseline_n = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:  # one keep-alive connection
    def once():
        started = time.perf_counter()
        assert client.get("/health").status_code == 200
        return time.perf_counter() - started
    for _ in range(baseline_n):
        print("idle", once(), flush=True)
        time.sleep(every_s / 4)
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], every_s)[0]:
        print("flood", once(), flush=True)
"""


class HealthProbe:
    """/health latencies (seconds) on one keep-alive connection from a separate process: `idle` before the flood
    starts, `latencies` every `every_s` until `stop()`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.idle: list[float] = []
        self.latencies: list[float] = []

    @classmethod
    async def start(cls, port: int, every_s: float = 0.02, baseline: int = 10) -> HealthProbe:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PROBER, str(port), str(every_s), str(baseline),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        probe = cls(proc)
        assert proc.stdout is not None
        while (line := (await proc.stdout.readline()).decode().split()) != ["ready"]:
            assert line, "the /health prober exited before the flood"
            probe.idle.append(float(line[1]))
        return probe

    async def stop(self) -> list[float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"stop\n")
        out, _ = await self.proc.communicate()
        assert self.proc.returncode == 0, "the /health prober failed"
        self.latencies = [float(line.split()[1]) for line in out.decode().splitlines() if line.startswith("flood")]
        return self.latencies

    def bound(self) -> float:
        """50 ms, or twice this server's idle /health latency when the machine is so loaded (other test workers,
        a second CI pass) that even an idle answer takes over 25 ms. A loop blocked by parsing, hashing or a sync
        database call holds every probe for the whole blocking call: hundreds of ms, over either bound."""
        return max(0.050, 2 * statistics.median(self.idle))

    def answered(self) -> bool:
        """Enough probes landed during the flood, and their median is within `bound()`."""
        return len(self.latencies) >= 5 and statistics.median(self.latencies) < self.bound()

    def assert_answered(self) -> None:
        assert self.answered(), self.summary()

    def summary(self) -> str:
        return (f"{summary(self.latencies)}; idle median {statistics.median(self.idle) * 1000:.1f} ms, "
                f"bound {self.bound() * 1000:.0f} ms")


def summary(latencies: list[float]) -> str:
    """Median and max in ms, for assertion messages."""
    return f"{len(latencies)} probes, median {statistics.median(latencies) * 1000:.1f} ms, " \
           f"max {max(latencies) * 1000:.1f} ms"
