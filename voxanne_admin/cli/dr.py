"""`voxanne-admin dr ...`: backups, verification, drills and real restores. Exit 0 on success, 1 with the reason
on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

dr_app = typer.Typer(help="Backups and disaster recovery.", no_args_is_help=True)


def _prepare() -> None:
    from voxanne_admin import db
    from voxanne_admin.cli.common import _settings

    _settings()
    db.ensure_database()


def _actor():
    import getpass

    from voxanne_admin.audit.service import Actor

    return Actor(type="system", id="cli", user_agent=f"voxanne-admin dr ({getpass.getuser()})")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(str(exc), err=True)
    return typer.Exit(1)


@dr_app.command("backup")
def backup() -> None:
    """Take a base backup (or a pg_dump when the role lacks REPLICATION) and verify it."""
    from voxanne_admin.dr import flows
    from voxanne_admin.errors import DomainError

    _prepare()
    try:
        row = flows.run_backup(actor=_actor(), actor_role="founder")
    except DomainError as exc:
        raise _fail(exc) from None
    size = (row.size_bytes or 0) / 2**20
    typer.echo(f"{row.label}: {row.kind} backup, {size:.1f} MB in {(row.duration_ms or 0) / 1000:.1f} s, "
               f"{'verified' if row.verified_ok else 'NOT verified'} -> {row.path}")
    if row.verified_ok is False:
        typer.echo(f"Verification failed: {row.error}", err=True)
        raise typer.Exit(1)


@dr_app.command("verify")
def verify() -> None:
    """Run the six database checks and the backup checks now (recorded in backup_verification_log)."""
    from voxanne_admin.dr import flows

    _prepare()
    row = flows.run_verify(actor=_actor(), actor_role="founder")
    for check in (row.verification_details or {}).get("checks", []):
        line = f"  {check['status']:8} {check['name']}: {check['detail']}"
        typer.echo(line, err=check["status"] == "failure")
    typer.echo(f"Verification {row.status}: {row.checks_passed} passed, {row.checks_failed} not passed.",
               err=row.status == "failure")
    if row.status == "failure":
        raise typer.Exit(1)


def _print_drill(row) -> None:
    typer.echo(f"{row.kind.capitalize()} {row.id} from {row.backup_label}: RTO {row.rto_s:.1f} s "
               f"(restore to data checked), RPO {row.rpo_s if row.rpo_s is not None else 'n/a'} s "
               f"(newest recovered transaction vs target), recovered to "
               f"{row.recovered_to.isoformat() if row.recovered_to else 'n/a'}.")


@dr_app.command("drill")
def drill(
    target_time: Annotated[str, typer.Option("--target-time", help="ISO time to recover to (default: latest).")] = "",
    port: Annotated[int, typer.Option(help="Port of the scratch cluster (default: a free one).")] = 0,
) -> None:
    """Restore the latest backup into a scratch cluster, check it, tear it down; prints the measured RTO and RPO."""
    from voxanne_admin.dr import flows
    from voxanne_admin.errors import DomainError

    _prepare()
    try:
        row = flows.run_drill(target_time=flows.parse_target(target_time), actor=_actor(), actor_role="founder",
                              port=port or None)
    except DomainError as exc:
        raise _fail(exc) from None
    _print_drill(row)


@dr_app.command("restore")
def restore(
    to: Annotated[Path, typer.Option("--to", help="New or empty directory for the restored cluster.")],
    target_time: Annotated[str, typer.Option("--target-time", help="ISO time to recover to (default: latest).")] = "",
) -> None:
    """Restore into DIR for a real recovery (checked, then stopped); prints how to run it."""
    from voxanne_admin.dr import flows
    from voxanne_admin.errors import DomainError

    _prepare()
    dest = to.expanduser().resolve()
    try:
        row = flows.run_drill(target_time=flows.parse_target(target_time), actor=_actor(), actor_role="founder",
                              keep_dir=dest)
    except DomainError as exc:
        raise _fail(exc) from None
    _print_drill(row)
    typer.echo(f"Restored cluster (stopped) in {dest}. Start it with:\n"
               f"  pg_ctl -D {dest} -o '-p 5433' start\nor stop the console and move it to "
               "VOXANNE_DATA_DIR/pgdata (embedded), then `voxanne-admin serve`. See docs/disaster-recovery.md.")


@dr_app.command("status")
def status() -> None:
    """RPO now, the last drill's RTO, the last verification, backups and drills."""
    from voxanne_admin import db
    from voxanne_admin.dr import archive
    from voxanne_admin.dr import service as dr_service

    _prepare()
    mode = archive.resolve_source().mode
    with db.read_only() as session:
        head = dr_service.headline(session, mode)
        backups = dr_service.list_backups(session, limit=10)
        drills = dr_service.list_drills(session, limit=5)
    typer.echo(f"mode:              {mode} ({head['mode_meaning']})")
    typer.echo(f"RPO now:           {head['rpo_now']}")
    typer.echo(f"RTO of last drill: {head['rto_last']} {head['last_drill_at']}")
    typer.echo(f"last verification: {head['verification_status']} {head['verification_at']}")
    if head["receiver_error"]:
        typer.echo(f"WAL archiving is FAILING: {head['receiver_error']}", err=True)
    typer.echo("backups:")
    for b in backups:
        typer.echo(f"  {b.label:28} {b.kind:13} {b.status:9} {b.size:>10} {b.duration:>8} {b.verified}")
    typer.echo("drills:")
    for d in drills:
        typer.echo(f"  #{d.id:<4} {d.kind:8} {d.status:9} {d.started_at} RTO {d.rto or '-'} RPO {d.rpo or '-'} "
                   f"{d.error[:80]}")
