"""Single sign-on against a real OpenID Provider (node-oidc-provider on loopback) through our HTTP routes:
who gets in, what is refused and audited, TOTP after SSO, the session hand-off, and a broken issuer."""

from __future__ import annotations

import socket
import time
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from sqlmodel import select
from starlette.testclient import TestClient

from tests.oidc import op
from tests.unit.factories import actor_of, audit_events, make_staff
from voxanne_admin import db
from voxanne_admin.api.app import build_api
from voxanne_admin.auth import oidc, signin, sso
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import SsoLogin, StaffSession, StaffUser
from voxanne_admin.errors import InvalidInput
from voxanne_admin.settings import get_settings

PUBLIC = "http://localhost:3000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    handle = op.start(_free_port(), [PUBLIC + oidc.CALLBACK_PATH],
                      tmp_path_factory.mktemp("op") / "provider.log")
    yield handle
    handle.stop()


def _configure(monkeypatch, issuer: str, **extra: str) -> None:
    env = {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": op.CLIENT_ID, "OIDC_CLIENT_SECRET": op.CLIENT_SECRET,
           "OIDC_ALLOWED_DOMAINS": "clinic.test", "OIDC_PROVIDER_NAME": "Test IdP", **extra}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VOXANNE_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    oidc.reset_clients()


@pytest.fixture
def client(clean_db, provider, monkeypatch):
    _configure(monkeypatch, provider.issuer)
    # The pre-sign-in cookie every page response gives a browser (the hand-off link is bound to it).
    with TestClient(build_api(), follow_redirects=False, cookies={"vx_presignin": "sso-browser"}) as c:
        yield c
    get_settings.cache_clear()
    oidc.reset_clients()


def _staff(email: str, *, role: str = "operator", mfa: bool = True, disabled: bool = False) -> int:
    with db.transaction() as session:
        return make_staff(session, role=role, email=email, mfa=mfa, disabled=disabled).id or 0


def _to_idp(client: TestClient) -> str:
    response = client.get("/api/auth/oidc/start")
    assert response.status_code == 303
    assert "vx_oidc_state" in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]
    return response.headers["location"]


def _callback_path(location: str) -> str:
    url = urlparse(location)
    return f"{url.path}?{url.query}"


def _sign_in(client: TestClient, email: str, password: str, *, mfa: bool = False) -> str:
    """Start at our route, sign in at the OP, come back; returns where our callback sends the browser."""
    back = op.sign_in_at_op(_to_idp(client), email, password, mfa=mfa)
    response = client.get(_callback_path(back))
    assert response.status_code == 303
    return response.headers["location"]


def _password(email: str) -> str:
    return next(u["password"] for u in op.USERS if u["email"] == email)


def _failure_reasons() -> list[str]:
    with db.read_only() as session:
        return [e.diff.get("reason") for e in audit_events(session, "sso_login_failed")]


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def test_linked_staff_is_asked_for_totp_after_sso_by_default(client):
    staff_id = _staff("linked@clinic.test")
    target = _sign_in(client, "linked@clinic.test", _password("linked@clinic.test"))
    assert target.startswith("/login?sso_ticket=")
    with db.transaction() as session:
        assert sso.redeem_ticket(session, ticket=_query(target)["sso_ticket"]) == (staff_id, "/overview")
    with db.transaction() as session:
        assert sso.redeem_ticket(session, ticket=_query(target)["sso_ticket"]) is None  # once only
        user = session.get(StaffUser, staff_id)
        assert user.sso_subject.endswith("|linked@clinic.test")
        assert [e.diff["provider"] for e in audit_events(session, "sso_linked")] == ["Test IdP"]
        assert [e.diff["idp_mfa"] for e in audit_events(session, "sso_login")] == [False]
        # No session yet: TOTP comes first.
        assert session.exec(select(StaffSession).where(StaffSession.staff_id == staff_id)).first() is None


