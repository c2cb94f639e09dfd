"""Logs never carry raw emails, phone numbers or secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from voxanne_admin import logging as vx_logging
from voxanne_admin.privacy.masking import mask

EMAIL = "ana.silva@harbor-dental.example"
PHONE = "+44 20 7946 0958"


def test_mask_hides_email_but_keeps_domain():
    masked = mask(f"sign-in failed for {EMAIL}")
    assert EMAIL not in masked and "ana.silva" not in masked
    assert "a***@harbor-dental.example" in masked


@pytest.mark.parametrize("phone", [PHONE, "+1 (415) 555-0132", "+2348031234567", "07946 095 812"])
def test_mask_hides_phone_number_except_last_two_digits(phone):
    masked = mask(f"calling {phone} now")
    digits = "".join(c for c in phone if c.isdigit())
    assert phone not in masked
    assert digits[:-2] not in "".join(c for c in masked if c.isdigit())
    assert f"***{digits[-2:]}" in masked


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2-horse", "hunter2-horse"),
        ('{"api_key": "vapi-priv-51HxQ"}', "vapi-priv-51HxQ"),
        ("token: 7f3a9c1d2e", "7f3a9c1d2e"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9.payload"),
        ("cookie: vx_session=Zm9vYmFyYmF6", "Zm9vYmFyYmF6"),
        ("connect postgresql://voxanne:s3cr3t-pw@db.internal:5432/voxanne", "s3cr3t-pw"),
        ("auth_token=AC1234abcd", "AC1234abcd"),
    ],
)
def test_mask_hides_secrets(text, secret):
    assert secret not in mask(text)


def test_mask_leaves_ordinary_text_alone():
    text = "job purge_expired_sessions succeeded: 3 sessions deleted"
    assert mask(text) == text


@pytest.fixture
def json_log():
    """The app's JSON handler on the root logger, writing into a buffer; restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    vx_logging.configure("INFO")
    handler = next(h for h in root.handlers if getattr(h, "_voxanne", False))
    buffer = io.StringIO()
    handler.setStream(buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    for h in handlers:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(level)


def test_json_log_line_has_no_raw_email_or_phone(json_log):
    log = logging.getLogger("voxanne_admin.tests")
    token = vx_logging.request_id_var.set("req-123")
    try:
        log.info("login failed for %s calling %s", EMAIL, PHONE, extra={"customer": f"{EMAIL} / {PHONE}"})
    finally:
        vx_logging.request_id_var.reset(token)

    (line,) = [entry for entry in json_log() if entry.get("logger") == "voxanne_admin.tests"]
    raw = json.dumps(line, ensure_ascii=False)
    assert EMAIL not in raw and PHONE not in raw and "7946 0958" not in raw
    assert line["message"] == "login failed for a***@harbor-dental.example calling ***58"
    assert line["customer"] == "a***@harbor-dental.example / ***58"
    assert line["level"] == "INFO"
    assert line["request_id"] == "req-123"


def test_json_log_exception_has_no_raw_email(json_log):
    log = logging.getLogger("voxanne_admin.tests")
    try:
        raise ValueError(f"A staff account for {EMAIL} already exists (password=hunter2-horse).")
    except ValueError:
        log.exception("create failed")

    (line,) = [entry for entry in json_log() if entry.get("logger") == "voxanne_admin.tests"]
    raw = json.dumps(line, ensure_ascii=False)
    assert "ValueError" in raw  # the traceback is still there...
    assert EMAIL not in raw and "hunter2-horse" not in raw  # ...without the personal data
