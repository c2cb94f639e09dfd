"""The Audit log page at 1,000,000 rows: `measure_page()` for `benchmarks/audit.py` (keys first_page_p95_ms,
filtered_p95_ms; targets < 30 ms and < 60 ms), also runnable on its own:

    .venv/bin/python benchmarks/audit_page.py [--rows 1000000] [--runs 40]

It seeds the rows quickly with one INSERT ... SELECT generate_series as the owner (90 days of mixed actions,
actors, organizations, targets and diffs; the rows carry placeholder MACs: this measures reading, not
verification), ANALYZEs, then times, as the app role, the same call the page makes (`audit.views.list_rows`,
which is `audit.query.list_events` plus the row read model): the first page, a page deep in the trail (keyset
cursor), and filtered pages (action group, organization, actor, target, time range, full-text search, combined).
Prints a table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("VOXANNE_DATA_DIR", tempfile.mkdtemp(prefix="voxanne-audit-page-bench-data-"))

ACTIONS = ["login_success", "login_success", "login_success", "login_failed", "logout", "mfa_challenge_success",
           "session_revoked", "api_token_created", "staff_created", "staff_role_changed", "organization_updated",
           "organization_created", "agent_saved", "agent_synced", "agent_saved", "test_call_placed",
           "telephony_number_provisioned", "forwarding_rule_updated", "feature_flag_updated",
           "feature_flag_override_set", "webhook_replayed", "webhook_auth_failed", "calls_exported",
           "call_recordings_cleared", "dr_backup_started", "appointment_booked", "appointment_booked",
           "appointment_cancelled", "audit_exported", "organization_closed"]
TARGETS = ["staff", "session", "organization", "agent", "call", "feature_flag", "phone_number", "webhook_event",
           "appointment"]

SEED_SQL = """
insert into audit_events (id, occurred_at, actor_type, actor_id, actor_email, action, target_type, target_id,
                          org_id, diff, ip, user_agent, request_id, key_id, mac)
select nextval('audit_events_id_seq'),
       now() - make_interval(secs => (:rows - g) * 7776000.0 / :rows),
       case when g % 10 = 0 then 'system' else 'staff' end,
       case when g % 10 = 0 then 'retention' else (g % 50)::text end,
       case when g % 10 = 0 then null else 'staff' || (g % 50) || '@voxanne.example' end,
       (:actions)[1 + (g % :n_actions)],
       (:targets)[1 + (g % :n_targets)],
       (g % 5000)::text,
       case when g % 7 = 0 then null else 1 + (g % 200) end,
       jsonb_build_object('name', jsonb_build_object('before', 'Agent ' || (g % 997), 'after',
                                                     'Agent ' || ((g + 1) % 997)),
                          'note', 'word' || (g % 20000)),
       '10.0.' || (g % 250) || '.' || (g % 200), 'Mozilla/5.0 bench', md5(g::text), 'bench000',
       md5('mac' || g)
