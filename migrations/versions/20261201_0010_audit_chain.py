"""audit chain: row MACs (HMAC-SHA256, key outside the database), an insert-only seal table linked by the sealer,
flood-control windows, archive segments; retention deletes allowed only to the table owner

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

The old plain SHA-256 chain (prev_hash, hash) is replaced: existing rows get a MAC under the current key here (the
key file is created on first start), and the sealer links them from genesis on its first tick.
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_SQL = """
create or replace function audit_events_append_only() returns trigger language plpgsql as $$
begin
    -- Retention (archive first, then delete) runs as the table owner with voxanne.audit_retention = 'on';
    -- the application role is not the owner, so for it the tables stay append-only.
    if tg_op = 'DELETE' and current_setting('voxanne.audit_retention', true) = 'on'
       and pg_has_role(current_user, (select relowner from pg_class where oid = tg_relid), 'USAGE') then
        return old;
    end if;
    raise exception '% is append-only: % refused', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_seals_no_update_delete before update or delete on audit_seals
    for each row execute function audit_events_append_only();
create trigger audit_seals_no_truncate before truncate on audit_seals
    for each statement execute function audit_events_append_only();
"""


def _legacy_hash(r, prev: str) -> str:
    """The pre-0010 plain SHA-256 of a row (its content plus the previous row's hash)."""
    occurred = r["occurred_at"].astimezone(UTC).isoformat(timespec="microseconds")
    content = {k: r[k] for k in ("actor_type", "actor_id", "actor_email", "action", "target_type", "target_id",
                                 "org_id", "diff", "ip", "user_agent", "request_id")}
    content.update(occurred_at=occurred, prev_hash=prev)
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def _backfill_macs() -> None:
    """MAC every existing row under the new key, after checking the old plain chain; the result is audited."""
    from voxanne_admin.audit import keys
    from voxanne_admin.audit.models import AuditEvent
    from voxanne_admin.audit.service import compute_mac

    conn = op.get_bind()
    if not conn.execute(sa.text("select exists (select 1 from audit_events)")).scalar():
        return
    keyring = keys.load_mac_keys()
    columns = ["id", "occurred_at", "actor_type", "actor_id", "actor_email", "action", "target_type", "target_id",
               "org_id", "diff", "ip", "user_agent", "request_id"]
    op.execute("alter table audit_events disable trigger audit_events_no_update_delete")
    after, rows_done, prev, first_broken = 0, 0, "0" * 64, None
    while True:
        rows = conn.execute(sa.text(f"select {', '.join(columns)}, prev_hash, hash from audit_events "  # noqa: S608
                                    "where id > :a order by id limit 5000"), {"a": after}).mappings().all()
        if not rows:
            break
        updates = []
        for r in rows:
            if first_broken is None and (r["prev_hash"] != prev or _legacy_hash(r, prev) != r["hash"]):
                first_broken = r["id"]
            prev = r["hash"]
            event = AuditEvent(**{c: r[c] for c in columns}, key_id=keyring.current_id, mac="")
            updates.append({"i": r["id"], "k": keyring.current_id, "m": compute_mac(event, keyring.current)})
            after = r["id"]
        conn.execute(sa.text("update audit_events set key_id = :k, mac = :m where id = :i"), updates)
        rows_done += len(rows)
    op.execute("alter table audit_events enable trigger audit_events_no_update_delete")
    # Say in the trail itself what the old chain looked like when the new one took over.
    note = AuditEvent(occurred_at=datetime.now(UTC), actor_type="system", actor_id="migration-0010",
                      action="audit_chain_migrated", diff={"rows": rows_done, "legacy_chain_intact": first_broken is None,
                                                           "legacy_first_broken_id": first_broken},
                      key_id=keyring.current_id, mac="")
    note.mac = compute_mac(note, keyring.current)
    conn.execute(sa.text(
        "insert into audit_events (occurred_at, actor_type, actor_id, action, diff, key_id, mac, prev_hash, hash) "
        "values (:o, :t, :a, :n, cast(:d as jsonb), :k, :m, '', :h)"),
        {"o": note.occurred_at, "t": note.actor_type, "a": note.actor_id, "n": note.action,
         "d": json.dumps(note.diff), "k": note.key_id, "m": note.mac, "h": note.mac})


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('key_id', sa.String(length=16), nullable=True))
    op.add_column('audit_events', sa.Column('mac', sa.String(length=64), nullable=True))
    _backfill_macs()
    op.alter_column('audit_events', 'key_id', nullable=False)
    op.alter_column('audit_events', 'mac', nullable=False)
    op.drop_column('audit_events', 'hash')
    op.drop_column('audit_events', 'prev_hash')
    op.create_table(
        'audit_seals',
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('prev_id', sa.BigInteger(), nullable=False),
        sa.Column('key_id', sa.String(length=16), nullable=False),
        sa.Column('link', sa.String(length=64), nullable=False),
        sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('event_id'),
        sa.UniqueConstraint('seq'),
    )
    op.create_table(
        'audit_flood_windows',
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('detail', sa.dialects.postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint('kind', 'ip', 'window_start'),
    )
    op.create_table(
        'audit_archive_segments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('first_id', sa.BigInteger(), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.Column('first_seq', sa.BigInteger(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('last_link', sa.String(length=64), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('deleted', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=400), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('last_seq'),
    )
    op.execute(APPEND_ONLY_SQL)


def downgrade() -> None:
    op.drop_table('audit_archive_segments')
    op.drop_table('audit_flood_windows')
    op.execute("drop trigger if exists audit_seals_no_truncate on audit_seals")
    op.execute("drop trigger if exists audit_seals_no_update_delete on audit_seals")
    op.drop_table('audit_seals')
    op.execute("""
create or replace function audit_events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_events is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end
$$;""")
    op.add_column('audit_events', sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=''))
    op.add_column('audit_events', sa.Column('hash', sa.String(length=64), nullable=True))
    op.drop_column('audit_events', 'mac')
    op.drop_column('audit_events', 'key_id')
