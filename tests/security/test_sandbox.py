"""Finding 13: the stand-in providers answer only loopback callers or the sandbox secret, and a half-configured
provider is a startup error instead of a silent sandbox."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from voxanne_admin import vault
from voxanne_admin.settings import SettingsError, load_settings

# The header's name as main defines it (voxanne_admin.api.security), spelled here so that the refusal test reaches
# the routes on the code before the fixes too (and fails there on the answer, not on an import).
SANDBOX_SECRET_HEADER = "x-voxanne-sandbox-secret"
SANDBOX_ROUTES = [("GET", "/sandbox/carrier/lines/+15551230000"), ("POST", "/sandbox/carrier/dial")]


@pytest.fixture
def api(database_url):
    from voxanne_admin.api.standalone import create_app

    return create_app()


def test_the_header_name_is_the_products():
    from voxanne_admin.api.security import SANDBOX_SECRET_HEADER as defined

    assert defined == SANDBOX_SECRET_HEADER


@pytest.mark.parametrize(("method", "path"), SANDBOX_ROUTES)
def test_sandbox_routes_refuse_the_network(api, clean_db, method, path):
    remote = TestClient(api, client=("203.0.113.9", 40000))
    response = remote.request(method, path, json={})
    assert response.status_code == 403
    assert "only on this machine" in response.json()["detail"]
    assert remote.request(method, path, json={}, headers={SANDBOX_SECRET_HEADER: "guess"}).status_code == 403


@pytest.mark.parametrize(("method", "path"), SANDBOX_ROUTES)
def test_sandbox_routes_answer_loopback_and_the_secret(api, clean_db, method, path):
    local = TestClient(api, client=("127.0.0.1", 40000))
    assert local.request(method, path, json={}).status_code != 403
    from voxanne_admin.api.security import SANDBOX_SECRET_FILE

    remote = TestClient(api, client=("203.0.113.9", 40000))
    secret = vault.key_file(SANDBOX_SECRET_FILE)
    assert remote.request(method, path, json={}, headers={SANDBOX_SECRET_HEADER: secret}).status_code != 403


@pytest.mark.parametrize("given", [
    {"VAPI_API_KEY": "vapi-live-key"},
    {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tw-token"},
    {"VAPI_API_KEY": "vapi-live-key", "TWILIO_ACCOUNT_SID": "AC123"},
])
def test_half_configured_providers_refuse_to_start(monkeypatch, given):
    for name in ("VAPI_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "VAPI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="provider credentials are half-configured"):
        load_settings()