from generate_series(1, :rows) g
"""


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def seed(rows: int) -> float:
    """Insert `rows` audit rows as the owner in one statement, then ANALYZE; returns the seconds it took."""
    import sqlalchemy as sa

    from voxanne_admin import db

    started = time.perf_counter()
    with db.get_owner_engine().begin() as conn:
        conn.execute(sa.text(SEED_SQL).bindparams(sa.bindparam("actions", type_=sa.ARRAY(sa.Text)),
                                                  sa.bindparam("targets", type_=sa.ARRAY(sa.Text))),
                     {"rows": rows, "actions": ACTIONS, "n_actions": len(ACTIONS), "targets": TARGETS,
                      "n_targets": len(TARGETS)})
    with db.get_owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("analyze audit_events"))
    return time.perf_counter() - started


def _timed(flt, runs: int, cursor: str = "") -> list[float]:
    from voxanne_admin import db
    from voxanne_admin.audit import views

    def once() -> float:
        started = time.perf_counter()
        with db.read_only() as session:
            page, _next = views.list_rows(session, flt=flt, cursor=cursor, limit=50)
        elapsed = (time.perf_counter() - started) * 1000
        assert page or flt.q, f"the benchmark filter {flt.to_query()} matched nothing"
        return elapsed

    for _ in range(3):
        once()
    return [once() for _ in range(runs)]


def measure_page(*, rows: int = 1_000_000, runs: int = 40, seed_rows: bool = True) -> dict[str, float | None]:
    """Seed `rows` audit rows (unless `seed_rows` is False) and time the page's queries; p95 in milliseconds."""
    from datetime import timedelta

    import sqlalchemy as sa

    from voxanne_admin import db
    from voxanne_admin.audit.query import AuditFilter, encode_cursor
    from voxanne_admin.timeutil import utcnow

    seed_s = seed(rows) if seed_rows else 0.0
    with db.read_only() as session:
        total, top = session.execute(sa.text("select count(*), max(id) from audit_events")).one()
    today = utcnow().date()
    filters = {
        "action group (staff)": AuditFilter(group="staff"),
        "organization": AuditFilter(org_id=17),
        "actor": AuditFilter(actor="staff7@voxanne.example"),
        "target": AuditFilter(target_type="agent", target_id="4012"),
        "time range (one day, 30 days ago)": AuditFilter(date_from=(today - timedelta(days=30)).isoformat(),
                                                         date_to=(today - timedelta(days=30)).isoformat()),
        "full-text search": AuditFilter(q="word1234"),
        "group + organization + search": AuditFilter(group="agents", org_id=12, q="agent"),
    }
    first = _timed(AuditFilter(), runs)
    deep = _timed(AuditFilter(), runs, cursor=encode_cursor(int(top) - rows // 2))
    per_filter = {name: _timed(flt, runs) for name, flt in filters.items()}
    filtered = [s for samples in per_filter.values() for s in samples]
    result: dict[str, float | None] = {
        "first_page_p95_ms": round(_pct(first, 0.95), 2),
        "filtered_p95_ms": round(_pct(filtered, 0.95), 2),
        "deep_page_p95_ms": round(_pct(deep, 0.95), 2),
        "page_rows": int(total),
        "seed_s": round(seed_s, 1),
    }
    measure_page.details = {name: round(_pct(s, 0.95), 2) for name, s in per_filter.items()}  # type: ignore[attr-defined]
    return result


def _setup() -> tuple[object, Path]:
    """A fresh embedded database migrated by the owner; this process then reads as the app role."""
    from sqlalchemy.engine import make_url

    from tests.conftest import create_database
    from voxanne_admin import db, migrate
    from voxanne_admin.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="voxanne-audit-page-bench-"))
    server = db.start_embedded(work)
    owner = create_database(server.get_uri(driver="psycopg"), "voxanne_audit_page_bench")
    app = make_url(owner).set(username=db.APP_ROLE, password="bench-app-role").render_as_string(
        hide_password=False)
    migrate.upgrade(owner, app_url=app)
    os.environ.update(DATABASE_URL=app, DATABASE_OWNER_URL=owner, VOXANNE_RESOLVED_DATABASE_URL=app,
                      VOXANNE_RESOLVED_OWNER_URL=owner)
    get_settings.cache_clear()
    db.reset_engine()
    return server, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    from voxanne_admin import db

    _server, work = _setup()
    try:
        result = measure_page(rows=args.rows, runs=args.runs)
    finally:
        db.reset_engine()
        db.stop_embedded(work)
    table = [("rows", f"{result['page_rows']:,} (seeded in {result['seed_s']} s)"),
             ("first page p95 (target < 30 ms)", f"{result['first_page_p95_ms']} ms"),
             ("page half-way down the trail (keyset) p95", f"{result['deep_page_p95_ms']} ms"),
             ("filtered page p95, all filters (target < 60 ms)", f"{result['filtered_p95_ms']} ms")]
    table += [(f"  {name}", f"{p95} ms") for name, p95 in measure_page.details.items()]  # type: ignore[attr-defined]
    width = max(len(r[0]) for r in table)
    for name, value in table:
        print(f"{name:{width}}  {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
