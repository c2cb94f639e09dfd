"""Login CSRF: a sign-in hand-off link works only in the browser that signed in (bound to its pre-sign-in
cookie), so a link carrying someone else's ticket signs nobody in to the attacker's account."""

from __future__ import annotations

import httpx

from tests.security.conftest import direct_url
from tests.unit.factories import actor_of, make_staff
from voxanne_admin import db
from voxanne_admin.auth import service as auth_service


def _attackers_ticket() -> str:
    with db.transaction() as session:
        user = make_staff(session, role="viewer")
        return auth_service.create_session(session, user=user, actor=actor_of(user))


def test_someone_elses_handoff_link_signs_nobody_in(api_server):
    ticket = _attackers_ticket()
    # The hand-off link as it was before the fixes (the ticket alone), opened in the victim's browser: refused,
    # no session cookie (before the fixes it signed the victim in to the attacker's account).
    for victim_cookies in ({"vx_presignin": "victims-own-cookie"}, {}):
        bare = httpx.get(f"{api_server}/api/auth/establish?ticket={ticket}", cookies=victim_cookies,
                         follow_redirects=False)
        assert (bare.status_code, bare.headers.get("location")) == (303, "/login?expired=1"), \
            "an unbound ticket signed this browser in"
        assert "vx_session" not in bare.headers.get("set-cookie", "")

    from voxanne_admin.api.auth import bound_establish_url

    link = bound_establish_url(ticket, "attackers-presignin-cookie")
    for victim_cookies in ({"vx_presignin": "victims-own-cookie"}, {}):
        response = httpx.get(api_server + link, cookies=victim_cookies, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login?expired=1"
        assert "vx_session" not in response.headers.get("set-cookie", "")

    # The browser that signed in (its cookie) still gets its session, once.
    own = httpx.get(api_server + link, cookies={"vx_presignin": "attackers-presignin-cookie"},
                    follow_redirects=False)
    assert own.status_code == 303 and own.headers["location"] == "/overview"
    attributes = [p.strip().lower() for p in own.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("vx_session=") and "samesite=strict" in attributes and "httponly" in attributes


def test_pages_give_the_browser_its_presignin_cookie(live_server):
    response = httpx.get(f"{direct_url(live_server)}/login/")
    assert response.status_code == 200
    cookie = response.headers.get("set-cookie", "")
    attributes = [p.strip().lower() for p in cookie.split(";")]
    assert attributes[0].startswith("vx_presignin=") and "httponly" in attributes
    again = httpx.Client(cookies={"vx_presignin": "kept"}).get(f"{direct_url(live_server)}/login/")
    assert "vx_presignin" not in again.headers.get("set-cookie", "")  # one per browser, not per page
