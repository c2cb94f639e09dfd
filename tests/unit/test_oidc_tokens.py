"""ID token validation with keys made in the test: every refusal the relying party must make, key rotation,
and discovery failure. The provider's discovery document and JWKS are served by an httpx MockTransport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from voxanne_admin.auth.oidc import OidcClient, SsoUnavailable, TokenInvalid
from voxanne_admin.settings import SettingsError, load_settings

ISSUER = "https://idp.example.test"
CLIENT_ID = "voxanne-admin"
NONCE = "nonce-0123456789"


class FakeIdp:
    """Discovery + JWKS over a MockTransport; `keys` can be rotated between calls."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.published = [self.key]
        self.jwks_calls = 0
        self.discovery_status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            if self.discovery_status != 200:
                return httpx.Response(self.discovery_status)
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks", "id_token_signing_alg_values_supported": ["RS256", "none", "HS256"],
            })
        if request.url.path == "/jwks":
            self.jwks_calls += 1
            return httpx.Response(200, json=KeySet(self.published).as_dict(private=False))
        return httpx.Response(404)

    def token(self, key=None, header: dict | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "user-1", "iat": now, "exp": now + 300, "nonce": NONCE,
                  "email": "ana@clinic.test", "email_verified": True}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key or self.key
        return jwt.encode(header or {"alg": "RS256", "kid": key.kid}, claims, key)


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp()


@pytest.fixture
def client(idp) -> OidcClient:
    settings = load_settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID, oidc_client_secret="s3cr3t-value-x",
                             oidc_allowed_domains="clinic.test", voxanne_public_url="https://admin.example.test")
    return OidcClient(settings, transport=httpx.MockTransport(idp.handler))


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_id_token_is_accepted_with_identity(client, idp):
    identity = client.validate_id_token(idp.token(amr=["pwd", "hwk"], name="Ana Ruiz"), nonce=NONCE)
    assert (identity.email, identity.email_verified, identity.domain, identity.subject) == \
        ("ana@clinic.test", True, "clinic.test", "user-1")
    assert identity.idp_mfa is True


def test_id_token_refused_when_audience_is_another_client(client, idp):
    with pytest.raises(TokenInvalid, match="audience"):
        client.validate_id_token(idp.token(aud="someone-else"), nonce=NONCE)


def test_id_token_refused_when_issuer_differs(client, idp):
    with pytest.raises(TokenInvalid, match="issuer"):
        client.validate_id_token(idp.token(iss="https://evil.example.test"), nonce=NONCE)


def test_id_token_refused_when_expired(client, idp):
    now = int(time.time())
    with pytest.raises(TokenInvalid, match="expired"):
        client.validate_id_token(idp.token(iat=now - 4000, exp=now - 3000), nonce=NONCE)


def test_id_token_refused_when_issued_in_the_future_with_clock_hint(client, idp):
    now = int(time.time())
    with pytest.raises(TokenInvalid, match="check the server clock") as info:
        client.validate_id_token(idp.token(iat=now + 900, exp=now + 1200), nonce=NONCE)
    assert info.value.clock is True


def test_id_token_within_clock_allowance_is_accepted(client, idp):
    now = int(time.time())
    identity = client.validate_id_token(idp.token(iat=now + 60, exp=now - 60), nonce=NONCE)
    assert identity.email == "ana@clinic.test"


def test_id_token_refused_when_nonce_differs(client, idp):
    with pytest.raises(TokenInvalid, match="nonce"):
        client.validate_id_token(idp.token(nonce="another-sign-in"), nonce=NONCE)


def test_id_token_refused_when_nonce_missing(client, idp):
    with pytest.raises(TokenInvalid, match="nonce"):
        client.validate_id_token(idp.token(nonce=None), nonce=NONCE)


def test_id_token_refused_when_signed_by_a_key_not_in_the_jwks(client, idp):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)  # same kid, different key
    with pytest.raises(TokenInvalid, match="signature"):
        client.validate_id_token(idp.token(key=stranger), nonce=NONCE)


def test_id_token_refused_when_kid_unknown_even_after_refetch(client, idp):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "attacker"}, private=True)
    with pytest.raises(TokenInvalid, match="signature"):
        client.validate_id_token(idp.token(key=stranger), nonce=NONCE)
    assert idp.jwks_calls == 2  # the unknown kid made it look for a rotated key once


def test_id_token_refused_when_alg_none(client, idp):
    raw = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64({'iss': ISSUER, 'aud': CLIENT_ID, 'nonce': NONCE})}."
    with pytest.raises(TokenInvalid, match="'none' is not accepted"):
        client.validate_id_token(raw, nonce=NONCE)