def test_trusted_idp_mfa_opens_the_session_without_totp(client, monkeypatch):
    monkeypatch.setenv("SSO_TRUST_IDP_MFA", "true")
    get_settings.cache_clear()
    staff_id = _staff("linked@clinic.test", mfa=False)
    target = _sign_in(client, "linked@clinic.test", _password("linked@clinic.test"), mfa=True)
    assert target.startswith("/api/auth/establish?ticket=")
    response = client.get(target)
    assert response.status_code == 303 and response.headers["location"] == "/overview"
    cookie = response.cookies.get("vx_session") or client.cookies.get("vx_session")
    assert cookie
    with db.transaction() as session:
        assert auth_service.resolve_session(session, token=cookie).id == staff_id
        rows = auth_service.list_sessions(session, staff_id=staff_id, current_session_id=None)
        assert [(r.provider) for r in rows] == ["Test IdP"]


def test_trusted_idp_mfa_still_asks_totp_when_amr_has_no_second_factor(client, monkeypatch):
    monkeypatch.setenv("SSO_TRUST_IDP_MFA", "true")
    get_settings.cache_clear()
    _staff("linked@clinic.test")
    target = _sign_in(client, "linked@clinic.test", _password("linked@clinic.test"), mfa=False)
    assert target.startswith("/login?sso_ticket=")


def test_unknown_user_is_refused_without_jit(client):
    target = _sign_in(client, "stranger@clinic.test", _password("stranger@clinic.test"))
    assert target == "/login?sso_error=unknown_user"
    assert _failure_reasons() == ["unknown user"]
    assert sso.message_for("unknown_user").startswith("There is no staff account for that email")


def test_unknown_user_of_an_allowed_domain_is_created_with_the_jit_role(client, monkeypatch):
    monkeypatch.setenv("SSO_JIT_ROLE", "viewer")
    get_settings.cache_clear()
    target = _sign_in(client, "jit@clinic.test", _password("jit@clinic.test"))
    assert target.startswith("/login?sso_ticket=")
    with db.read_only() as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == "jit@clinic.test")).one()
        assert (user.role, user.sso_only, user.name, user.mfa_enabled) == ("viewer", True, "Jit Newcomer", False)
        created = audit_events(session, "staff_created")
        assert created[-1].diff["role"]["after"] == "viewer"
        assert audit_events(session, "sso_linked")[-1].diff["just_in_time"] is True
    # A JIT account has no usable password.
    with db.transaction() as session:
        result = signin.authenticate_password(session, email="jit@clinic.test", password="anything-at-all",
                                                    actor=actor_of())
    assert not result.ok


def test_disallowed_domain_is_refused_even_with_jit(client, monkeypatch):
    monkeypatch.setenv("SSO_JIT_ROLE", "viewer")
    get_settings.cache_clear()
    target = _sign_in(client, "outsider@elsewhere.test", _password("outsider@elsewhere.test"))
    assert target == "/login?sso_error=wrong_domain"
    assert _failure_reasons() == ["wrong domain"]
    with db.read_only() as session:
        assert session.exec(select(StaffUser).where(StaffUser.email == "outsider@elsewhere.test")).first() is None


def test_google_hd_claim_admits_a_workspace_alias_domain(client):
    staff_id = _staff("workspace@alias.test")
    target = _sign_in(client, "workspace@alias.test", _password("workspace@alias.test"))
    with db.transaction() as session:
        assert sso.redeem_ticket(session, ticket=_query(target)["sso_ticket"])[0] == staff_id


def test_unverified_email_is_refused(client):
    _staff("unverified@clinic.test")
    target = _sign_in(client, "unverified@clinic.test", _password("unverified@clinic.test"))
    assert target == "/login?sso_error=unverified_email"
    assert _failure_reasons() == ["unverified email"]


def test_disabled_staff_cannot_sign_in_by_sso(client):
    _staff("disabled@clinic.test", disabled=True)
    target = _sign_in(client, "disabled@clinic.test", _password("disabled@clinic.test"))
    assert target == "/login?sso_error=disabled"
    assert _failure_reasons() == ["disabled"]


def test_mismatched_state_is_refused(client):
    _staff("linked@clinic.test")
    back = op.sign_in_at_op(_to_idp(client), "linked@clinic.test", _password("linked@clinic.test"))
    url = urlparse(back)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    response = client.get(url.path, params={**query, "state": "not-the-state-we-sent"})
    assert response.headers["location"] == "/login?sso_error=state_mismatch"
    assert _failure_reasons() == ["state mismatch"]


