"""The sealer's scheduler tick (every second in every worker; exactly one of them links at a time)."""

from __future__ import annotations

import logging

from voxanne_admin import db
from voxanne_admin.audit import chain, flood
from voxanne_admin.settings import get_settings

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


def tick_once() -> tuple[int, dict | None]:
    """Flush closed flood-control windows, seal what is committed, checkpoint when due. Never raises."""
    try:
        with db.transaction() as session:
            flood.flush_closed(session)
        with db.transaction() as session:
            sealed, checkpoint = chain.tick(session, checkpoint_every_s=get_settings().audit_checkpoint_seconds)
        if checkpoint:
            log.info("audit checkpoint", extra={"seq": checkpoint["seq"], "count": checkpoint["count"]})
        return sealed, checkpoint
    except Exception:  # the sealer must outlive a database restart or a full disk; it retries next tick
        log.exception("audit sealer tick failed")
        return 0, None
