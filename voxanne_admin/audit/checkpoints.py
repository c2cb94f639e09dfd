"""Signed checkpoints of the audit chain, appended to a JSON-lines file outside the database.

Each line: `{"seq", "at", "last_id", "count", "head", "key_id", "sig"}`. `sig` is an Ed25519 signature (hex) over
the canonical JSON of the other fields, by the signing key `key_id` (`keys.py`). `seq` increases by one per line;
a missing, edited or unparsable line is a verification failure, never skipped silently.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from voxanne_admin.audit import keys
from voxanne_admin.settings import get_settings
from voxanne_admin.timeutil import utcnow

FILE_NAME = "checkpoints.jsonl"
SIGNED_FIELDS = ("seq", "at", "last_id", "count", "head", "key_id")


class CheckpointFileError(ValueError):
    """The checkpoint file cannot be read as checkpoints (unreadable, or a line that is not one)."""


def path() -> Path:
    """VOXANNE_DATA_DIR/audit/checkpoints.jsonl, or AUDIT_CHECKPOINT_DIR/checkpoints.jsonl."""
    return get_settings().audit_dir / FILE_NAME


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What a checkpoint's signature covers."""
    body = {k: record.get(k) for k in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(record: dict[str, Any], signing: keys.SigningKeys | None = None) -> dict[str, Any]:
    """The record with `key_id` and `sig` filled in by the newest signing key."""
    signing = signing or keys.signing_keys()
    record = {**record, "key_id": signing.current_id}
    record["sig"] = signing.private.sign(signed_bytes(record)).hex()
    return record


def signature_ok(record: dict[str, Any], signing: keys.SigningKeys | None = None) -> bool:
    """True when a configured signing key made this record's signature."""
    signing = signing or keys.signing_keys()
    public = signing.public_by_id.get(str(record.get("key_id")))
    if public is None:
        return False
    try:
        public.verify(bytes.fromhex(str(record.get("sig", ""))), signed_bytes(record))
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_lines(text: str, source: str) -> list[dict[str, Any]]:
    """Checkpoint records from JSON-lines text; CheckpointFileError names the first bad line."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise CheckpointFileError(f"{source} line {number} is not valid JSON (the file was edited or "
                                      "damaged)") from None
        if not isinstance(record, dict) or not all(k in record for k in (*SIGNED_FIELDS, "sig")):
            raise CheckpointFileError(f"{source} line {number} is not a checkpoint (fields missing)")
        if not isinstance(record["seq"], int):
            raise CheckpointFileError(f"{source} line {number}: seq is not an integer")
        out.append(record)
    return out


def read_all(file: Path | None = None) -> list[dict[str, Any]]:
    """Every checkpoint in the file (empty when none was taken yet)."""
    file = file or path()
    if not file.exists():
        return []
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFileError(f"the checkpoint file {file} cannot be read: {exc}") from None
    return parse_lines(text, str(file))


def read_checkpoints(after_seq: int = 0) -> list[dict]:
    """Checkpoints with seq > after_seq, oldest first (seq increases by one per checkpoint). A damaged file raises
    `CheckpointFileError` (never skipped silently)."""
    return [r for r in read_all() if r["seq"] > after_seq]


def last_checkpoint() -> dict[str, Any] | None:
    """The newest checkpoint, or None."""
    records = read_all()
    return records[-1] if records else None


def append(*, last_id: int, count: int, head: str) -> dict[str, Any]:
    """Sign and append one checkpoint (an exclusive file lock makes seq unique across processes)."""
    file = path()
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            lines = [line for line in handle.read().splitlines() if line.strip()]
            seq = 1
            if lines:
                try:
                    seq = int(json.loads(lines[-1])["seq"]) + 1
                except (ValueError, KeyError, TypeError):
                    seq = len(lines) + 1  # damaged last line: verify reports it; keep numbering forward
            record = sign({"seq": seq, "at": utcnow().isoformat(timespec="microseconds"), "last_id": last_id,
                           "count": count, "head": head})
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return record
