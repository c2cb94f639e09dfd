"""The `voxanne-admin` command line. `common` holds the Typer app and the error mapping; each module adds its
commands to it (the console's own in `commands`, staff accounts in `staff`, `dr`, `flags`, `tokens` and `keys`)."""

from __future__ import annotations

from voxanne_admin.cli import commands, staff  # noqa: F401  (they register their commands on `app`)
from voxanne_admin.cli.common import _Group, app
from voxanne_admin.cli.credentials import credentials_app
from voxanne_admin.cli.dr import dr_app
from voxanne_admin.cli.flags import flags_app, tokens_app
from voxanne_admin.cli.keys import keys_app

app.add_typer(dr_app, name="dr")
app.add_typer(credentials_app, name="credentials")
app.add_typer(flags_app, name="flags")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")

__all__ = ["_Group", "app", "main"]


def main() -> None:
    """Console entry point."""
    app()
