"""Failover on real processes: two replicas behind HAProxy on one PostgreSQL and one Redis (tests/scale/conftest.py).

What a team relying on the fleet needs: webhooks applied exactly once whichever replica gets them (and when one
dies mid-stream), each job tick run once, a flag change seen everywhere within a second, metrics scrapeable, and a
SIGTERM that drains instead of dropping work. Browser journeys across replicas are in test_zz_browser_failover.py
(run last). A test that stops a replica brings it back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.scale.conftest import REDIS_URL, WEBHOOK_SECRET, Fleet
from voxanne_admin.webhooks.signatures import vapi_hmac


def _message(call_id: str, status: str) -> bytes:
    return json.dumps({"message": {"type": "status-update", "status": status,
                                   "call": {"id": call_id, "status": status}}}).encode()


def _post(client: httpx.Client, url: str, body: bytes, replica: str | None = None, attempts: int = 5) -> dict:
    """POST a signed webhook as Vapi does: retried on a connection error or a 5xx (the provider's retry)."""
    headers = {"content-type": "application/json", "x-vapi-signature": vapi_hmac(WEBHOOK_SECRET, body)}
    if replica:
        headers["x-voxanne-replica"] = replica
    for attempt in range(attempts):
        try:
            response = client.post(url, content=body, headers=headers)
            if response.status_code < 500:
                assert response.status_code == 200, response.text
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2 * (attempt + 1))
    raise AssertionError(f"webhook not accepted after {attempts} attempts")


def _wait_drained(fleet: Fleet, expected: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = fleet.scalar("select count(*) from webhook_events where status in ('pending', 'processing')")
        total = fleet.scalar("select count(*) from webhook_events where provider = 'vapi'")
        if total >= expected and left == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"inbox not drained: {left} left of {total}")


def _samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


@pytest.fixture(autouse=True)
def both_replicas(fleet):
    """Every test starts with both replicas up (a test that stopped one brings it back at its end)."""
    for name in fleet.replicas:
        fleet.ensure_up(name)


def test_two_replicas_starting_together_migrate_and_seed_once(fleet):
    from voxanne_admin import migrate
    from voxanne_admin.orgs.service import DEMO_ORGS

    assert fleet.rows("select version_num from alembic_version") == [(migrate.head_revision(),)]
    slugs = [slug for _name, slug, _country, _tz in DEMO_ORGS]
    assert fleet.scalar("select count(*) from organizations where slug = any(:s)", s=slugs) == len(slugs)
    assert fleet.scalar("select count(*) from organizations") == len(slugs)
    # both replicas serve the identical frontend build (one .web, built once under the build lock)
    pages = [httpx.get(f"{r.base}/login", timeout=10, follow_redirects=True).text for r in fleet.replicas.values()]
    assert pages[0] == pages[1] and "<script" in pages[0]


def test_2000_webhooks_with_duplicates_on_the_other_replica_are_applied_once(fleet):
    calls = [f"fleet-dup-{i}" for i in range(500)]
    messages = [_message(c, s) for c in calls for s in ("ringing", "ended")]  # 1,000 distinct events
    url = f"{fleet.base}/webhooks/vapi"
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        # each event once pinned to app1 and once to app2, both through the proxy: 2,000 requests
        jobs = [pool.submit(_post, client, url, m, replica) for m in messages for replica in ("app1", "app2")]
        answers = [j.result() for j in jobs]
    assert len(answers) == 2000
    assert all("duplicate" in a for a in answers), [a for a in answers if "duplicate" not in a][:3]
    assert sum(1 for a in answers if a["duplicate"]) == 1000
    _wait_drained(fleet, 1000)
    rows = fleet.rows("""select count(*) filter (where status = 'completed'), count(*) from webhook_events
                         where call_id like 'fleet-dup-%'""")
    assert rows == [(1000, 1000)]
    assert fleet.scalar("""select count(*) from (select a.event_id from webhook_attempts a
                             join webhook_events e on e.id = a.event_id
                            where e.call_id like 'fleet-dup-%' and a.outcome = 'completed'
                            group by a.event_id having count(*) > 1) twice""") == 0
    assert fleet.scalar("select count(*) from calls where vapi_call_id like 'fleet-dup-%'") == 500
    assert fleet.scalar("select count(*) from calls where vapi_call_id like 'fleet-dup-%' and status = 'ended'") == 500


