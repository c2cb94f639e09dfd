"""Run jobs exactly once per tick across every worker and replica, and record each run.

A scheduled run first inserts a `job_runs` row keyed by (job, tick); the unique
index lets only one process win the tick. Every run (scheduled or manual) also
holds a session-level advisory lock for the job, so two runs never overlap.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from voxanne_admin import db, locks, metrics
from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import NotFound
from voxanne_admin.jobs.models import JobRun, JobRunRead
from voxanne_admin.jobs.registry import JOBS, JobSpec
from voxanne_admin.timeutil import utcnow

log = logging.getLogger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _claim_tick(spec: JobSpec, tick: datetime) -> int | None:
    with db.transaction() as session:
        row_id = session.execute(
            insert(JobRun)
            .values(job_name=spec.name, tick=tick, trigger="schedule", started_at=utcnow(), outcome="running",
                    worker=f"{socket.gethostname()}:{os.getpid()}")
            .on_conflict_do_nothing(index_elements=["job_name", "tick"], index_where=sa.text("tick is not null"))
            .returning(col(JobRun.id))
        ).scalar()
    return row_id


def _start_manual(spec: JobSpec, actor: Actor) -> int:
    with db.transaction() as session:
        run = JobRun(job_name=spec.name, trigger="manual", worker=f"{socket.gethostname()}:{os.getpid()}")
        session.add(run)
        session.flush()
        audit.record(session, actor=actor, action="job_run_requested", target_type="job", target_id=spec.name)
        return run.id or 0


def _finish(run_id: int, outcome: str, started: float, detail: str | None = None, error: str | None = None) -> None:
    with db.transaction() as session:
        run = session.get(JobRun, run_id)
        if run is None:
            return
        run.finished_at = utcnow()
        run.outcome = outcome
        run.detail = (detail or "")[:2000] or None
        run.error = (error or "")[:4000] or None
        run.duration_ms = int((time.monotonic() - started) * 1000)
        session.add(run)
        job_name = run.job_name
    metrics.JOB_SECONDS.labels(job_name, outcome).observe(time.monotonic() - started)


def _execute(spec: JobSpec, run_id: int) -> str:
    """Hold the job's advisory lock, run it in one transaction, record the outcome."""
    started = time.monotonic()
    engine = db.get_engine()
    with engine.connect() as lock_conn:
        got = lock_conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": locks.job(spec.name)}).scalar()
        lock_conn.commit()
        if not got:
            _finish(run_id, "skipped", started, detail="another run of this job was in progress")
            return "skipped"
        try:
            with db.transaction() as session:
                detail = spec.run(session)
            _finish(run_id, "succeeded", started, detail=detail)
            log.info("job succeeded", extra={"job": spec.name, "detail": detail})
            return "succeeded"
        except Exception as exc:  # a failed job is recorded, never crashes the scheduler
            log.exception("job failed", extra={"job": spec.name})
            _finish(run_id, "failed", started, error=f"{type(exc).__name__}: {exc}")
            return "failed"
        finally:
            lock_conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": locks.job(spec.name)})
            lock_conn.commit()


def run_scheduled(job_name: str, when: datetime | None = None) -> str:
    """Entry point for the scheduler: run the job unless another process already took this tick."""
    spec = JOBS[job_name]
    tick = spec.tick_for((when or utcnow()).astimezone(UTC))
    run_id = _claim_tick(spec, tick)
    if run_id is None:
        return "taken"
    return _execute(spec, run_id)


def run_now(job_name: str, *, actor: Actor, actor_role: str | None) -> str:
    """Run a job immediately (admin and up); audited."""
    require_role(actor_role, "admin")
    spec = JOBS.get(job_name)
    if spec is None:
        raise NotFound(f"There is no job called {job_name}.")
    return _execute(spec, _start_manual(spec, actor))


def purge_runs(session: Session, *, older_than_days: int = 30) -> int:
    """Delete finished job runs older than the retention period."""
    result = session.execute(sa.text(
        "delete from job_runs where started_at < now() - make_interval(days => :d) and outcome <> 'running'"),
        {"d": older_than_days})
    return result.rowcount  # type: ignore[attr-defined]


def list_runs(session: Session, *, job_name: str | None = None, limit: int = 20) -> list[JobRunRead]:
    """Most recent runs first."""
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)  # type: ignore[union-attr]
    if job_name:
        query = query.where(JobRun.job_name == job_name)
    return [
        JobRunRead(
            id=r.id or 0, job_name=r.job_name, job_title=JOBS[r.job_name].title if r.job_name in JOBS else r.job_name,
            trigger="manual (run now)" if r.trigger == "manual" else "scheduled",
            started_at=fmt.timestamp(r.started_at, seconds=True), outcome=r.outcome,
            duration=fmt.duration_ms(r.duration_ms), detail=r.detail or "", error=r.error or "",
        )
        for r in session.exec(query).all()
    ]
