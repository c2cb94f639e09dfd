"""One secret scrubber for webhook payloads and audit diffs (voxanne_admin.privacy.secrets)."""

from __future__ import annotations

from voxanne_admin.audit.service import make_diff
from voxanne_admin.privacy import secrets
from voxanne_admin.privacy.redaction import redact_payload


def test_scrub_replaces_credentials_in_nested_dicts_and_lists():
    payload = {"message": {"phoneNumber": {"twilioAuthToken": "tok-1", "twilioAccountSid": "AC9", "number": "+1"},
                           "server": {"Secret-Key": "s"}, "calls": [{"apiKey": "k", "status": "ended"}]}}
    assert secrets.scrub(payload) == {
        "message": {"phoneNumber": {"twilioAuthToken": "[redacted]", "twilioAccountSid": "[redacted]", "number": "+1"},
                    "server": {"Secret-Key": "[redacted]"}, "calls": [{"apiKey": "[redacted]", "status": "ended"}]}}


def test_scrub_keeps_codes_and_hashes_of_webhooks_but_the_audit_hides_them():
    value = {"countryCode": "US", "hash": "abc", "totp_secret": "JBSW", "recovery_codes": ["1", "2"]}
    assert secrets.scrub(value) == {"countryCode": "US", "hash": "abc", "totp_secret": "[redacted]",
                                    "recovery_codes": ["1", "2"]}
    assert secrets.scrub(value, extra_parts=secrets.AUDIT_KEY_PARTS) == {
        "countryCode": "[redacted]", "hash": "[redacted]", "totp_secret": "[redacted]", "recovery_codes": "[redacted]"}


def test_audit_diff_and_webhook_payload_use_the_same_scrubber():
    diff = make_diff({"password_hash": "old", "name": "A"}, {"password_hash": "new", "name": "B"})
    assert diff == {"name": {"before": "A", "after": "B"}, "password_hash": "[redacted]"}
    stored = redact_payload({"message": {"credentials": {"x": 1}, "summary": "Call me on 415-555-0132."}})
    assert stored == {"message": {"credentials": "[redacted]", "summary": "Call me on [PHONE]."}}
