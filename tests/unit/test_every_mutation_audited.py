"""Every mutation is audited (issue #12 item 9): a static scan lists every function in the app that changes a
table (session.add/add_all/delete/merge, sa.insert/update/delete, INSERT/UPDATE/DELETE SQL) and requires that it
writes an audit event itself or through a function it calls (in its module, or an imported module, followed
transitively: a caller of an audited function counts as audited, so the scan is a floor), or that it is on the
allow-list below with the reason it needs no audit row. A new unaudited write fails here, naming the function.
A runtime check then proves, for a sample of services, that the audit row is written in the SAME transaction as
the change (same `xmin`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import ROOT

PACKAGE = ROOT / "voxanne_admin"
DML = re.compile(r"^\s*(insert|update|delete|truncate)\b", re.IGNORECASE)
SESSION_NAMES = {"session", "s", "db_session"}

# module:function -> why this write needs no audit row of its own. Keep each reason true.
BOOKKEEPING = "the system's own bookkeeping, not a change a person or provider makes"
ALLOWED: dict[str, str] = {
    # The audit trail itself: writing it is the record; the sealer, flood windows and stream cursor are its
    # machinery (auditing them would audit the auditor, forever).
    "voxanne_admin.audit.chain:seal_pending": "the chain links (audit_seals) are the record's own structure",
    "voxanne_admin.audit.flood:count_refusal": "flood control counts refusals; flush_closed writes their audit row",
    "voxanne_admin.audit.stream:_advance": "SIEM stream cursor: " + BOOKKEEPING,
    "voxanne_admin.audit.stream:_failed": "SIEM stream cursor: " + BOOKKEEPING,
    # Sessions and sign-in machinery: the audited events are login_success / mfa_* / logout / session_revoked,
    # written by the callers of these helpers; these touch last-seen times and one-time artefacts.
    "voxanne_admin.auth.service:establish_session": "the caller records login_success / sso_login",
    "voxanne_admin.auth.service:resolve_session": "updates the session's last-seen time on every request",
    "voxanne_admin.auth.service:purge_expired_sessions": "deletes sessions that already expired: " + BOOKKEEPING,
    "voxanne_admin.auth.service:purge_login_attempts": "90-day retention of sign-in attempts: " + BOOKKEEPING,
    "voxanne_admin.auth.signin:verify_current_code": "stores the last used TOTP step (replay guard); the caller, "
    "re-authentication, records reauthenticated / reauth_failed",
    "voxanne_admin.auth.secrets_at_rest:migrate_clear_secrets": "migration 0013's data step (encrypting seeds "
    "that were stored in clear); no person acts",
    "voxanne_admin.auth.secrets_at_rest:rotate": "called only by `keys rotate`, which records encryption_keys_rotated "
    "in the same transaction",
    "voxanne_admin.credentials.service:due_reminders": "marks when the 90-day reminder was sent: " + BOOKKEEPING,
    "voxanne_admin.credentials.service:mark_used": "last successful use of a credential: " + BOOKKEEPING,
    "voxanne_admin.webhooks.flows:_answer_on_thread": "stores a tool call's answer for replays; the tool's own change "
    "(a booking) is audited by the tool",
    "voxanne_admin.webhooks.flows:_answer_on_loop": "stores a tool call's answer for replays (on the event loop); the "
    "tool's own change (a booking) is audited by the tool",
    "voxanne_admin.auth.signin:begin_totp_enrolment": "a pending secret; confirm_totp_enrolment records mfa_enabled",
    "voxanne_admin.auth.signin:_new_recovery_codes": "called by audited enrolment / regeneration",
    "voxanne_admin.auth.sso:begin": "pending SSO login state (nonce, PKCE); the sign-in itself is audited",
    "voxanne_admin.auth.sso:claim": "marks the pending login used; the callback records sso_login",
    "voxanne_admin.auth.sso:issue_ticket": "one-time hand-off ticket of an audited SSO sign-in",
    "voxanne_admin.auth.sso:redeem_ticket": "one-time hand-off ticket of an audited SSO sign-in",
    "voxanne_admin.auth.tokens:resolve": "updates an API token's last-used time",
    # Provider-driven call state: every webhook is kept in the durable inbox (webhook_events, with its delivery
    # history), which is the record of what the provider sent; per-event audit rows would duplicate it.
    "voxanne_admin.calls.service:_lock_call": "call row placeholder for a webhook (the inbox records the event)",
    "voxanne_admin.calls.service:apply_status_update": "provider status; the inbox event is the record",
    "voxanne_admin.calls.service:apply_end_of_call_report": "provider report; the inbox event is the record",
    "voxanne_admin.calls.service:apply_transcript": "provider transcript; the inbox event is the record",
    "voxanne_admin.messaging.service:apply_sms_status": "provider SMS status; the inbox event is the record",
    "voxanne_admin.calls.flows:attach": "links the provider's call id to a call whose placement is audited",
    "voxanne_admin.webhooks.flows:claim_batch": "inbox lease: " + BOOKKEEPING,
    "voxanne_admin.webhooks.ingest:_store": "stores webhooks in the inbox (group commit), which is the record of what "
                                           "the provider sent",
    "voxanne_admin.webhooks.service:purge": "inbox retention of processed events: " + BOOKKEEPING,
    "voxanne_admin.webhooks.service:purge_organization_events": "called by retention, which records "
                                                                "organization_data_purged with the counts",
    # Derived data, caches and progress records.
    "voxanne_admin.calls.backfill:redact_attempts_batch": "PHI redaction progress; the batch records "
                                                          "phi_redaction_backfill",
    "voxanne_admin.calls.stats:refresh_stats": "the statistics rollup is derived from calls",
    "voxanne_admin.calls.listing:set_columns": "a staff member's own column preference",
    "voxanne_admin.calls.exports:start_export": "export job row; export_csv records calls_exported",
    "voxanne_admin.calls.export_flow:_finish_export": "export job status: " + BOOKKEEPING,
    "voxanne_admin.calls.exports:purge_exports": "24-hour retention of export files: " + BOOKKEEPING,
    "voxanne_admin.flags.snapshot:flush_counts": "evaluation counters: " + BOOKKEEPING,
    "voxanne_admin.flags.service:_touch": "bumps version/updated_at inside audited flag changes",
    "voxanne_admin.jobs.service:_claim_tick": "job run records are the scheduler's own log",
    "voxanne_admin.jobs.service:_finish": "job run records are the scheduler's own log",
    "voxanne_admin.jobs.service:purge_runs": "30-day retention of job run records: " + BOOKKEEPING,
    "voxanne_admin.dr.flows:_finish_backup": "backup result of an audited run (dr_backup_started)",
    "voxanne_admin.dr.flows:apply_retention": "backup retention records: " + BOOKKEEPING,
    "voxanne_admin.dr.flows:_phase": "drill progress of an audited drill",
    "voxanne_admin.dr.flows:_drill": "drill result of an audited drill",
    "voxanne_admin.telephony.flows.provisioning:_start": "provisioning journal; the purchase records "
                                                         "telephony_number_provisioned",
    "voxanne_admin.telephony.flows.provisioning:_journal": "provisioning journal steps: " + BOOKKEEPING,
    "voxanne_admin.telephony.flows.reconciliation:_close_stale_journals": "journal housekeeping: " + BOOKKEEPING,
    "voxanne_admin.telephony.service:_setup_for_update": "row lock/placeholder inside audited setup changes",
    "voxanne_admin.agents.flows:load": "sync bookkeeping of an audited save (agent_synced / agent_sync_failed)",
    # Not the running app: demo data and the sandbox providers.
    "voxanne_admin.demo_history:_job_runs": "demo history",
    "voxanne_admin.sandbox.store:put": "the sandbox providers' own state (stand-in for Vapi/Twilio)",
    "voxanne_admin.sandbox.store:delete": "the sandbox providers' own state",
    "voxanne_admin.sandbox.store:add_fault": "sandbox fault injection",
    "voxanne_admin.sandbox.store:take_fault": "sandbox fault injection",
    "voxanne_admin.sandbox.store:clear_faults": "sandbox fault injection",
}


def _module_name(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")


def _writes(fn: ast.AST, constants: dict[str, str] | None = None) -> str | None:
    """How `fn` changes a table, or None (`constants`: the module's string constants, for SQL passed by name)."""
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if f.attr in ("add", "add_all", "delete", "merge") and f.value.id in SESSION_NAMES:
                return f"session.{f.attr}"
            if f.attr in ("insert", "update", "delete") and f.value.id in ("sa", "sqlalchemy", "pg", "postgresql"):
                return f"sa.{f.attr}"
        if isinstance(f, ast.Name) and f.id in ("insert", "update", "delete"):
            return f.id
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if name in ("text", "execute", "exec_driver_sql"):
            for arg in node.args:
                text = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else (
                    "".join(v.value for v in arg.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                    if isinstance(arg, ast.JoinedStr) else (constants or {}).get(getattr(arg, "id", ""), ""))
                if DML.match(text):
                    return f"SQL {text.split()[0].upper()}"
    return None


class _Module:
    def __init__(self, path: Path):
        self.name = _module_name(path)
        self.tree = ast.parse(path.read_text())
        self.aliases: dict[str, str] = {}  # local name -> module, for `from x import y as z` / `import x as z`
        self.names: dict[str, str] = {}    # local name -> "module:function" for `from x import f`
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    base = ".".join(self.name.split(".")[: -node.level] + ([node.module] if node.module else []))
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{base}.{a.name}"
                    self.names[a.asname or a.name] = f"{base}:{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        self.functions = {n.name: n for n in ast.walk(self.tree)
                          if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        # module-level `NAME = "..."` (SQL handed to execute by name)
        self.constants = {t.id: n.value.value for n in self.tree.body if isinstance(n, ast.Assign)
                          and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                          for t in n.targets if isinstance(t, ast.Name)}

    def callees(self, fn: ast.AST) -> set[str]:
        out = set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name):
                out.add(f"{self.name}:{f.id}" if f.id in self.functions else self.names.get(f.id, ""))
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in self.aliases:
                out.add(f"{self.aliases[f.value.id]}:{f.attr}")
        return out - {""}


def _scan() -> tuple[dict[str, str], set[str]]:
    """(unaudited writers -> how they write, every function that writes an audit event directly or through calls)"""
    modules = [_Module(p) for p in sorted(PACKAGE.rglob("*.py")) if "/ui/" not in p.as_posix()]
    calls: dict[str, set[str]] = {}
    writers: dict[str, str] = {}
    for m in modules:
        for name, fn in m.functions.items():
            key = f"{m.name}:{name}"
            calls[key] = m.callees(fn)
            how = _writes(fn, m.constants)
            if how:
                writers[key] = how
    audited = {"voxanne_admin.audit.service:record", "voxanne_admin.audit.service:record_async"}
    changed = True
    while changed:  # callers of audited functions are audited, transitively
        changed = False
        for key, callees in calls.items():
            if key not in audited and callees & audited:
                audited.add(key)
                changed = True
    return {k: v for k, v in writers.items() if k not in audited}, audited


def test_every_function_that_changes_a_table_writes_an_audit_event_or_is_allowed():
    unaudited, _ = _scan()
    missing = sorted(k for k in unaudited if k not in ALLOWED)
    assert not missing, ("These functions change a table but write no audit event (directly or through a call); "
                         "call audit.record in the same transaction, or add them to ALLOWED with the reason:\n"
                         + "\n".join(f"  {k}  ({unaudited[k]})" for k in missing))


def test_the_allow_list_names_only_real_unaudited_writers():
    unaudited, audited = _scan()
    stale = sorted(k for k in ALLOWED if k not in unaudited)
    assert not stale, "Allow-list entries that no longer write unaudited (remove them): " + ", ".join(stale)


def test_the_scan_sees_known_writers_and_their_audit():
    """The scan is not vacuous: it finds writes that are audited directly and through a helper."""
    _, audited = _scan()
    for key in ("voxanne_admin.orgs.service:create", "voxanne_admin.orgs.service:close",
                "voxanne_admin.auth.service:create_staff", "voxanne_admin.auth.tokens:create",
                "voxanne_admin.retention:purge_closed_organizations"):
        assert key in audited, key


def _xmin(session, table: str, where: str, **params) -> str:
    return str(session.execute(sa.text(f"select xmin::text from {table} where {where}"), params).scalar_one())


def test_a_sample_of_services_write_their_audit_event_in_the_same_transaction(clean_db):
    """The row a service changes and the audit event it writes carry this transaction's id (xmin), and a
    rollback takes both away."""
    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import tokens
    from voxanne_admin.orgs import service as org_service

    actor = Actor(type="staff", id="1", email="meta@voxanne.test")

    class Rollback(Exception):
        pass

    try:
        with db.transaction() as session:
            def current() -> str:
                return str(session.execute(sa.text(
                    "select (pg_current_xact_id()::text::bigint % 4294967296)::text")).scalar_one())

            def audit_xmins(action: str) -> set[str]:
                return {str(x) for x in session.execute(sa.text(
                    "select xmin::text from audit_events where action = :a"), {"a": action}).scalars()}

            org = org_service.create(session, name="Meta Clinic", slug="meta-clinic", country="US",
                                     timezone="America/New_York", actor=actor, actor_role="founder")
            xid = current()
            assert _xmin(session, "organizations", "id = :i", i=org.id) == xid
            assert audit_xmins("organization_created") == {xid}
            org_service.close(session, org_id=org.id or 0, actor=actor, actor_role="founder")
            assert _xmin(session, "organizations", "id = :i", i=org.id) == xid
            assert audit_xmins("organization_closed") == {xid}
            user = auth_service.create_staff(session, email="meta-staff@voxanne.test", name="Meta", role="viewer",
                                             password="velvet orchid kestrel 41", actor=actor, actor_role="founder")
            assert _xmin(session, "staff_users", "id = :i", i=user.id) == xid
            assert audit_xmins("staff_created") == {xid}
            tokens.create(session, staff_id=user.id or 0, name="meta", actor=actor)
            assert _xmin(session, "api_tokens", "staff_id = :i", i=user.id) == xid
            assert audit_xmins("api_token_created") == {xid}
            raise Rollback
    except Rollback:
        pass
    with db.read_only() as session:
        left = session.execute(sa.text("select (select count(*) from organizations where slug = 'meta-clinic'), "
                                       "(select count(*) from audit_events)")).one()
    assert tuple(left) == (0, 0)  # the changes and their audit rows went together
