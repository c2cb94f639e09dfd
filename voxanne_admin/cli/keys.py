"""Encryption keys: `voxanne-admin keys rotate` re-encrypts every encrypted column under the newest key."""

from __future__ import annotations

import typer

from voxanne_admin.cli.common import _database_url

keys_app = typer.Typer(help="Encryption keys for secrets stored in the database.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted column (auth.secrets_at_rest.ENCRYPTED_COLUMNS) under the newest key.

    Put the new key first in VOXANNE_ENCRYPTION_KEYS (or secrets/encryption.keys), keep the old ones after it,
    run this, then drop the old keys. Safe to run again: values already under the newest key are skipped."""
    from voxanne_admin import db, vault
    from voxanne_admin.audit import service as audit
    from voxanne_admin.auth import secrets_at_rest
    from voxanne_admin.settings.stored import invalidate_stored_credentials

    _database_url()
    vault.get_vault.cache_clear()
    try:
        with db.transaction() as session:  # the re-encryption and its audit event commit together
            counts = secrets_at_rest.rotate(session.connection())
            audit.record(session, actor=audit.Actor.system("cli"), action="encryption_keys_rotated",
                         diff={"re_encrypted": {"before": None, "after": counts},
                               "keys": {"before": None, "after": vault.get_vault().key_count}})
    except (vault.KeyMissingError, vault.DecryptError) as exc:
        typer.echo(f"Not rotated (nothing changed): {exc}. Keep every old key in the keyring until the rotation "
                   "has finished.", err=True)
        raise typer.Exit(2) from None
    invalidate_stored_credentials()  # stored provider credentials are read again under the new key
    for column, count in counts.items():
        typer.echo(f"{column}: {count} re-encrypted")
    typer.echo(f"Done: everything is under the newest of {vault.get_vault().key_count} key(s). "
               "Older keys can now be removed from the keyring.")
