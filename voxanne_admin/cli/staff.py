"""Staff accounts from the command line: create one, single sign-on only, unlink an SSO identity."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from voxanne_admin.cli.common import (
    _database_url,
    _settings,
    app,
)
from voxanne_admin.errors import DomainError


@app.command("create-staff")
def create_staff(
    email: Annotated[str, typer.Option(help="Work email (sign-in name).")],
    role: Annotated[str, typer.Option(help="viewer, operator, admin or founder.")] = "viewer",
    name: Annotated[str, typer.Option(help="Full name; defaults to the email's local part.")] = "",
) -> None:
    """Create a staff account (password from VOXANNE_NEW_PASSWORD or a prompt; TOTP set up at first sign-in)."""
    from voxanne_admin import db
    from voxanne_admin.audit.service import Actor
    from voxanne_admin.auth import service as auth_service

    _database_url()
    password = os.environ.get("VOXANNE_NEW_PASSWORD") or ""
    if not password:
        if not sys.stdin.isatty():
            typer.echo("Set VOXANNE_NEW_PASSWORD or run in a terminal to be asked for the password.", err=True)
            raise typer.Exit(1)
        password = getpass.getpass("Initial password (12+ characters): ")
        if getpass.getpass("Repeat it: ") != password:
            typer.echo("The passwords do not match.", err=True)
            raise typer.Exit(1)
    actor = Actor(type="system", id="cli", email=None, user_agent=f"voxanne-admin cli ({getpass.getuser()})")
    try:
        with db.transaction() as session:
            user = auth_service.create_staff(session, email=email, name=name or email.split("@")[0], role=role,
                                             password=password, actor=actor, actor_role="founder")
            created = (user.email, user.role)
    except DomainError as exc:
        typer.echo(f"Not created: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Created {created[0]} ({created[1]}). At their first sign-in they choose their own password and set "
               "up two-factor sign-in.")


@app.command("staff-sso-only")
def staff_sso_only(
    email: Annotated[str, typer.Argument(help="The staff member's email.")],
    on: Annotated[bool, typer.Option("--on/--off", help="Refuse (or allow again) their password sign-in.")] = True,
) -> None:
    """Make a staff member sign in by single sign-on only (founders keep password + TOTP as break-glass)."""
    from voxanne_admin import db
    from voxanne_admin.auth import sso
    from voxanne_admin.errors import DomainError

    _settings()
    _database_url()
    actor = _cli_actor()
    try:
        with db.transaction() as session:
            sso.set_sso_only(session, actor_user=None, staff_id=_staff_id(session, email), sso_only=on, actor=actor)
    except DomainError as exc:
        typer.echo(f"Not changed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{email}: {'single sign-on only' if on else 'password sign-in allowed again'}.")


@app.command("staff-sso-unlink")
def staff_sso_unlink(email: Annotated[str, typer.Argument(help="The staff member's email.")]) -> None:
    """Forget the IdP account linked to a staff member (after the IdP re-created their account)."""
    from voxanne_admin import db
    from voxanne_admin.auth import sso
    from voxanne_admin.errors import DomainError

    _database_url()
    actor = _cli_actor()
    try:
        with db.transaction() as session:
            sso.unlink(session, staff_id=_staff_id(session, email), actor=actor)
    except DomainError as exc:
        typer.echo(f"Not changed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{email}: unlinked; their next single sign-on links by verified email again.")


def _cli_actor():
    from voxanne_admin.audit.service import Actor

    return Actor(type="system", id="cli", email=None, user_agent=f"voxanne-admin cli ({getpass.getuser()})")


def _staff_id(session, email: str) -> int:
    """The staff member with this email, or exit 1 saying there is none."""
    from voxanne_admin.auth import service as auth_service

    user = auth_service.get_by_email(session, email=auth_service.normalise_email(email))
    if user is None:
        typer.echo(f"No staff account for {email}.", err=True)
        raise typer.Exit(1)
    return user.id or 0
