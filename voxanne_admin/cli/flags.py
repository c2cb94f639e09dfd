"""`voxanne-admin flags ...` and `voxanne-admin tokens create`: JSON lines for scripts; domain errors exit 1."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

flags_app = typer.Typer(help="Feature flags.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for scripts and monitoring.", no_args_is_help=True)


def _db() -> None:
    from voxanne_admin.cli.common import _database_url

    _database_url()


def _actor():
    from voxanne_admin.audit.service import Actor

    return Actor(type="system", id="cli", user_agent=f"voxanne-admin cli ({getpass.getuser()})")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(str(exc), err=True)
    return typer.Exit(1)


def _bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "on", "yes", "1"):
        return True
    if lowered in ("false", "off", "no", "0"):
        return False
    typer.echo(f"--{name} is true or false, not '{value}'.", err=True)
    raise typer.Exit(2)


@flags_app.command("list")
def flags_list() -> None:
    """One JSON object per flag and line: key, type, enabled, rollout (and protected, archived, stale)."""
    from voxanne_admin.flags import flows
    from voxanne_admin.flags import service as flag_service

    _db()
    for flag in flows.read(flag_service.list_flags):
        typer.echo(json.dumps({"key": flag.key, "type": flag.type, "enabled": flag.enabled, "rollout": flag.rollout,
                               "protected": flag.protected, "archived": flag.archived, "stale": flag.stale}))


@flags_app.command("set")
def flags_set(
    key: Annotated[str, typer.Argument(help="The flag key, e.g. outbound_calling.")],
    enabled: Annotated[str | None, typer.Option(help="true or false.")] = None,
    rollout: Annotated[int | None, typer.Option(help="Percentage of organizations, 0-100.")] = None,
    org: Annotated[str | None, typer.Option(help="Organization slug for --override.")] = None,
    override: Annotated[str | None, typer.Option(help="on, off or none (with --org).")] = None,
    reason: Annotated[str, typer.Option(help="Why the organization is forced on/off.")] = "set from the CLI",
) -> None:
    """Change a flag's state or rollout, or an organization's override (audited). Prints the flag as JSON."""
    from voxanne_admin.errors import DomainError
    from voxanne_admin.flags import flows

    if (org is None) != (override is None):
        typer.echo("--org and --override go together (e.g. --org acme --override on).", err=True)
        raise typer.Exit(2)
    changes: dict = {}
    if (value := _bool(enabled, "enabled")) is not None:
        changes["enabled"] = value
    if rollout is not None:
        changes["rollout"] = rollout
    if not changes and org is None:
        typer.echo("Nothing to change: give --enabled, --rollout or --org with --override.", err=True)
        raise typer.Exit(2)
    _db()
    try:
        flag = None
        if changes:
            flag = flows.update(key=key, changes=changes, actor=_actor(), actor_role="founder")
        if org is not None:
            flag = flows.set_override(key=key, org_slug=org, value=(override or "").lower(), reason=reason,
                                      actor=_actor(), actor_role="founder")
    except DomainError as exc:
        raise _fail(exc) from None
    assert flag is not None
    typer.echo(json.dumps({"key": flag.key, "type": flag.type, "enabled": flag.enabled, "rollout": flag.rollout,
                           "version": flag.version}))


@flags_app.command("evaluate")
def flags_evaluate(
    key: Annotated[str, typer.Argument(help="The flag key.")],
    org: Annotated[str, typer.Option(help="Organization slug.")],
) -> None:
    """Is the flag on for this organization, and why: {"flag", "org", "enabled", "reason"}."""
    from voxanne_admin.errors import DomainError
    from voxanne_admin.flags import flows, snapshot

    _db()
    try:
        enabled, reason = flows.evaluate_one(key, org)
    except DomainError as exc:
        raise _fail(exc) from None
    snapshot.flush_counts()
    typer.echo(json.dumps({"flag": key, "org": org, "enabled": enabled, "reason": reason}))


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="The staff member the token acts as.")],
    name: Annotated[str, typer.Option(help="What will use it, e.g. 'Grafana'.")],
    scope: Annotated[list[str] | None, typer.Option(help="flags, flags:write, monitoring, calls, compliance; "
                                                         "repeat for several. Default: all the role allows.")] = None,
) -> None:
    """Create an API token for a staff member (audited); the token is printed once, on the last line."""
    from sqlmodel import select

    from voxanne_admin import db
    from voxanne_admin.auth import tokens
    from voxanne_admin.auth.models import StaffUser
    from voxanne_admin.errors import DomainError

    _db()
    try:
        with db.transaction() as session:
            user = session.exec(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()
            if user is None:
                typer.echo(f"There is no staff member with the email {email}.", err=True)
                raise typer.Exit(1)
            token = tokens.create(session, staff_id=user.id or 0, name=name, actor=_actor(), scopes=scope or None)
            role = user.role
    except DomainError as exc:
        raise _fail(exc) from None
    typer.echo(f"Token '{name}' for {email} ({role}). Store it now: it is not shown again.")
    typer.echo(token)