def test_callback_without_the_state_cookie_is_refused(client):
    _staff("linked@clinic.test")
    back = op.sign_in_at_op(_to_idp(client), "linked@clinic.test", _password("linked@clinic.test"))
    client.cookies.clear()  # another browser replays the callback URL
    response = client.get(_callback_path(back))
    assert response.headers["location"] == "/login?sso_error=state_mismatch"


def test_replayed_callback_is_refused(client):
    _staff("linked@clinic.test")
    back = op.sign_in_at_op(_to_idp(client), "linked@clinic.test", _password("linked@clinic.test"))
    cookie = client.cookies.get("vx_oidc_state")
    assert client.get(_callback_path(back)).headers["location"].startswith("/login?sso_ticket=")
    client.cookies.set("vx_oidc_state", cookie, path="/api/auth/oidc")
    assert client.get(_callback_path(back)).headers["location"] == "/login?sso_error=state_mismatch"


def test_replayed_authorization_code_is_refused_by_the_provider(client):
    idp = oidc.client()
    request = idp.authorization_request()
    back = op.sign_in_at_op(request.url, "linked@clinic.test", _password("linked@clinic.test"))
    code = _query(back)["code"]
    raw = idp.exchange_code(code, request.code_verifier)
    assert idp.validate_id_token(raw, nonce=request.nonce).email == "linked@clinic.test"
    with pytest.raises(oidc.TokenInvalid, match="invalid_grant"):
        idp.exchange_code(code, request.code_verifier)


def test_wrong_pkce_verifier_is_refused_by_the_provider(client):
    idp = oidc.client()
    request = idp.authorization_request()
    back = op.sign_in_at_op(request.url, "linked@clinic.test", _password("linked@clinic.test"))
    with pytest.raises(oidc.TokenInvalid, match="invalid_grant"):
        idp.exchange_code(_query(back)["code"], "x" * 64)


def test_wrong_nonce_from_the_provider_is_refused_as_token_invalid(client):
    _staff("linked@clinic.test")
    back = op.sign_in_at_op(_to_idp(client), "linked@clinic.test", _password("linked@clinic.test"))
    with db.transaction() as session:
        row = session.exec(select(SsoLogin)).one()
        row.nonce = "a-nonce-from-another-sign-in"
        session.add(row)
    assert client.get(_callback_path(back)).headers["location"] == "/login?sso_error=token_invalid"
    with db.read_only() as session:
        failure = audit_events(session, "sso_login_failed")[-1]
    assert failure.diff["reason"] == "token invalid" and "nonce" in failure.diff["detail"]


def test_idp_error_is_refused_with_a_clear_reason(client):
    _to_idp(client)
    with db.read_only() as session:
        session.exec(select(SsoLogin)).one()
    state = client.cookies.get("vx_oidc_state")
    response = client.get("/api/auth/oidc/callback", params={"error": "access_denied", "state": state})
    assert response.headers["location"] == "/login?sso_error=provider_error"


def test_broken_issuer_makes_sso_unavailable_but_keeps_password_sign_in(clean_db, monkeypatch):
    _configure(monkeypatch, f"http://127.0.0.1:{_free_port()}")
    with db.transaction() as session:
        user = make_staff(session, email="linked@clinic.test")
    try:
        with TestClient(build_api(), follow_redirects=False) as c:
            assert c.get("/api/auth/oidc/start").headers["location"] == "/login?sso_error=unavailable"
            ready = c.get("/health/ready").json()
            assert ready["checks"]["sso"].startswith("unavailable: OIDC discovery")
            assert not any("sso" in reason.lower() for reason in ready["reasons"])
        with db.transaction() as session:
            result = signin.authenticate_password(session, email=user.email, password="copper-lantern-orbit"
                                                        "-meadow-42", actor=actor_of())
        assert result.ok
    finally:
        get_settings.cache_clear()
        oidc.reset_clients()


