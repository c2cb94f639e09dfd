"""OpenID Connect relying party: discovery, the authorization request (PKCE, state, nonce), the code exchange
and ID token validation (JWKS signature with rotation, iss, aud, exp, iat skew, nonce, email_verified).

No database and no HTTP here: `providers/oidc.py` talks to the provider, `auth/sso.py` decides who gets in and
`auth/sso_flows.py` commits around these calls.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from voxanne_admin.providers.oidc import OidcHttp, OidcHttpError, Transport
from voxanne_admin.settings import Settings, get_settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/auth/oidc/callback"
SCOPES = "openid email profile"
CLOCK_SKEW_S = 120  # allowance between our clock and the IdP's for exp and iat
DISCOVERY_TTL_S = 3600
DISCOVERY_RETRY_S = 30  # after a failed discovery, try again at most this often
JWKS_TTL_S = 3600
JWKS_MIN_REFRESH_S = 5  # an unknown kid refetches the JWKS, at most this often
MFA_AMR = frozenset({"mfa", "otp", "hwk", "swk"})
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

_KNOWN_PROVIDERS = (("accounts.google.com", "Google"), ("okta.com", "Okta"), ("oktapreview.com", "Okta"),
                    ("login.microsoftonline.com", "Microsoft"), ("/realms/", "Keycloak"))


class SsoUnavailable(RuntimeError):
    """The OpenID Provider cannot be used right now (discovery or JWKS failed, or SSO is not configured)."""


class TokenInvalid(Exception):
    """The IdP's answer failed a check. `detail` goes to the log only; people see a generic message."""

    def __init__(self, detail: str, *, clock: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.clock = clock


@dataclass(frozen=True)
class Identity:
    """Who the ID token says signed in (validated)."""

    subject: str
    email: str
    email_verified: bool
    domain: str
    name: str
    amr: tuple[str, ...]

    @property
    def idp_mfa(self) -> bool:
        """The IdP says a second factor was used."""
        return bool(MFA_AMR.intersection(self.amr))


@dataclass(frozen=True)
class AuthRequest:
    """What `start` hands the flow: the IdP URL and the secrets to keep server-side."""

    url: str
    state: str
    nonce: str
    code_verifier: str


def provider_name(settings: Settings | None = None) -> str:
    """The name on the sign-in button: OIDC_PROVIDER_NAME, else guessed from the issuer."""
    settings = settings or get_settings()
    if settings.oidc_provider_name.strip():
        return settings.oidc_provider_name.strip()[:40]
    issuer = settings.oidc_issuer
    return next((name for token, name in _KNOWN_PROVIDERS if token in issuer), "single sign-on")


@dataclass
class _Cache:
    metadata: dict | None = None
    metadata_at: float = 0.0
    failed_at: float = 0.0
    failure: str = ""
    keys: KeySet | None = None
    keys_at: float = 0.0
    forced_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class OidcClient:
    """One configured OpenID Provider. Discovery and JWKS are cached per process."""

    def __init__(self, settings: Settings, transport: Transport | None = None):
        if not settings.sso_enabled:
            raise SsoUnavailable("single sign-on is not configured (OIDC_ISSUER is unset)")
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id.strip()
        secret = settings.oidc_client_secret
        self.client_secret = secret.get_secret_value() if secret else ""
        self.redirect_uri = settings.public_url + CALLBACK_PATH
        self._http = OidcHttp(transport)
        self._cache = _Cache()

    # ------------------------------------------------------------ discovery and keys

    def metadata(self) -> dict:
        """The provider's discovery document (cached an hour; a failure is retried after 30 s)."""
        cache = self._cache
        now = time.monotonic()
        if cache.metadata is not None and now - cache.metadata_at < DISCOVERY_TTL_S:
            return cache.metadata
        with cache.lock:
            if cache.metadata is None and cache.failed_at and now - cache.failed_at < DISCOVERY_RETRY_S:
                raise SsoUnavailable(cache.failure)
            try:
                doc = self._discover()
            except SsoUnavailable as exc:
                if cache.metadata is not None:  # keep serving the last good document through an IdP blip
                    log.warning("OIDC discovery refresh failed, keeping the cached document: %s", exc)
                    cache.metadata_at = now
                    return cache.metadata
                cache.failed_at, cache.failure = now, str(exc)
                log.error("single sign-on unavailable: %s", exc)
                raise
            cache.metadata, cache.metadata_at, cache.failed_at, cache.failure = doc, now, 0.0, ""
            return doc

    def _discover(self) -> dict:
        url = self.issuer + "/.well-known/openid-configuration"
        try:
            doc = self._http.get_json(url)
        except OidcHttpError as exc:
            raise SsoUnavailable(f"OIDC discovery at {url} failed: {exc.kind}: {exc}"[:300]) from None
        if not isinstance(doc, dict):
            raise SsoUnavailable(f"OIDC discovery at {url} did not return a JSON object")
        if doc.get("issuer", "").rstrip("/") != self.issuer:
            raise SsoUnavailable(f"OIDC discovery at {url} names issuer {doc.get('issuer')!r}, not OIDC_ISSUER")
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
        if missing:
            raise SsoUnavailable(f"OIDC discovery at {url} lacks {', '.join(missing)}")
        return doc

    def status(self) -> tuple[bool, str]:
        """(usable, reason) for /health/ready and the sign-in page."""
        try:
            self.metadata()
        except SsoUnavailable as exc:
            return False, str(exc)
        return True, ""

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's public keys (cached an hour; `refresh` refetches for a key rotation)."""
        cache = self._cache
        now = time.monotonic()
        if cache.keys is not None and not refresh and now - cache.keys_at < JWKS_TTL_S:
            return cache.keys
        with cache.lock:
            if refresh and cache.keys is not None and now - cache.forced_at < JWKS_MIN_REFRESH_S:
                return cache.keys
            url = self.metadata()["jwks_uri"]
            try:
                keys = KeySet.import_key_set(self._http.get_json(url))
            except (OidcHttpError, ValueError, JoseError) as exc:
                if cache.keys is not None:
                    log.warning("OIDC JWKS refresh from %s failed, keeping cached keys: %s", url, exc)
                    return cache.keys
                kind = exc.kind if isinstance(exc, OidcHttpError) else type(exc).__name__
                raise SsoUnavailable(f"OIDC JWKS at {url} failed: {kind}") from None
            cache.keys, cache.keys_at = keys, now
            if refresh:
                cache.forced_at = now
            return keys

    # ------------------------------------------------------------ the authorization code flow

    def authorization_request(self) -> AuthRequest:
        """The URL to send the browser to, with fresh state, nonce and PKCE (S256) verifier."""
        meta = self.metadata()
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
        url = prepare_grant_uri(
            meta["authorization_endpoint"], self.client_id, "code", redirect_uri=self.redirect_uri, scope=SCOPES,
            state=state, nonce=nonce, code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return AuthRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def exchange_code(self, code: str, code_verifier: str) -> str:
        """Redeem the authorization code at the token endpoint; returns the raw ID token."""
        meta = self.metadata()
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": code_verifier}
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        basic_auth = None
        if not self.client_secret:
            data["client_id"] = self.client_id
        elif "client_secret_basic" in methods:
            basic_auth = (self.client_id, self.client_secret)
        else:
            data.update(client_id=self.client_id, client_secret=self.client_secret)
        try:
            status, body = self._http.post_form(meta["token_endpoint"], data, basic_auth=basic_auth)
        except OidcHttpError as exc:
            raise SsoUnavailable(f"OIDC token endpoint unreachable: {exc.kind}") from None
        if status != 200:
            error = body.get("error", "") if isinstance(body, dict) else ""
            raise TokenInvalid(f"token endpoint refused the code: HTTP {status} {error}".strip())
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not id_token:
            raise TokenInvalid("token endpoint returned no id_token")
        return id_token

    # ------------------------------------------------------------ ID token validation

    def _algorithms(self) -> list[str]:
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [a for a in offered if a in ASYMMETRIC]
        return allowed or ["RS256"]

    def validate_id_token(self, raw: str, *, nonce: str, now: float | None = None) -> Identity:
        """Check signature, iss, aud, azp, exp, iat, nonce and email_verified; raises TokenInvalid."""
        try:
            header = jws.extract_compact(raw.encode()).protected
        except (JoseError, ValueError) as exc:
            raise TokenInvalid(f"ID token is not a compact JWS: {type(exc).__name__}") from None
        alg = str(header.get("alg", ""))
        algorithms = self._algorithms()
        if alg not in algorithms:
            raise TokenInvalid(f"ID token alg {alg!r} is not accepted (allowed: {', '.join(algorithms)})")
        keys = self.keys()
        kid = header.get("kid")
        if kid and all(k.kid != kid for k in keys.keys):
            keys = self.keys(refresh=True)  # the provider rotated its keys
        try:
            token = jwt.decode(raw, keys, algorithms=algorithms)
        except JoseError as exc:
            raise TokenInvalid(f"ID token signature check failed: {exc.error}") from None
        return self._check_claims(token.claims, nonce=nonce, now=time.time() if now is None else now)

    def _check_claims(self, claims: dict, *, nonce: str, now: float) -> Identity:
        issuers = {self.issuer}
        if self.issuer == "https://accounts.google.com":
            issuers.add("accounts.google.com")  # Google documents both forms of its ID tokens' iss
        if str(claims.get("iss", "")).rstrip("/") not in issuers:
            raise TokenInvalid(f"ID token issuer {claims.get('iss')!r} is not {self.issuer!r}")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.client_id not in audiences:
            raise TokenInvalid(f"ID token audience {aud!r} does not include our client id")
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise TokenInvalid("ID token has several audiences and azp is not our client id")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise TokenInvalid("ID token lacks exp or iat")
        if iat > now + CLOCK_SKEW_S:
            raise TokenInvalid(f"ID token issued {int(iat - now)} s in the future: check the server clock",
                               clock=True)
        if exp <= now - CLOCK_SKEW_S:
            # A token fresh from the token endpoint that is already expired means one of the clocks is wrong.
            clock = now - iat < 3600 * 24
            raise TokenInvalid(f"ID token expired {int(now - exp)} s ago" +
                               (": check the server clock" if clock else ""), clock=clock)
        if not nonce or not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise TokenInvalid("ID token nonce does not match this sign-in")
        subject = str(claims.get("sub", ""))
        if not subject:
            raise TokenInvalid("ID token has no sub")
        email = str(claims.get("email", "")).strip().lower()
        # Entra ID sends no email_verified; its optional xms_edov claim says the domain owner verified the email.
        verified = claims.get("email_verified") in (True, "true") or claims.get("xms_edov") in (True, "true", 1, "1")
        hosted = str(claims.get("hd", "")).strip().lower()
        domain = hosted or (email.rsplit("@", 1)[1] if "@" in email else "")
        amr = claims.get("amr") or []
        return Identity(subject=subject, email=email, email_verified=verified, domain=domain,
                        name=str(claims.get("name") or claims.get("preferred_username") or "")[:120],
                        amr=tuple(str(a) for a in amr) if isinstance(amr, list) else ())


_clients: dict[tuple, OidcClient] = {}
_clients_lock = threading.Lock()


def client(settings: Settings | None = None) -> OidcClient:
    """The process-wide client for the configured provider (its caches survive across requests)."""
    settings = settings or get_settings()
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.public_url)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = OidcClient(settings)
        return _clients[key]


def availability(settings: Settings | None = None) -> tuple[bool, bool, str]:
    """(configured, usable, reason): the sign-in page and /health/ready use this."""
    settings = settings or get_settings()
    if not settings.sso_enabled:
        return False, False, ""
    ok, reason = client(settings).status()
    return True, ok, reason


def host_of(url: str) -> str:
    """The host part of a URL (for log lines that must not carry query strings)."""
    return urlparse(url).netloc


def reset_clients() -> None:
    """Forget cached clients (tests that change settings)."""
    with _clients_lock:
        _clients.clear()