def test_id_token_refused_when_hmac_signed_with_the_public_key(client, idp):
    # The classic confusion attack: HMAC with the published RSA public key as the shared secret.
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{_b64({'iss': ISSUER, 'aud': CLIENT_ID, 'nonce': NONCE})}"
    mac = hmac.new(idp.key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenInvalid, match="'HS256' is not accepted"):
        client.validate_id_token(forged, nonce=NONCE)


def test_rotated_signing_key_is_fetched_on_unknown_kid(client, idp):
    client.validate_id_token(idp.token(), nonce=NONCE)
    assert idp.jwks_calls == 1
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
    idp.published = [idp.key, new_key]
    identity = client.validate_id_token(idp.token(key=new_key), nonce=NONCE)
    assert identity.subject == "user-1"
    assert idp.jwks_calls == 2
    client.validate_id_token(idp.token(key=new_key), nonce=NONCE)
    assert idp.jwks_calls == 2  # cached after the rotation


def test_unverified_email_is_reported_not_verified(client, idp):
    identity = client.validate_id_token(idp.token(email_verified=False), nonce=NONCE)
    assert identity.email_verified is False


def test_google_hd_claim_wins_over_the_email_domain(client, idp):
    identity = client.validate_id_token(idp.token(email="ana@alias.test", hd="clinic.test"), nonce=NONCE)
    assert identity.domain == "clinic.test"


def test_amr_without_a_second_factor_is_not_idp_mfa(client, idp):
    assert client.validate_id_token(idp.token(amr=["pwd"]), nonce=NONCE).idp_mfa is False


def test_authorization_request_carries_pkce_state_and_nonce(client):
    request = client.authorization_request()
    query = httpx.URL(request.url).params
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] and query["code_challenge"] != request.code_verifier
    assert (query["state"], query["nonce"]) == (request.state, request.nonce)
    assert query["redirect_uri"] == "https://admin.example.test/api/auth/oidc/callback"
    assert query["response_type"] == "code" and "openid" in query["scope"]


def test_discovery_failure_makes_sso_unavailable_and_is_cached(client, idp, caplog):
    idp.discovery_status = 500
    with caplog.at_level(logging.ERROR), pytest.raises(SsoUnavailable, match="discovery"):
        client.metadata()
    assert "single sign-on unavailable" in caplog.text
    idp.discovery_status = 200
    ok, reason = client.status()
    assert not ok and "discovery" in reason  # retried only after DISCOVERY_RETRY_S


def test_jit_role_above_operator_is_refused_by_the_settings():
    for role in ("admin", "founder"):
        with pytest.raises(SettingsError, match="SSO_JIT_ROLE: can be viewer or operator at most"):
            load_settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID, oidc_allowed_domains="clinic.test",
                          sso_jit_role=role)


def test_sso_settings_need_client_id_and_domains():
    with pytest.raises(SettingsError, match="OIDC_CLIENT_ID is required"):
        load_settings(oidc_issuer=ISSUER, oidc_allowed_domains="clinic.test")
    with pytest.raises(SettingsError, match="OIDC_ALLOWED_DOMAINS is required"):
        load_settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID)
    with pytest.raises(SettingsError, match="OIDC_ISSUER: must be an https:// URL"):
        load_settings(oidc_issuer="http://idp.example.test", oidc_client_id=CLIENT_ID,
                      oidc_allowed_domains="clinic.test")


def test_google_short_issuer_form_is_accepted_only_for_google(idp):
    google = "https://accounts.google.com"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": google, "authorization_endpoint": f"{google}/o/oauth2/v2/auth",
                                             "token_endpoint": f"{google}/token", "jwks_uri": f"{google}/certs"})
        return httpx.Response(200, json=KeySet(idp.published).as_dict(private=False))

    settings = load_settings(oidc_issuer=google, oidc_client_id=CLIENT_ID, oidc_allowed_domains="clinic.test")
    google_client = OidcClient(settings, transport=httpx.MockTransport(handler))
    identity = google_client.validate_id_token(idp.token(iss="accounts.google.com", hd="clinic.test"), nonce=NONCE)
    assert identity.domain == "clinic.test"


def test_short_issuer_form_is_refused_for_other_providers(client, idp):
    with pytest.raises(TokenInvalid, match="issuer"):
        client.validate_id_token(idp.token(iss="idp.example.test"), nonce=NONCE)