def test_flag_change_on_one_replica_is_seen_by_the_other_within_a_second(fleet, monitoring_token):
    headers = {"Authorization": f"Bearer {monitoring_token}"}
    key, enabled = fleet.rows("select key, enabled from feature_flags where not protected and archived_at is null "
                              "order by key limit 1")[0]
    app1, app2 = fleet.replicas["app1"].base, fleet.replicas["app2"].base
    evaluate = f"{app2}/api/feature-flags/evaluate?org=harbor-dental"
    # a first read warms app2's snapshot, so what follows measures propagation, not a cold load
    assert httpx.get(evaluate, headers=headers, timeout=10).status_code == 200
    for target in (not enabled, enabled):
        changed = httpx.patch(f"{app1}/api/feature-flags/{key}", json={"enabled": target, "rollout": 100},
                              headers=headers, timeout=10)
        assert changed.status_code == 200, changed.text
        started = time.monotonic()
        while True:
            seen = httpx.get(evaluate, headers=headers, timeout=10).json()["flags"][key]
            if seen is target:
                break
            assert time.monotonic() - started < 1.0, f"app2 still answers {seen} for {key} after 1 s"
            time.sleep(0.05)


def test_metrics_are_scraped_from_each_replica_with_a_token(fleet, monitoring_token):
    headers = {"Authorization": f"Bearer {monitoring_token}"}
    for name, replica in fleet.replicas.items():
        assert httpx.get(f"{replica.base}/metrics", timeout=10).status_code == 401
        response = httpx.get(f"{replica.base}/metrics", headers=headers, timeout=10)
        assert response.status_code == 200, name
        samples = _samples(response.text)
        webhooks = [s for s in samples["voxanne_http_requests_total"]
                    if s.labels["route"] == "/webhooks/vapi" and s.labels["status"] == "200"]
        assert webhooks and sum(s.value for s in webhooks) >= 1000, name  # the pinned half of the 2,000
        assert samples["voxanne_database_up"][0].value == 1
        assert any(s.labels["status"] == "completed" and s.value >= 1000 for s in samples["voxanne_inbox_events"])
    assert httpx.get(f"{fleet.base}/metrics", headers=headers, timeout=10).status_code == 404  # not published


def test_replica_on_another_migration_head_is_not_ready(fleet):
    from voxanne_admin import migrate

    head = migrate.head_revision()
    with fleet.engine.begin() as conn:
        conn.exec_driver_sql("update alembic_version set version_num = '0001'")
    try:
        response = httpx.get(f"{fleet.replicas['app1'].base}/health/ready", timeout=10)
        assert response.status_code == 503
        assert any("migrations not at head" in r and head in r for r in response.json()["reasons"])
    finally:
        with fleet.engine.begin() as conn:
            conn.exec_driver_sql(f"update alembic_version set version_num = '{head}'")
    fleet.wait_proxy_routes_to("app1")


