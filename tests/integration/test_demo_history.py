"""The demo's history: what `serve --demo` / `seed-demo` load into an empty database, once, without staff."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from tests.integration.conftest import _scalar
from voxanne_admin import db, demo_history
from voxanne_admin.jobs.registry import JOBS
from voxanne_admin.webhooks import flows as inbox_flows
from voxanne_admin.webhooks import service as inbox

CALLS = 1500
POOL = 200  # a small conversation pool keeps the load quick here; the demo's own size is timed in the README
TABLES = ["organizations", "agents", "staff_users", "calls", "appointments", "webhook_events", "webhook_attempts",
          "job_runs", "audit_events", "call_stats_daily"]


def _rows(sql: str, **params) -> list:
    with db.get_engine().connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def _counts() -> dict[str, int]:
    return {t: _scalar(f"select count(*) from {t}") for t in TABLES}  # noqa: S608 (fixed names)


def test_demo_history_loads_calls_appointments_inbox_and_job_runs_when_empty(clean_db):
    created, result = demo_history.load_demo(calls=CALLS, pool_size=POOL)
    assert created == 4 and result.skipped == ""
    assert _scalar("select count(*) from calls") == CALLS == result.calls
    assert _scalar("select count(distinct org_id) from calls") >= 3
    assert _scalar("select min(started_at) from calls where started_at is not null") < _scalar(
        "select now() - interval '80 days'")
    assert _scalar("select count(*) from call_stats_daily") > 0  # the Overview charts read the rollup
    assert _scalar("select count(*) from appointments") == result.appointments > 0
    assert _scalar("select count(*) from appointments where starts_at > now()") > 0
    statuses = dict(_rows("select status, count(*) from webhook_events group by status"))
    assert statuses["dead_letter"] == 3 == result.dead_letters
    assert statuses["completed"] == result.webhook_events - 3 > 20
    assert _scalar("select count(*) from webhook_events where received_at < now() - interval '24 hours' "
                   "and status = 'completed'") == 0  # the inbox purge would delete them at once
    outcomes = dict(_rows("select outcome, count(*) from webhook_attempts group by outcome"))
    # Each dead letter failed twice before its last attempt; four events were applied at their second attempt.
    assert outcomes == {"dead_letter": 3, "failed": 3 * 2 + 4, "completed": result.webhook_events - 3}
    assert _scalar("select count(*) from webhook_attempts") == result.webhook_attempts
    assert _scalar("select count(*) from webhook_events where status = 'dead_letter' and last_error is null") == 0
    assert _scalar("select count(*) from audit_events where action = 'webhook_dead_lettered'") == 3
    assert _scalar("select count(*) from job_runs") == result.job_runs
    simulated = set(JOBS) - demo_history.NOT_SIMULATED  # backups, verifications and drills are only ever real
    assert _scalar("select count(distinct job_name) from job_runs") == len(simulated)
    assert _scalar("select count(*) from job_runs where outcome = 'failed' and error is not null") == 2
    now = datetime.now(UTC)
    for spec in JOBS.values():  # the scheduler's current tick is left to the scheduler
        assert _scalar("select count(*) from job_runs where job_name = :j and tick >= :t", j=spec.name,
                       t=spec.tick_for(now)) == 0
    assert _scalar("select count(*) from staff_users") == 0
    [seeded] = _rows("select actor_id, diff from audit_events where action = 'calls_seeded'")
    assert seeded.actor_id == "seed-demo" and seeded.diff["rows"] == CALLS
    [loaded] = _rows("select actor_id, diff from audit_events where action = 'demo_history_loaded'")
    assert loaded.actor_id == "seed-demo" and loaded.diff["calls"] == CALLS
    assert loaded.diff["job_runs"] == result.job_runs and loaded.diff["dead_letters"] == 3


def test_demo_history_second_load_adds_no_rows(clean_db):
    demo_history.load_demo(calls=CALLS, pool_size=POOL)
    before = _counts()
    created, result = demo_history.load_demo(calls=CALLS, pool_size=POOL)
    assert created == 0 and result.skipped == "the demo history is loaded already"
    assert _counts() == before


def test_demo_history_two_processes_starting_at_once_load_it_once(clean_db):
    results = []

    def start() -> None:
        results.append(demo_history.load_demo(calls=CALLS, pool_size=POOL))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(created for created, _r in results) == [0, 4]
    assert sorted(r.calls for _c, r in results) == [0, CALLS]
    assert _scalar("select count(*) from calls") == CALLS
    assert _scalar("select count(*) from organizations") == 4
    assert _scalar("select count(*) from audit_events where action = 'demo_history_loaded'") == 1


def test_demo_history_not_loaded_over_calls_of_their_own(clean_db):
    with db.transaction() as session:
        from voxanne_admin import demo

        demo.seed(session)
    from voxanne_admin.calls import seed as call_seed

    call_seed.seed_calls(count=5, org_slug="harbor-dental", pool_size=50, seed=1)
    before = _counts()
    created, result = demo_history.load_demo(calls=CALLS, pool_size=POOL)
    assert created == 0 and result.skipped == "there are calls already"
    assert _counts() == before


def test_demo_history_without_history_loads_organizations_only(clean_db):
    created, result = demo_history.load_demo(history=False)
    assert created == 4 and result.calls == 0
    assert _scalar("select count(*) from calls") == 0 and _scalar("select count(*) from job_runs") == 0


def test_demo_dead_letters_replay_into_applied_events(clean_db):
    from voxanne_admin.audit.service import Actor

    demo_history.load_demo(calls=CALLS, pool_size=POOL)
    dead = [row[0] for row in _rows("select id from webhook_events where status = 'dead_letter' order by id")]
    with db.transaction() as session:
        assert inbox.replay(session, event_ids=dead, actor=Actor.system("pytest"), actor_role="operator") == 3
    inbox_flows.drain()
    assert _scalar("select count(*) from webhook_events where id = any(:ids) and status = 'completed'", ids=dead) == 3
