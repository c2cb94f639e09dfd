"""Secrets kept as files in the data directory: created once, atomically, and shared by every worker and restart."""

from __future__ import annotations

import functools
import os
import secrets
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=8)
def sandbox_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data directory so every worker and restart shares it."""
    path = data_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_secret_file(path, secrets.token_hex(32))
    return path.read_text().strip()


def create_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` (0600) unless the file exists: atomic create-if-absent, whichever process or thread
    gets there first wins and every other keeps the winner's content. The temporary file is unique per call
    (mkstemp): a per-process name let two threads of one worker delete each other's file mid-link."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp creates it 0600
            fh.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
