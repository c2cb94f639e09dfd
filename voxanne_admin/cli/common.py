"""The `voxanne-admin` command line. Domain errors map to exit code 1, bad settings to 2, provider errors
(Twilio, Vapi) to 3; the message goes to stderr. The mapping is done once, in `_Group.invoke`."""

from __future__ import annotations

from typing import Any

import typer
from typer import _click as click
from typer.core import TyperGroup

from voxanne_admin.errors import EXIT_SETTINGS, DomainError, ProviderError, exit_code
from voxanne_admin.settings import SettingsError, get_settings


class _Group(TyperGroup):
    """Maps every DomainError escaping a command (ProviderError included) to its message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            prefix = f"{exc.provider.title()}: " if isinstance(exc, ProviderError) else ""
            typer.echo(f"{prefix}{exc}", err=True)
            raise typer.Exit(exit_code(exc)) from None


app = typer.Typer(help="Voxanne Admin: the operations console for Voxanne AI.", no_args_is_help=True,
                  add_completion=False, cls=_Group)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail commands.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
webhooks_app = typer.Typer(help="The webhook inbox.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The built-in sandbox providers (fault injection).", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(sandbox_app, name="sandbox")


def _settings():
    try:
        return get_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_SETTINGS) from None


def _database_url() -> str:
    from voxanne_admin import db
    from voxanne_admin.credentials import runtime

    _settings()
    url = db.ensure_database()
    runtime.install()  # settings consult credentials stored (encrypted) in the database
    return url
