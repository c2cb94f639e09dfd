"""`voxanne-admin credentials ...`: rotate provider credentials for automation, list them (last 4 only)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer

credentials_app = typer.Typer(help="Provider credentials (encrypted at rest).", no_args_is_help=True)
WHAT = {"vapi-key": "vapi_key", "vapi-webhook-secret": "vapi_webhook_secret", "twilio": "twilio_api_key",
        "twilio-auth-token": "twilio_auth_token", "slack": "slack_webhook_url"}


def _ready() -> None:
    from voxanne_admin.cli.common import _database_url
    from voxanne_admin.credentials import runtime

    _database_url()
    runtime.install()
    runtime.check_startup()


@credentials_app.command("rotate")
def rotate(
    what: Annotated[str, typer.Argument(help="vapi-key | vapi-webhook-secret | twilio | twilio-auth-token | slack")],
    value_stdin: Annotated[bool, typer.Option("--value-stdin", help="Read the new value from standard input "
                                              "(vapi-key: the key from Vapi's dashboard; twilio: SK...:secret).")]
    = False,
    grace_hours: Annotated[float | None, typer.Option(help="vapi-webhook-secret: accept the old secret this long "
                                                           "(default CREDENTIAL_GRACE_HOURS).")] = None,
) -> None:
    """Verify the new credential at the provider, then make it active. vapi-webhook-secret prints the new secret
    once, on the last line (put it into Vapi); the old one is accepted until the grace window ends."""
    from voxanne_admin.cli.staff import _cli_actor
    from voxanne_admin.credentials import flows

    name = WHAT.get(what)
    if name is None:
        typer.echo(f"Rotate one of: {', '.join(WHAT)} (not '{what}').", err=True)
        raise typer.Exit(2)
    value = sys.stdin.readline().strip() if value_stdin else None
    _ready()
    result = asyncio.run(flows.rotate(name, actor=_cli_actor(), actor_role="founder", value=value,
                                      grace_hours=grace_hours, reason="rotated from the CLI"))
    typer.echo(f"{what}: rotated, now ••••{result.last4}.")
    for note in result.notes:
        typer.echo(note)
    if result.secret:
        typer.echo(result.secret)


@credentials_app.command("list")
def list_credentials() -> None:
    """One JSON object per credential and line: name, source, last 4 characters, age in days, sandbox."""
    from voxanne_admin import db
    from voxanne_admin.credentials import service
    from voxanne_admin.settings import get_settings

    _ready()
    with db.read_only() as session:
        for read in service.list_reads(session, settings=get_settings()):
            typer.echo(json.dumps({"name": read.name, "source": read.source, "last4": read.masked[-4:],
                                   "age_days": read.age_days, "sandbox": read.sandbox, "old": read.old}))


@credentials_app.command("emergency-rotate")
def emergency(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: pauses all outbound calling.")] = False,
) -> None:
    """A key leaked: pause outbound calling, rotate what the console can, print what is left to do."""
    from voxanne_admin.cli.staff import _cli_actor
    from voxanne_admin.credentials import flows

    if not yes:
        typer.echo("This pauses all outbound calling and rotates credentials: add --yes to confirm.", err=True)
        raise typer.Exit(2)
    _ready()
    for line in asyncio.run(flows.emergency_rotate(actor=_cli_actor(), actor_role="founder")):
        typer.echo(line)
