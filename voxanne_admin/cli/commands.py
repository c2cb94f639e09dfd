"""The console's own commands: database, demo data, audit, jobs, webhooks, sandbox, test calls, build, serve."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from voxanne_admin.cli.common import (
    _database_url,
    _settings,
    app,
    audit_app,
    db_app,
    jobs_app,
    sandbox_app,
    webhooks_app,
)
from voxanne_admin.errors import EXIT_SETTINGS, DomainError, ProviderError, exit_code


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (starts the embedded database if DATABASE_URL is unset)."""
    from voxanne_admin import migrate

    _database_url()
    migrate.upgrade_database()
    typer.echo(f"Database is at migration {migrate.head_revision()}.")


@db_app.command("status")
def db_status() -> None:
    """Where the database is (password hidden) and its migration state."""
    from voxanne_admin import db, migrate

    url = _database_url()
    with db.get_engine().connect() as conn:
        current = migrate.current_revision(conn)
    typer.echo(f"database: {db.safe_url(url)}\ncurrent:  {current}\nhead:     {migrate.head_revision()}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL (no effect with DATABASE_URL)."""
    from voxanne_admin import db

    settings = _settings()
    if settings.database_url is None:
        db.stop_embedded(settings.data_dir)
        typer.echo("Embedded PostgreSQL stopped.")


def _seed_demo(*, history: bool) -> int:
    """Demo organizations when there are none and, with `history`, ~90 days of their history (once)."""
    from voxanne_admin import demo_history

    created, loaded = demo_history.load_demo(history=history, progress=typer.echo)
    if history and loaded.skipped and created == 0:
        typer.echo(f"Demo history not loaded: {loaded.skipped}.")
    return created


@app.command("seed-demo")
def seed_demo(
    history: Annotated[bool, typer.Option(help="Also load ~90 days of calls, inbox events and job runs.")] = True,
) -> None:
    """Load demo organizations into an empty database, with their history (never staff accounts)."""
    _database_url()
    created = _seed_demo(history=history)
    typer.echo(f"Created {created} demo organizations with their agents (synced to Vapi by the running console)."
               if created else "Organizations exist already: no organization added.")


def _check_audit_keys() -> None:
    """Refuse to start when audit rows exist but their MAC key is missing (never a new key for old rows)."""
    from voxanne_admin import db
    from voxanne_admin.audit import keys
    from voxanne_admin.vault import KeyMissingError

    with db.read_only() as session:
        try:
            keys.check_startup(session)
        except KeyMissingError as exc:
            typer.echo(f"Refusing to start: {exc}", err=True)
            raise typer.Exit(2) from None


@audit_app.command("verify")
def audit_verify(
    archive: Annotated[Path | None, typer.Option("--archive", help="Also prove the archived history in DIR.",
                                                 metavar="DIR")] = None,
) -> None:
    """Check every row's MAC, the chain links and the signed checkpoints; exit 1 naming the first problem."""
    from voxanne_admin import db
    from voxanne_admin.audit import chain

    _database_url()
    with db.read_only() as session:
        report = chain.verify(session, archive_dir=archive)
    if report.ok:
        typer.echo(f"Audit trail intact: {report.rows_checked} events verified.")
        return
    typer.echo(f"Audit trail BROKEN: {report.problems[0]}", err=True)
    for problem in report.problems[1:]:
        typer.echo(f"  also: {problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Seal what is committed and take a signed checkpoint now."""
    from voxanne_admin import db
    from voxanne_admin.audit import chain, checkpoints

    _database_url()
    with db.transaction() as session:
        chain.seal_pending(session)
    with db.read_only() as session:
        record = chain.take_checkpoint(session)
    typer.echo(f"Checkpoint {record['seq']}: {record['count']} events through id {record['last_id']}, "
               f"head {record['head'][:16]}..., signed by key {record['key_id']}; appended to {checkpoints.path()}.")


@audit_app.command("rotate-keys")
def audit_rotate_keys() -> None:
    """Put a new MAC key and a new checkpoint signing key first; old keys stay to verify older rows."""
    from voxanne_admin.audit import keys

    _database_url()
    mac_id, signing_id = keys.rotate()
    typer.echo((f"New MAC key {mac_id}. " if mac_id else "AUDIT_HMAC_KEY is set: put a new key first in it "
                "(comma-separated, keep the old ones). ")
               + (f"New signing key {signing_id}. " if signing_id else "AUDIT_SIGNING_KEY is set: put a new key "
                  "first in it (`openssl genpkey -algorithm ed25519 -outform DER | tail -c 32 | xxd -p -c 64`; "
                  "keep the old ones). ")
               + "Restart the console so every worker uses them; back up VOXANNE_DATA_DIR/secrets/.")


@jobs_app.command("run")
def jobs_run(name: Annotated[str, typer.Argument(help="Job name, see `jobs list`.")]) -> None:
    """Run a job now (recorded in job_runs like scheduled runs)."""
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.jobs import service as job_service

    _database_url()
    try:
        outcome = job_service.run_now(name, actor=Actor.system("cli"), actor_role="founder")
    except DomainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: {outcome}")
    raise typer.Exit(0 if outcome == "succeeded" else 1)


@jobs_app.command("list")
def jobs_list() -> None:
    """The registered jobs and their schedules."""
    from voxanne_admin.jobs.registry import JOBS

    for spec in JOBS.values():
        typer.echo(f"{spec.name:28} {spec.schedule:22} {spec.description}")


@webhooks_app.command("work")
def webhooks_work(
    exit_with_parent: Annotated[bool, typer.Option(
        hidden=True, help="Stop when the process that started this one exits (serve's supervised workers).")] = False,
) -> None:
    """Apply the webhook inbox in this process until Ctrl+C or SIGTERM (serve starts WEBHOOK_APPLY_WORKERS)."""
    import asyncio
    import signal

    from voxanne_admin import logging as vx_logging

    _database_url()
    vx_logging.configure(_settings().log_level)
    from voxanne_admin.webhooks import worker

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        parent = os.getppid()

        async def watch_parent() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(1)
            stop.set()

        watchdog = asyncio.create_task(watch_parent()) if exit_with_parent else None
        try:
            await worker.run_forever(stop)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    typer.echo("Processing webhook events; Ctrl+C to stop.")
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@webhooks_app.command("drain")
def webhooks_drain() -> None:
    """Process every due inbox event now, then exit."""
    _database_url()
    from voxanne_admin.webhooks import flows as inbox_flows

    typer.echo(f"Processed {inbox_flows.drain()} events.")


@webhooks_app.command("replay")
def webhooks_replay(event_ids: Annotated[list[int], typer.Argument(help="Inbox event ids (dead letters).")]) -> None:
    """Send dead-lettered events back to the queue (audited)."""
    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.webhooks import service as inbox

    _database_url()
    with db.transaction() as session:
        count = inbox.replay(session, event_ids=event_ids, actor=Actor.system("cli"), actor_role="founder")
    typer.echo(f"{count} events queued again.")


@sandbox_app.command("fault")
def sandbox_fault(
    provider: Annotated[str, typer.Option(help="vapi or twilio")],
    mode: Annotated[str, typer.Option(help="fail, latency, drop, duplicate or reorder")],
    operation: Annotated[str, typer.Option(help="e.g. 'POST /call', 'buy_number', 'webhook' or '*'")] = "*",
    count: Annotated[int, typer.Option(help="How many requests it applies to.")] = 1,
    status: Annotated[int | None, typer.Option(help="HTTP status for mode=fail.")] = None,
    code: Annotated[str | None, typer.Option(help="Provider error code for mode=fail (Twilio).")] = None,
    message: Annotated[str | None, typer.Option(help="Error message for mode=fail.")] = None,
    latency_ms: Annotated[int | None, typer.Option(help="Delay for mode=latency.")] = None,
) -> None:
    """Inject a fault into the next requests (or webhooks) of a sandbox provider."""
    from voxanne_admin.sandbox import store

    _database_url()
    try:
        fault_id = store.add_fault(provider, mode, operation=operation, count=count, status=status, code=code,
                                   message=message, latency_ms=latency_ms)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Fault {fault_id} armed: {provider} {operation} {mode} x{count}.")


@sandbox_app.command("clear")
def sandbox_clear() -> None:
    """Remove every injected fault."""
    from voxanne_admin.sandbox import store

    _database_url()
    typer.echo(f"{store.clear_faults()} faults removed.")


@sandbox_app.command("dial")
def sandbox_dial(
    line: Annotated[str, typer.Argument(help="The clinic's line in international form, e.g. +12015550143.")],
    code: Annotated[str, typer.Argument(help="What the clinic dials, e.g. '*722015550123' or '##21#'.")],
) -> None:
    """Dial a code on a clinic line of the sandbox carrier (forwarding on/off/status), as the clinic would."""
    from voxanne_admin.sandbox import carrier

    _database_url()
    try:
        state = carrier.dial(line, code)
    except Exception as exc:  # the network's refusal, or a line that is not a number
        typer.echo(f"Refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(state["answer"])


FAILED_REASON_PREFIXES = ("call.start.error", "pipeline-error", "twilio-failed", "call.in-progress.error",
                          "assistant-error", "vonage-failed", "phone-call-provider", "call.ringing.error")


@app.command("test-call")
def test_call(
    org: Annotated[str, typer.Option(help="Organization slug.")],
    to: Annotated[str, typer.Option(help="Number to call, national or international form.")],
    agent: Annotated[str, typer.Option(help="Agent role: outbound (default) or inbound.")] = "outbound",
    timeout: Annotated[int, typer.Option(help="Seconds to wait for the call to end.")] = 900,
) -> None:
    """Place a test call: pre-flight, live status lines, then the report. Exit 0 only for a completed call."""
    import asyncio
    import time
    import uuid

    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.calls import flows as outbound
    from voxanne_admin.calls.models import Call
    from voxanne_admin.orgs import service as org_service

    _database_url()
    with db.read_only() as session:
        organization = org_service.get_by_slug(session, slug=org)
        org_id, org_name = (organization.id, organization.name) if organization else (None, "")
    if org_id is None:
        typer.echo(f"No organization with the slug '{org}'. See the Organizations page for slugs.", err=True)
        raise typer.Exit(2)
    if agent != "outbound":
        typer.echo("Test calls use the outbound agent (--agent outbound).", err=True)
        raise typer.Exit(2)
    typer.echo(f"Pre-flight for {org_name}:")
    try:
        checks = asyncio.run(outbound.preflight(org_id=org_id, to=to, role=agent))
    except ProviderError as exc:
        typer.echo(f"  FAIL  Vapi: {exc}{outbound.sandbox_hint()}", err=True)
        raise typer.Exit(exit_code(exc)) from None
    for check in checks.checks:
        typer.echo(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    if not checks.ok:
        typer.echo(f"Not placed: {checks.first_failure}", err=True)
        raise typer.Exit(1)
    user = os.environ.get("USER") or "cli"
    try:
        placed = asyncio.run(outbound.place_call(
            org_id=org_id, to=to, idempotency_key=f"cli-{uuid.uuid4().hex}", placed_by=f"cli:{user}",
            actor=Actor(type="system", id="cli", user_agent=f"voxanne-admin test-call ({user})"),
            actor_role="founder"))
    except DomainError as exc:  # CallFailed carries the reason; a ProviderError exits 3
        hint = outbound.sandbox_hint() if isinstance(exc, ProviderError) else ""
        typer.echo(f"Not placed: {exc}{hint}", err=True)
        raise typer.Exit(exit_code(exc)) from None
    typer.echo(f"Call {placed.call_id} placed (Vapi {placed.vapi_call_id}). Watching...")
    deadline = time.monotonic() + timeout
    last_status, seen_lines = None, 0
    call = None
    while time.monotonic() < deadline:
        with db.read_only() as session:
            row = session.get(Call, placed.call_id)
            call = row.model_copy() if row else None
        if call is None:
            break
        if call.status != last_status:
            last_status = call.status
            typer.echo(f"  {time.strftime('%H:%M:%S')}  status: {call.status}")
        for line in (call.live_transcript or [])[seen_lines:]:
            who = "agent " if line.get("role") == "assistant" else "caller"
            typer.echo(f"  {time.strftime('%H:%M:%S')}  {who}: {line.get('text')}")
        seen_lines = len(call.live_transcript or [])
        if call.report_received or call.status == "failed":
            break
        time.sleep(0.25)
    if call is None or not (call.report_received or call.status == "failed"):
        typer.echo(f"No end-of-call report within {timeout} s; the call may still be running.", err=True)
        raise typer.Exit(1)
    typer.echo("Report:")
    typer.echo(f"  ended reason: {call.ended_reason or call.error}")
    typer.echo(f"  duration:     {call.duration_s or 0:.0f} s")
    typer.echo(f"  cost:         {call.cost if call.cost is not None else 'n/a'}")
    typer.echo(f"  summary:      {call.summary or ''}")
    from voxanne_admin.flags import gates as flag_gates

    shown = call.recording_url if flag_gates.call_recording(call.org_id) else None
    typer.echo(f"  recording:    {shown or 'none'}")
    reason = call.ended_reason or ""
    if call.status == "failed" or reason.startswith(FAILED_REASON_PREFIXES):
        typer.echo(f"The call failed: {reason or call.error}", err=True)
        raise typer.Exit(1)


@app.command("seed-calls")
def seed_calls(
    count: Annotated[int, typer.Option(help="How many calls to add.", min=1)] = 1000,
    org: Annotated[str, typer.Option(help="Only this organization (slug); default: every active one.")] = "",
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable data (-1: random).")] = -1,
) -> None:
    """Add realistic calls (agents, numbers, statuses, costs, redacted transcripts) over the last 90 days."""
    from voxanne_admin import migrate
    from voxanne_admin.calls import seed as call_seed

    _database_url()
    migrate.upgrade_database()
    with typer.progressbar(length=count, label="Seeding calls") as bar:
        done = [0]

        def advance(written: int) -> None:
            bar.update(written - done[0])
            done[0] = written

        try:
            written = call_seed.seed_calls(count=count, org_slug=org, progress=advance,
                                           seed=None if seed < 0 else seed)
        except DomainError as exc:
            typer.echo(f"\nNot seeded: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"Added {written} calls.")

@app.command("build")
def build(force: Annotated[bool, typer.Option(help="Rebuild even if nothing changed.")] = False) -> None:
    """Compile the frontend for production (serve does this when needed)."""
    from voxanne_admin.serve import build_frontend

    built = build_frontend(_settings(), force=force)
    typer.echo("Frontend built." if built else "Frontend is up to date.")


def _announce_setup_code(settings) -> None:
    """A fresh install listening beyond loopback: print the one-time code the first-run form asks for."""
    from voxanne_admin import db
    from voxanne_admin.auth import service as auth_service
    from voxanne_admin.auth import setup_code

    with db.read_only() as session:
        fresh = not auth_service.staff_exists(session)
    if not fresh:
        setup_code.clear()
        return
    code = setup_code.issue(host=settings.host)
    if code:
        typer.echo(f"First run: create the founder account at {settings.public_url}/setup "
                   f"with this one-time setup code: {code}")


def _refuse_unopenable_secrets() -> None:
    """Stop before serving when the keyring does not open the stored secrets (a lost or replaced key)."""
    from voxanne_admin import db, vault
    from voxanne_admin.auth import secrets_at_rest

    try:
        with db.get_engine().connect() as conn:
            secrets_at_rest.check_startup(conn)
    except vault.KeyMissingError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _check_credentials_open() -> None:
    """Startup refuses (exit 2, with instructions) when stored credentials exist and the keyring cannot open them."""
    from voxanne_admin.credentials import runtime
    from voxanne_admin.vault import KeyMissingError

    try:
        runtime.check_startup()
    except KeyMissingError as exc:
        typer.echo(f"Voxanne Admin cannot start: {exc}", err=True)
        raise typer.Exit(EXIT_SETTINGS) from None


@app.command("serve")
def serve(
    demo: Annotated[bool, typer.Option(help="Load demo organizations into an empty database.")] = False,
    history: Annotated[bool, typer.Option(help="With --demo: also load ~90 days of demo history once.")] = True,
    build_only: Annotated[bool, typer.Option(help="Prepare everything, then exit without serving.")] = False,
) -> None:
    """Start the database, apply migrations, build the frontend if needed and serve on PORT."""
    from voxanne_admin.serve import (
        build_frontend,
        check_redis,
        prepare_runtime,
        run_granian,
        startup_lock,
        worker_count,
    )

    settings = _settings()
    prepare_runtime(settings)  # first: PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client
    check_redis(settings, worker_count(settings))  # before touching the database: refuse early, with the reason
    from voxanne_admin import db, error_reporting, migrate
    from voxanne_admin import logging as vx_logging

    vx_logging.configure(settings.log_level)
    error_reporting.init(settings)
    url = db.ensure_database()
    typer.echo(f"Database: {db.safe_url(url)}" if settings.database_url else
               f"Database: embedded PostgreSQL in {settings.data_dir / 'pgdata'}")
    # As the owner: on a fresh install the app role does not exist until the migrations create it.
    with startup_lock(db.owner_url()):  # replicas starting together: one migrates and seeds, the others wait
        migrate.upgrade_database()
        if demo or settings.voxanne_demo:
            created = _seed_demo(history=history)
            if created:
                typer.echo(f"Loaded {created} demo organizations.")
    _check_audit_keys()
    _refuse_unopenable_secrets()
    _check_credentials_open()
    _announce_setup_code(settings)
    db.reset_engine()  # workers open their own pools after fork
    try:
        build_frontend(settings)
        if not build_only:
            run_granian(settings)
    finally:
        if settings.database_url is None:
            db.stop_embedded(settings.data_dir)