def test_unreachable_redis_at_start_refuses_with_the_reason(fleet, tmp_path):
    env = dict(fleet.env, PORT="1", VOXANNE_DATA_DIR=str(tmp_path), REDIS_URL="redis://:hunter2@127.0.0.1:1/0",
               VOXANNE_WORKERS="2")
    proc = subprocess.run([sys.executable, "-m", "voxanne_admin.cli", "serve"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "REDIS_URL (redis://:***@127.0.0.1:1/0) does not answer" in proc.stderr
    assert "2 backend worker(s)" in proc.stderr and "hunter2" not in proc.stderr + proc.stdout
    assert REDIS_URL  # the fleet's own Redis was never touched by this


def test_each_job_tick_runs_once_across_replicas(fleet):
    # the every-minute job ticks while both replicas run (the module takes more than a minute; wait if not)
    deadline = time.monotonic() + 75
    while not fleet.scalar("select count(*) from job_runs where trigger = 'schedule' and tick is not null"):
        assert time.monotonic() < deadline, "no scheduled job tick recorded"
        time.sleep(1)
    ticks = fleet.rows("select job_name, tick, count(*) from job_runs where tick is not null "
                       "group by job_name, tick having count(*) > 1")
    assert ticks == []
    # A run is skipped only while another run of the same job holds its lock (a slow tick overlapping the next
    # one, on a loaded machine): a skip with no such run beside it would be a lock that outlived its run.
    unexplained = fleet.rows(
        "select s.job_name, s.started_at, s.worker from job_runs s where s.outcome = 'skipped' and not exists ("
        " select 1 from job_runs o where o.job_name = s.job_name and o.id <> s.id and o.outcome <> 'skipped'"
        " and o.started_at <= s.started_at and (o.finished_at is null or o.finished_at >= s.started_at))")
    assert unexplained == []


def test_sigterm_drains_finishes_its_work_and_exits_within_30s(fleet):
    fleet.ensure_up("app2")
    replica = fleet.replicas["app2"]
    assert replica.proc is not None
    calls = [f"fleet-term-{i}" for i in range(150)]
    messages = [_message(c, s) for c in calls for s in ("ringing", "ended")]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(6) as pool:
        jobs = [pool.submit(_post, client, f"{fleet.base}/webhooks/vapi", m) for m in messages[:150]]
        time.sleep(0.3)
        started = time.monotonic()
        replica.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{replica.base}/health/ready", timeout=5)
        assert ready.status_code == 503
        assert any("shutting down" in r for r in ready.json()["reasons"])
        jobs += [pool.submit(_post, client, f"{fleet.base}/webhooks/vapi", m) for m in messages[150:]]
        answers = [j.result() for j in jobs]
    replica.proc.wait(30)
    assert time.monotonic() - started < 30
    assert replica.proc.returncode == 0
    assert not any(a["duplicate"] for a in answers)
    _wait_drained(fleet, 300)
    assert fleet.scalar("select count(*) from webhook_events where call_id like 'fleet-term-%' "
                        "and status = 'completed'") == 300
    # its connections (and with them every advisory lock and lease it held) are gone
    port = replica.port
    assert fleet.scalar("select count(*) from pg_stat_activity where application_name = :n",
                        n=f"voxanne-admin:{port}") == 0
    fleet.ensure_up("app2")


def test_sigkill_mid_stream_loses_nothing_and_applies_nothing_twice(fleet):
    fleet.ensure_up("app2")
    calls = [f"fleet-kill-{i}" for i in range(300)]
    messages = [_message(c, s) for c in calls for s in ("ringing", "ended")]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(_post, client, f"{fleet.base}/webhooks/vapi", m) for m in messages]
        while sum(j.done() for j in jobs) < 200:
            time.sleep(0.02)
        fleet.kill("app2")
        answers = [j.result() for j in jobs]
    assert len(answers) == 600
    _wait_drained(fleet, 600, timeout=180)  # app2's leased events come back to app1 when the lease expires
    assert fleet.rows("""select count(*), count(*) filter (where status = 'completed') from webhook_events
                         where call_id like 'fleet-kill-%'""") == [(600, 600)]
    assert fleet.scalar("""select count(*) from (select a.event_id from webhook_attempts a
                             join webhook_events e on e.id = a.event_id
                            where e.call_id like 'fleet-kill-%' and a.outcome = 'completed'
                            group by a.event_id having count(*) > 1) twice""") == 0
    assert fleet.scalar("select count(*) from calls where vapi_call_id like 'fleet-kill-%' and status = 'ended'") \
        == 300
    fleet.ensure_up("app2")  # at once: a dead replica's port must not sit free for another process to take