def test_sso_only_staff_cannot_use_a_password_but_founders_keep_it(client):
    with db.transaction() as session:
        admin = make_staff(session, role="admin", email="admin@clinic.test")
        viewer = make_staff(session, role="viewer", email="viewer@clinic.test")
        founder = make_staff(session, role="founder", email="founder@clinic.test")
        sso.set_sso_only(session, actor_user=admin, staff_id=viewer.id, sso_only=True, actor=actor_of(admin))
        with pytest.raises(InvalidInput, match="Founders keep password"):
            sso.set_sso_only(session, actor_user=admin, staff_id=founder.id, sso_only=True, actor=actor_of(admin))
        assert audit_events(session, "staff_sso_only_changed")[-1].target_id == str(viewer.id)
    with db.transaction() as session:
        refused = signin.authenticate_password(session, email="viewer@clinic.test",
                                                     password="copper-lantern-orbit-meadow-42", actor=actor_of())
        allowed = signin.authenticate_password(session, email="founder@clinic.test",
                                                     password="copper-lantern-orbit-meadow-42", actor=actor_of())
    assert not refused.ok and "single sign-on only" in refused.message
    assert allowed.ok


def test_ready_reports_sso_ok_when_the_provider_answers(client):
    assert client.get("/health/ready").json()["checks"]["sso"] == "ok"


def test_failed_sso_attempts_count_towards_the_ip_limit(client, monkeypatch):
    monkeypatch.setenv("LOGIN_IP_LIMIT", "10")
    get_settings.cache_clear()
    for _ in range(10):
        assert client.get("/api/auth/oidc/callback", params={"state": "x", "code": "y"}).headers["location"] \
            == "/login?sso_error=state_mismatch"
    assert client.get("/api/auth/oidc/callback", params={"state": "x", "code": "y"}).headers["location"] \
        == "/login?sso_error=rate_limited"
    assert sso.message_for("rate_limited").startswith("Too many sign-in attempts")


def test_cli_makes_a_staff_member_sso_only(client):
    from typer.testing import CliRunner

    from voxanne_admin.cli import app

    _staff("viewer@clinic.test", role="viewer")
    result = CliRunner().invoke(app, ["staff-sso-only", "viewer@clinic.test", "--on"])
    assert result.exit_code == 0, result.output
    assert "single sign-on only" in result.output
    with db.read_only() as session:
        assert session.exec(select(StaffUser).where(StaffUser.email == "viewer@clinic.test")).one().sso_only
        assert audit_events(session, "staff_sso_only_changed")[-1].actor_id == "cli"
    founder = _staff("founder@clinic.test", role="founder")
    refused = CliRunner().invoke(app, ["staff-sso-only", "founder@clinic.test", "--on"])
    assert refused.exit_code == 1 and "Founders keep password" in refused.output
    with db.read_only() as session:
        assert session.get(StaffUser, founder).sso_only is False


def test_every_refusal_reason_has_its_own_sentence():
    reasons = ["wrong domain", "unverified email", "unknown user", "token invalid", "disabled", "state mismatch"]
    sentences = {sso.message_for(r.replace(" ", "_")) for r in reasons}
    assert len(sentences) == len(reasons)
    assert sso.message_for("<script>") == sso.MESSAGES["token invalid"]  # unknown codes: the generic sentence


class _FakeSignInPage:
    """Just enough of AuthFlowState to run its sign-in handlers outside Reflex (the query string, the socket)."""

    def __init__(self, **query: str):
        from types import MethodType, SimpleNamespace

        from voxanne_admin.ui.pages.auth.state import AuthFlowState

        self.router = SimpleNamespace(url=SimpleNamespace(query_parameters=query),
                                      headers=SimpleNamespace(cookie="", user_agent="pytest-browser"),
                                      session=SimpleNamespace(client_ip="203.0.113.9"))
        self.step, self.errors, self.notice, self.sso_label, self.sso_down = "form", {}, "", "", False
        self.qr_data_uri = self.totp_secret = ""
        self.recovery_codes = []
        for name in ("_reset_flow", "_load_sso", "_redeem_sso", "_start_enrolment", "_pending"):
            setattr(self, name, MethodType(AuthFlowState.__dict__[name], self))
        self.check_login = MethodType(AuthFlowState.event_handlers["check_login"].fn, self)


