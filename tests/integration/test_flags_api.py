"""Feature flags over HTTP (a second process: the API server) and the CLI: tokens and scopes, evaluate, PATCH,
Unleash's client API read by the official UnleashClient SDK, propagation to the other process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from tests.conftest import ROOT
from voxanne_admin import db
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth import tokens
from voxanne_admin.flags import flows, snapshot, unleash
from voxanne_admin.flags.evaluator import is_on
from voxanne_admin.orgs import service as org_service


def _staff(role: str, email: str, scopes: list[str] | None = None) -> str:
    with db.transaction() as session:
        user = auth_service.create_staff(session, email=email, name=role.title(), role=role,
                                         password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
        return tokens.create(session, staff_id=user.id, name="script", actor=Actor(), scopes=scopes)


@pytest.fixture
def orgs(clean_db):
    with db.transaction() as session:
        org_service.seed_demo(session, actor=Actor())
    with db.read_only() as session:
        return {o.slug: o.id for o in org_service.list_organizations(session)}


def _h(token: str, bare: bool = False) -> dict:
    return {"Authorization": token if bare else f"Bearer {token}"}


def test_list_and_evaluate_answer_with_reasons(api_server, orgs):
    viewer = _staff("viewer", "v@clinic.example")
    assert httpx.get(f"{api_server}/api/feature-flags").status_code == 401
    listed = httpx.get(f"{api_server}/api/feature-flags", headers=_h(viewer)).json()
    assert len(listed) == 10 and {"key", "type", "enabled", "rollout"} <= set(listed[0])
    slug = next(iter(orgs))
    answer = httpx.get(f"{api_server}/api/feature-flags/evaluate", params={"org": slug}, headers=_h(viewer)).json()
    assert answer["org"] == slug and answer["flags"]["outbound_calling"] is True
    assert answer["flags"]["lead_scoring"] is False and answer["reasons"]["lead_scoring"] == "disabled"
    missing = httpx.get(f"{api_server}/api/feature-flags/evaluate", params={"org": "nowhere"}, headers=_h(viewer))
    assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]
    assert httpx.get(f"{api_server}/api/feature-flags/no_such", headers=_h(viewer)).status_code == 404


def test_patch_is_admin_only_validated_and_version_checked(api_server, orgs):
    viewer = _staff("viewer", "v@clinic.example")
    admin = _staff("admin", "a@clinic.example")
    url = f"{api_server}/api/feature-flags/lead_scoring"
    assert httpx.patch(url, json={"enabled": True}, headers=_h(viewer)).status_code == 403
    bad = httpx.patch(url, json={"rollout": 150}, headers=_h(admin))
    assert bad.status_code == 422 and "between 0 and 100" in bad.json()["detail"]
    version = httpx.get(url, headers=_h(admin)).json()["version"]
    ok = httpx.patch(url, json={"enabled": True, "rollout": 10, "version": version}, headers=_h(admin))
    assert ok.status_code == 200 and ok.json()["rollout"] == 10
    stale = httpx.patch(url, json={"rollout": 50, "version": version}, headers=_h(admin))
    assert stale.status_code == 409 and "changed by someone else" in stale.json()["detail"]
    assert httpx.patch(f"{api_server}/api/feature-flags/nope", json={"enabled": True},
                       headers=_h(admin)).status_code == 404
    created = httpx.post(f"{api_server}/api/feature-flags", headers=_h(admin),
                         json={"key": "night_mode", "name": "Night mode", "type": "release"})
    assert created.status_code == 201 and created.json()["enabled"] is False
    duplicate = httpx.post(f"{api_server}/api/feature-flags", headers=_h(admin),
                           json={"key": "night_mode", "name": "Again", "type": "release"})
    assert duplicate.status_code == 409 and "exists already" in duplicate.json()["detail"]
    malformed = httpx.post(f"{api_server}/api/feature-flags", headers=_h(admin),
                           json={"key": "Night-Mode", "name": "Bad", "type": "release"})
    assert malformed.status_code == 422 and "lower_snake_case" in malformed.json()["detail"]


def test_token_scopes_limit_what_a_token_reaches(api_server, orgs):
    monitoring_only = _staff("admin", "m@clinic.example", scopes=["monitoring"])
    refused = httpx.get(f"{api_server}/api/feature-flags", headers=_h(monitoring_only))
    assert refused.status_code == 403 and "'flags' scope" in refused.json()["detail"]
    reader = _staff("admin", "r@clinic.example", scopes=["flags"])
    assert httpx.get(f"{api_server}/api/feature-flags", headers=_h(reader)).status_code == 200
    assert httpx.patch(f"{api_server}/api/feature-flags/lead_scoring", json={"enabled": True},
                       headers=_h(reader)).status_code == 403
    with pytest.raises(Exception, match="cannot hold the 'flags:write' scope"):
        _staff("viewer", "vw@clinic.example", scopes=["flags:write"])


def test_unleash_sdk_gets_the_same_answer_as_our_evaluator(api_server, orgs):
    from UnleashClient import UnleashClient

    slugs = sorted(orgs)
    flows.update(key="lead_scoring", changes={"enabled": True, "rollout": 50, "constraints": [
        {"attribute": "country", "operator": "not_in", "values": ["TR"]}]}, actor=Actor(), actor_role="admin")
    flows.set_override(key="sms_campaigns", org_slug=slugs[0], value="on", reason="pilot", actor=Actor(),
                       actor_role="admin")
    flows.set_override(key="knowledge_base", org_slug=slugs[1], value="off", reason="opted out", actor=Actor(),
                       actor_role="admin")
    flows.update(key="advanced_analytics", changes={"enabled": True, "rollout": 37}, actor=Actor(),
                 actor_role="admin")
    token = _staff("viewer", "sdk@clinic.example", scopes=["flags"])
    body = httpx.get(f"{api_server}/api/client/features", headers=_h(token, bare=True)).json()
    assert body["version"] == 2 and len(body["features"]) == len(snapshot.reload().flags)
    lead = next(f for f in body["features"] if f["name"] == "lead_scoring")
    assert lead["strategies"][-1]["parameters"] == {"rollout": "50", "stickiness": "orgId", "groupId": "lead_scoring"}
    client = UnleashClient(url=f"{api_server}/api", app_name="voxanne-tests", custom_headers=_h(token, bare=True),
                           refresh_interval=60, metrics_interval=60, cache_directory=tempfile.mkdtemp())
    client.initialize_client()
    try:
        snap = snapshot.reload()
        compared = 0
        for org_id in orgs.values():
            ctx = snap.orgs[org_id]
            for key, flag in snap.flags.items():
                assert client.is_enabled(key, unleash.org_context(ctx)) == is_on(flag, ctx), (key, ctx.slug)
                compared += 1
        assert compared == 10 * len(orgs)
    finally:
        client.destroy()


def test_kill_switch_reaches_the_other_process_and_stops_outbound(api_server, orgs):
    admin = _staff("admin", "k@clinic.example")
    slug = sorted(orgs)[0]
    url = f"{api_server}/api/feature-flags/evaluate"
    assert httpx.get(url, params={"org": slug}, headers=_h(admin)).json()["flags"]["outbound_calling"] is True
    flows.kill(key="outbound_calling", confirm_key="outbound_calling", actor=Actor(), actor_role="operator")
    started = time.monotonic()
    while httpx.get(url, params={"org": slug}, headers=_h(admin)).json()["flags"]["outbound_calling"]:
        assert time.monotonic() - started < 20, "the API process never heard the change"
        time.sleep(0.02)
    import asyncio

    from voxanne_admin.calls import flows as outbound

    result = asyncio.run(outbound.preflight(org_id=orgs[slug], to="(201) 555-0143"))
    assert result.first_failure == "Outbound calling is turned off for this organization"


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voxanne_admin.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_lists_sets_evaluates_and_creates_tokens(orgs, clean_db):
    env = {**os.environ, "DATABASE_URL": clean_db}
    env.pop("VOXANNE_RESOLVED_DATABASE_URL", None)
    listed = [json.loads(line) for line in _cli("flags", "list", env=env).stdout.splitlines()]
    assert {"key": "outbound_calling", "type": "kill_switch", "enabled": True, "rollout": 100}.items() <= \
        next(f for f in listed if f["key"] == "outbound_calling").items()
    slug = sorted(orgs)[0]
    set_ = _cli("flags", "set", "lead_scoring", "--enabled", "true", "--rollout", "100", env=env)
    assert set_.returncode == 0 and json.loads(set_.stdout)["rollout"] == 100
    evaluated = json.loads(_cli("flags", "evaluate", "lead_scoring", "--org", slug, env=env).stdout)
    assert evaluated["flag"] == "lead_scoring" and evaluated["org"] == slug and evaluated["enabled"] is True
    assert evaluated["reason"].startswith("rollout ")
    override = _cli("flags", "set", "lead_scoring", "--org", slug, "--override", "off", env=env)
    assert override.returncode == 0, override.stderr
    assert json.loads(_cli("flags", "evaluate", "lead_scoring", "--org", slug, env=env).stdout)["enabled"] is False
    bad = _cli("flags", "set", "lead_scoring", "--rollout", "150", env=env)
    assert bad.returncode == 1 and "between 0 and 100" in bad.stderr
    unknown = _cli("flags", "evaluate", "nope", "--org", slug, env=env)
    assert unknown.returncode == 1 and "'nope'" in unknown.stderr
    with db.transaction() as session:
        auth_service.create_staff(session, email="ops@clinic.example", name="Ops", role="operator",
                                  password="velvet orchid kestrel 41", actor=Actor(), actor_role="founder")
    created = _cli("tokens", "create", "--email", "ops@clinic.example", "--name", "monitor", "--scope", "flags",
                   env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    with db.read_only() as session:
        staff = tokens.resolve(session, token=token)
    assert staff is not None and staff.email == "ops@clinic.example" and staff.scopes == ("flags",)
