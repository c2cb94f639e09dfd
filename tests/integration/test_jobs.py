"""Jobs: one execution per tick across processes, recorded runs, failures, locks and the purge jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from tests.unit.factories import make_job_run, make_staff, open_session
from voxanne_admin import db, locks
from voxanne_admin.audit.models import AuditEvent
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth import service as auth_service
from voxanne_admin.auth.models import LoginAttempt, StaffSession
from voxanne_admin.errors import NotFound, PermissionDenied
from voxanne_admin.jobs import service as job_service
from voxanne_admin.jobs.models import JobRun
from voxanne_admin.jobs.registry import JOBS, JobSpec
from voxanne_admin.timeutil import utcnow

ADMIN = Actor(type="staff", id="1", email="admin@clinic.example")


def _runs(job_name: str | None = None) -> list[JobRun]:
    with db.read_only() as session:
        query = select(JobRun).order_by(JobRun.id)
        if job_name:
            query = query.where(JobRun.job_name == job_name)
        rows = session.exec(query).all()
        session.expunge_all()
        return list(rows)


@pytest.fixture
def failing_job(monkeypatch) -> str:
    def explode(session):
        raise RuntimeError("provider returned 503 for tenant 42")

    spec = JobSpec(name="explode", title="Explode", description="Always fails.", schedule="never",
                   trigger=JOBS["purge_login_attempts"].trigger, period=timedelta(hours=1), run=explode)
    monkeypatch.setitem(JOBS, spec.name, spec)
    return spec.name


def test_scheduled_job_runs_once_per_tick(clean_db):
    when = datetime(2030, 5, 1, 10, 5, 2, tzinfo=UTC)
    first = job_service.run_scheduled("purge_expired_sessions", when)
    second = job_service.run_scheduled("purge_expired_sessions", when + timedelta(seconds=40))

    assert (first, second) == ("succeeded", "taken")
    (run,) = _runs()
    assert run.job_name == "purge_expired_sessions"
    assert run.trigger == "schedule"
    assert run.tick == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    assert run.outcome == "succeeded"
    assert run.detail == "0 expired or revoked sessions deleted"
    assert run.error is None
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.duration_ms is not None and run.duration_ms >= 0


def test_scheduled_job_runs_again_in_the_next_tick(clean_db):
    when = datetime(2030, 5, 1, 10, 5, tzinfo=UTC)
    assert job_service.run_scheduled("purge_expired_sessions", when) == "succeeded"
    assert job_service.run_scheduled("purge_expired_sessions", when + timedelta(hours=1)) == "succeeded"
    assert [r.tick.hour for r in _runs()] == [10, 11]


def test_failing_job_recorded_as_failed_with_error(clean_db, failing_job):
    outcome = job_service.run_scheduled(failing_job, datetime(2030, 5, 1, 10, 5, tzinfo=UTC))
    assert outcome == "failed"
    (run,) = _runs(failing_job)
    assert run.outcome == "failed"
    assert run.error == "RuntimeError: provider returned 503 for tenant 42"
    assert run.detail is None
    assert run.finished_at is not None and run.duration_ms is not None


def test_failing_job_rolls_back_its_own_writes(clean_db, monkeypatch):
    with db.transaction() as session:
        user = make_staff(session)
        staff_id = user.id
        open_session(session, user)
        session.exec(select(StaffSession)).one().expires_at = utcnow() - timedelta(minutes=1)

    def purge_then_fail(session):
        auth_service.purge_expired_sessions(session)
        raise RuntimeError("boom after deleting")

    spec = JOBS["purge_expired_sessions"]
    monkeypatch.setitem(JOBS, spec.name, JobSpec(**{**spec.__dict__, "run": purge_then_fail}))
    assert job_service.run_now(spec.name, actor=ADMIN, actor_role="admin") == "failed"
    with db.read_only() as session:
        assert session.exec(select(sa.func.count()).select_from(StaffSession)
                            .where(StaffSession.staff_id == staff_id)).one() == 1


def test_run_now_records_manual_run_and_audit(clean_db):
    assert job_service.run_now("purge_login_attempts", actor=ADMIN, actor_role="admin") == "succeeded"
    (run,) = _runs()
    assert (run.trigger, run.tick, run.outcome) == ("manual", None, "succeeded")
    with db.read_only() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "job_run_requested")).one()
        assert (event.target_type, event.target_id, event.actor_email) == ("job", "purge_login_attempts",
                                                                           "admin@clinic.example")


@pytest.mark.parametrize("role", ["viewer", "operator", None])
def test_run_now_refused_below_admin(clean_db, role):
    with pytest.raises(PermissionDenied, match="admin"):
        job_service.run_now("purge_login_attempts", actor=ADMIN, actor_role=role)
    assert _runs() == []


def test_run_now_refused_when_job_unknown(clean_db):
    with pytest.raises(NotFound, match="no job called nope"):
        job_service.run_now("nope", actor=ADMIN, actor_role="founder")


def test_run_skipped_while_another_connection_holds_the_job_lock(clean_db):
    key = locks.job("purge_expired_sessions")
    with db.get_engine().connect() as other:
        assert other.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        try:
            manual = job_service.run_now("purge_expired_sessions", actor=ADMIN, actor_role="admin")
            scheduled = job_service.run_scheduled("purge_expired_sessions", datetime(2030, 5, 1, 10, 5, tzinfo=UTC))
        finally:
            other.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": key})
            other.commit()
    assert (manual, scheduled) == ("skipped", "skipped")
    runs = _runs()
    assert [r.outcome for r in runs] == ["skipped", "skipped"]
    assert all(r.detail == "another run of this job was in progress" for r in runs)
    # Once the other holder lets go, the job runs again.
    assert job_service.run_now("purge_expired_sessions", actor=ADMIN, actor_role="admin") == "succeeded"


def test_purge_sessions_job_deletes_expired_sessions_only(clean_db):
    with db.transaction() as session:
        user = make_staff(session)
        keep_token = open_session(session, user)
        open_session(session, user)
        open_session(session, user)
        keep_id = auth_service.resolve_session(session, token=keep_token).session_id
        for row in session.exec(select(StaffSession)).all():
            if str(row.id) != keep_id:
                row.expires_at = utcnow() - timedelta(minutes=1)

    assert job_service.run_now("purge_expired_sessions", actor=ADMIN, actor_role="admin") == "succeeded"

    with db.read_only() as session:
        assert [str(i) for i in session.exec(select(StaffSession.id)).all()] == [keep_id]
        assert auth_service.resolve_session(session, token=keep_token) is not None
    assert _runs()[-1].detail == "2 expired or revoked sessions deleted"


def test_purge_login_attempts_job_deletes_attempts_older_than_90_days(clean_db):
    with db.transaction() as session:
        for days_ago in (91, 120, 89, 0):
            session.add(LoginAttempt(ip="203.0.113.7", stage="password", succeeded=False,
                                     occurred_at=utcnow() - timedelta(days=days_ago)))

    assert job_service.run_now("purge_login_attempts", actor=ADMIN, actor_role="admin") == "succeeded"

    with db.read_only() as session:
        ages = [(utcnow() - t).days for t in session.exec(select(LoginAttempt.occurred_at)).all()]
    assert sorted(ages) == [0, 89]
    assert _runs()[-1].detail == "2 sign-in attempts older than 90 days deleted"


def test_job_runs_listed_newest_first(clean_db, failing_job):
    job_service.run_now("purge_login_attempts", actor=ADMIN, actor_role="admin")
    job_service.run_now(failing_job, actor=ADMIN, actor_role="admin")
    with db.read_only() as session:
        runs = job_service.list_runs(session)
        only_purge = job_service.list_runs(session, job_name="purge_login_attempts")
    assert [(r.job_name, r.outcome) for r in runs] == [(failing_job, "failed"), ("purge_login_attempts", "succeeded")]
    assert runs[0].error.startswith("RuntimeError")
    assert runs[1].duration.endswith(("ms", "s"))
    assert [r.job_name for r in only_purge] == ["purge_login_attempts"]


@pytest.mark.parametrize(
    ("job", "when", "tick"),
    [
        ("purge_expired_sessions", datetime(2030, 1, 1, 0, 0, tzinfo=UTC), datetime(2030, 1, 1, 0, 0, tzinfo=UTC)),
        ("purge_expired_sessions", datetime(2030, 1, 1, 0, 59, 59, tzinfo=UTC), datetime(2030, 1, 1, 0, 0, tzinfo=UTC)),
        ("purge_login_attempts", datetime(2030, 1, 1, 23, 59, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
    ],
)
def test_tick_groups_runs_within_the_job_period(job, when, tick):
    assert JOBS[job].tick_for(when) == tick


def test_purge_job_runs_keeps_recent_and_running_rows(clean_db):
    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.jobs import service as job_service

    with db.transaction() as session:
        make_job_run(session, job_name="a", age_days=40, outcome="succeeded")
        make_job_run(session, job_name="b", age_days=40, outcome="running")
        make_job_run(session, job_name="c", age_days=1, outcome="failed")
    with db.transaction() as session:
        assert job_service.purge_runs(session, older_than_days=30) == 1
    with db.get_engine().connect() as conn:
        left = sorted(r[0] for r in conn.execute(sa.text("select job_name from job_runs")))
    assert left == ["b", "c"]