def test_sign_in_page_shows_the_button_and_a_refusal_sentence(client):
    _staff("someone@clinic.test")
    page = _FakeSignInPage(sso_error="wrong_domain")
    page.check_login()
    assert (page.sso_label, page.sso_down) == ("Sign in with Test IdP", False)
    assert page.errors == {"form": sso.MESSAGES["wrong domain"]}


def test_sign_in_page_asks_for_totp_after_sso_with_the_provider_named(client):
    staff_id = _staff("linked@clinic.test")
    target = _sign_in(client, "linked@clinic.test", _password("linked@clinic.test"))
    page = _FakeSignInPage(sso_ticket=_query(target)["sso_ticket"])
    page.check_login()
    assert (page.step, page._pending_staff_id, page._pending_provider) == ("code", staff_id, "Test IdP")
    again = _FakeSignInPage(sso_ticket=_query(target)["sso_ticket"])
    again.check_login()
    assert again.step == "form" and again.errors == {"form": sso.MESSAGES["state mismatch"]}


def test_sign_in_page_says_sso_is_unavailable_when_discovery_fails(clean_db, monkeypatch):
    _configure(monkeypatch, f"http://127.0.0.1:{_free_port()}")
    _staff("someone@clinic.test")
    try:
        page = _FakeSignInPage()
        page.check_login()
        assert (page.sso_label, page.sso_down, page.step) == ("Sign in with Test IdP", True, "form")
    finally:
        get_settings.cache_clear()
        oidc.reset_clients()


def test_sso_only_flag_is_dormant_when_sso_is_not_configured(clean_db, monkeypatch):
    monkeypatch.delenv("OIDC_ISSUER", raising=False)
    get_settings.cache_clear()
    with db.transaction() as session:
        user = make_staff(session, role="viewer", email="viewer@clinic.test")
        user.sso_only = True
        session.add(user)
    with db.transaction() as session:
        result = signin.authenticate_password(session, email="viewer@clinic.test",
                                                    password="copper-lantern-orbit-meadow-42", actor=actor_of())
    assert result.ok


def test_relinked_idp_account_is_refused_until_unlinked(client):
    from typer.testing import CliRunner

    from voxanne_admin.cli import app

    staff_id = _staff("linked@clinic.test")
    with db.transaction() as session:
        session.get(StaffUser, staff_id).sso_subject = "someone-else-at-the-idp"
    target = _sign_in(client, "linked@clinic.test", _password("linked@clinic.test"))
    assert target == "/login?sso_error=account_changed"
    result = CliRunner().invoke(app, ["staff-sso-unlink", "linked@clinic.test"])
    assert result.exit_code == 0, result.output
    assert _sign_in(client, "linked@clinic.test", _password("linked@clinic.test")).startswith("/login?sso_ticket=")
    with db.read_only() as session:
        assert [e.actor_id for e in audit_events(session, "sso_unlinked")] == ["cli"]


def test_two_first_sso_sign_ins_at_once_create_one_jit_account(client, monkeypatch):
    """Two callbacks of one new person racing: the second waits for the first's account instead of a 500."""
    import threading

    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth.oidc import Identity

    monkeypatch.setenv("SSO_JIT_ROLE", "viewer")
    get_settings.cache_clear()
    identity = Identity(subject="race-1", email="racer@clinic.test", email_verified=True, domain="clinic.test",
                        name="Race Condition", amr=())
    actor = Actor(type="anonymous", ip="127.0.0.1")
    first_decided, results, errors = threading.Event(), [], []

    def first() -> None:
        try:
            with db.transaction() as session:
                results.append(sso.decide(session, identity=identity, issuer="iss", provider="Test", actor=actor).ok)
                first_decided.set()
                time.sleep(1.0)  # hold the new account uncommitted while the second callback arrives
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_decided.set()

    def second() -> None:
        first_decided.wait(10)
        try:
            with db.transaction() as session:
                results.append(sso.decide(session, identity=identity, issuer="iss", provider="Test", actor=actor).ok)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and results == [True, True]
    with db.read_only() as session:
        rows = session.execute(sa.text("select count(*) from staff_users where email = 'racer@clinic.test'"))
        assert rows.scalar() == 1
