"""Webhook authentication: valid signatures pass, every kind of forgery fails."""

from __future__ import annotations

import hashlib
import time

import pytest

from voxanne_admin.webhooks.signatures import (
    SignatureError,
    twilio_signature,
    vapi_hmac,
    verify_twilio,
    verify_vapi,
)

SECRET = "s3cret-for-tests"
BODY = b'{"message":{"type":"status-update","status":"ringing","call":{"id":"c1"}}}'


def _verify(headers, body=BODY, **kw):
    kw.setdefault("mode", "hmac")
    kw.setdefault("secret", SECRET)
    verify_vapi(headers, body, **kw)


def test_vapi_hmac_valid_signature_accepted():
    _verify({"X-Vapi-Signature": vapi_hmac(SECRET, BODY)})


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"x-vapi-signature": vapi_hmac("wrong-secret", BODY)},  # wrong key
        {"x-vapi-signature": vapi_hmac(SECRET, BODY + b" ")},  # body changed after signing
        {"x-vapi-signature": "abc123"},  # wrong length
        {"x-vapi-signature": "z" * 64},  # not hex
        {"x-vapi-signature": vapi_hmac(SECRET, BODY, algorithm="sha1")},  # other algorithm
    ],
    ids=["missing", "wrong-secret", "tampered-body", "short", "not-hex", "wrong-algorithm"],
)
def test_vapi_hmac_forgeries_refused(headers):
    with pytest.raises(SignatureError):
        _verify(headers)


def test_vapi_hmac_with_timestamp_accepted_inside_window():
    ts = str(int(time.time()))
    sig = vapi_hmac(SECRET, BODY, timestamp=ts)
    _verify({"x-vapi-signature": sig, "x-timestamp": ts}, timestamp_header="x-timestamp")


def test_vapi_hmac_replayed_timestamp_refused():
    old = str(int(time.time()) - 301)
    sig = vapi_hmac(SECRET, BODY, timestamp=old)
    with pytest.raises(SignatureError, match="5-minute"):
        _verify({"x-vapi-signature": sig, "x-timestamp": old}, timestamp_header="x-timestamp")


def test_vapi_hmac_timestamp_cannot_be_swapped():
    ts = str(int(time.time()))
    sig = vapi_hmac(SECRET, BODY, timestamp=ts)
    with pytest.raises(SignatureError):
        _verify({"x-vapi-signature": sig, "x-timestamp": str(int(ts) - 10)}, timestamp_header="x-timestamp")


def test_vapi_hmac_base64_with_prefix_sha512_accepted():
    sig = vapi_hmac(SECRET, BODY, algorithm="sha512", encoding="base64", prefix="sha512=")
    _verify({"x-signature": sig}, signature_header="x-signature", algorithm="sha512", encoding="base64",
            prefix="sha512=")


def test_vapi_secret_mode_checks_header():
    verify_vapi({"X-Vapi-Secret": SECRET}, BODY, mode="secret", secret=SECRET)
    with pytest.raises(SignatureError):
        verify_vapi({"X-Vapi-Secret": SECRET + "x"}, BODY, mode="secret", secret=SECRET)


def test_vapi_bearer_mode_checks_token():
    verify_vapi({"Authorization": f"Bearer {SECRET}"}, BODY, mode="bearer", secret=SECRET)
    with pytest.raises(SignatureError):
        verify_vapi({"Authorization": f"Bearer {SECRET[:-1]}"}, BODY, mode="bearer", secret=SECRET)
    with pytest.raises(SignatureError):
        verify_vapi({"Authorization": SECRET}, BODY, mode="bearer", secret=SECRET)


TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": ["CA1234567890ABCDE"], "Digits": ["1234"], "From": ["+14158675309"],
                 "To": ["+18005551212"], "Caller": ["+14158675309"]}


def test_twilio_published_test_vector():
    assert twilio_signature(TWILIO_URL, TWILIO_PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    verify_twilio(TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345")


def test_twilio_wrong_token_or_changed_param_refused():
    with pytest.raises(SignatureError):
        verify_twilio(TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "54321")
    changed = {**TWILIO_PARAMS, "Digits": ["9999"]}
    with pytest.raises(SignatureError):
        verify_twilio(TWILIO_URL, changed, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345")
    with pytest.raises(SignatureError):
        verify_twilio(TWILIO_URL, TWILIO_PARAMS, None, "12345")


def test_twilio_signature_with_default_port_matches_url_without_port():
    signed_with_port = twilio_signature("https://mycompany.com:443/myapp.php?foo=1&bar=2", TWILIO_PARAMS, "12345")
    verify_twilio(TWILIO_URL, TWILIO_PARAMS, signed_with_port, "12345")
    signed_without = twilio_signature("https://mycompany.com/hook", TWILIO_PARAMS, "12345")
    verify_twilio("https://mycompany.com:443/hook", TWILIO_PARAMS, signed_without, "12345")


def test_twilio_repeated_params_sorted_and_deduplicated():
    a = twilio_signature("https://x.test/h", {"B": ["2", "1", "2"], "A": ["z"]}, "tok")
    b = twilio_signature("https://x.test/h", {"A": ["z"], "B": ["1", "2"]}, "tok")
    assert a == b


def test_twilio_json_body_hash_checked():
    body = b'{"CallSid":"CA1"}'
    url = f"https://x.test/h?bodySHA256={hashlib.sha256(body).hexdigest()}"
    sig = twilio_signature(url, {}, "tok")
    verify_twilio(url, {}, sig, "tok", body=body)
    with pytest.raises(SignatureError, match="bodySHA256"):
        verify_twilio(url, {}, sig, "tok", body=b'{"CallSid":"CA2"}')
