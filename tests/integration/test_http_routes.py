"""HTTP routes (health probes, session cookie hand-off) through Starlette's TestClient."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.unit.factories import actor_of, make_staff
from voxanne_admin import db, migrate
from voxanne_admin.api.app import build_api
from voxanne_admin.api.auth import ticket_proof
from voxanne_admin.auth import service as auth_service

BINDING = "this-browsers-presignin-cookie"


@pytest.fixture
def client(database_url) -> TestClient:
    with TestClient(build_api(), follow_redirects=False, cookies={"vx_presignin": BINDING}) as c:
        yield c


def _bound(ticket: str, **extra) -> dict:
    """Query of the hand-off link the sign-in handler gives this browser."""
    return {"ticket": ticket, "proof": ticket_proof(ticket, BINDING), **extra}


def _ticket(role: str = "viewer") -> tuple[int, str]:
    with db.transaction() as session:
        user = make_staff(session, role=role)
        return user.id, auth_service.create_session(session, user=user, actor=actor_of(user))


def test_health_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_answers_503_with_reasons_when_scheduler_not_running(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert "scheduler not running in this worker" in body["reasons"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["scheduler"] == "stopped"
    assert body["checks"]["migrations"] == {"current": migrate.head_revision(), "head": migrate.head_revision()}
    assert body["checks"]["migrations"]["head"]


def test_ready_drops_scheduler_reason_when_scheduler_running(client, monkeypatch):
    from voxanne_admin.jobs import scheduler

    monkeypatch.setattr(scheduler, "is_running", lambda: True)
    response = client.get("/health/ready")
    body = response.json()
    assert body["checks"]["scheduler"] == "running"
    assert not any("scheduler" in reason for reason in body["reasons"])
    # 200 exactly when nothing is wrong; otherwise 503 and the reasons say why.
    assert (response.status_code, body["status"]) == ((200, "ready") if not body["reasons"] else (503, "not ready"))


def test_ready_names_the_migration_gap_when_database_behind(client, monkeypatch):
    monkeypatch.setattr(migrate, "current_revision", lambda conn: None)
    body = client.get("/health/ready").json()
    assert body["checks"]["migrations"]["current"] is None
    assert any("migrations not at head" in r and "voxanne-admin db upgrade" in r for r in body["reasons"])


@pytest.mark.parametrize("query", ["", "?ticket=", "?ticket=not-a-real-ticket"])
def test_establish_redirects_to_login_without_cookie_when_ticket_bad(clean_db, client, query):
    response = client.get(f"/api/auth/establish{query}")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?expired=1"
    assert "set-cookie" not in response.headers


def test_establish_sets_httponly_strict_cookie_once_when_ticket_valid(clean_db, client):
    staff_id, ticket = _ticket()

    response = client.get("/api/auth/establish", params=_bound(ticket))

    assert response.status_code == 303
    assert response.headers["location"] == "/overview"
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("vx_session=")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert "max-age=604800" in attributes
    token = cookie.split(";")[0].split("=", 1)[1]
    with db.read_only() as session:
        staff = auth_service.resolve_session(session, token=token)
    assert staff is not None and staff.id == staff_id

    client.cookies.clear()
    client.cookies.set("vx_presignin", BINDING)
    again = client.get("/api/auth/establish", params=_bound(ticket))
    assert again.status_code == 303
    assert again.headers["location"] == "/login?expired=1"
    assert "set-cookie" not in again.headers


@pytest.fixture
def https_public_url(monkeypatch):
    from voxanne_admin.settings import get_settings

    monkeypatch.setenv("VOXANNE_PUBLIC_URL", "https://admin.voxanne.example")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # rebuilt from the restored environment on next use


def test_establish_cookie_secure_when_public_url_is_https(clean_db, https_public_url, client):
    _, ticket = _ticket()
    response = client.get("/api/auth/establish", params=_bound(ticket))
    assert "secure" in [part.strip().lower() for part in response.headers["set-cookie"].split(";")]


def test_establish_cookie_not_secure_over_plain_http(clean_db, client):
    _, ticket = _ticket()
    response = client.get("/api/auth/establish", params=_bound(ticket))
    assert "secure" not in [part.strip().lower() for part in response.headers["set-cookie"].split(";")]


def test_establish_redirects_to_the_requested_console_page(clean_db, client):
    _, ticket = _ticket()
    response = client.get("/api/auth/establish", params=_bound(ticket, next="/staff"))
    assert response.headers["location"] == "/staff"


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example", "/\\evil.example", "evil.example"])
def test_establish_never_redirects_off_site(clean_db, client, next_url):
    _, ticket = _ticket()
    response = client.get("/api/auth/establish", params=_bound(ticket, next=next_url))
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "set-cookie" in response.headers


def test_signed_out_clears_the_cookie(client):
    response = client.get("/api/auth/signed-out")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith('vx_session=""') or cookie.startswith("vx_session=;")
    assert "max-age=0" in cookie
