"""Every PostgreSQL advisory-lock key the console takes, in one place, so no two features ever share a key.

Keys are 64-bit integers (one-key form) or a pair of 32-bit integers (two-key form: a namespace and an id). All
one-key values start with 0x7A ("z") to stay clear of other applications on a shared database.

- transaction-scoped (`pg_advisory_xact_lock`): released at commit/rollback; used inside a service's transaction.
- session-scoped (`pg_advisory_lock` / `pg_try_advisory_lock`): held on a dedicated connection across provider
  calls or a whole job run, never inside a transaction (see agents/flows.py and jobs/service.py).
"""

from __future__ import annotations

import zlib

AUDIT_SEALER = 0x7A0D17  # xact (try): one sealer links audit rows at a time, across every worker and replica
AUDIT_RETENTION = 0x7A0D19  # xact: one audit archive-and-purge at a time
DB_GRANTS = 0x7A0D1A  # xact: one process grants the app role its privileges at a time
AUDIT_STREAM = 0x7A0D1B  # session (try): one SIEM streamer at a time, held on its own connection across the POSTs
FIRST_FOUNDER = 0x7A0D18  # xact: two people opening a fresh install at once, one becomes the founder
JOB_BASE = 0x7A0E0000  # session: + crc32(job name) % 0xFFFF, one run of a job at a time across processes
AGENT_SYNC_BASE = 0x7A0F0000  # session: + agent id, syncs of one agent to Vapi are serialised
APPOINTMENT_SLOT_NAMESPACE = 0x7A10  # xact, two-key: (namespace, crc32(org:slot) - 2**31), no double booking
SSO_EMAIL_NAMESPACE = 0x7A12  # xact, two-key: (namespace, crc32(email) - 2**31), one JIT account per email
CALL_STATS_REFRESH = 0x7A11CA  # xact: one refresher of the call-statistics rollup at a time
DEMO_LOAD = 0x7A0DE0  # session: one process loads the demo history into an empty database
CREDENTIAL_ROTATION = 0x7A0C4E  # session (try): one credential rotation at a time; a second is told to wait
SPEND_GUARD = 0x7A05E4  # xact: one spend-guard decision at a time (no double pause, no lost trip)
STARTUP = 0x7A0DE1  # session: one replica at a time migrates the database and seeds the demo at start


def job(job_name: str) -> int:
    """The session lock key of a scheduled job."""
    return JOB_BASE + zlib.crc32(job_name.encode()) % 0xFFFF


def agent_sync(agent_id: int) -> int:
    """The session lock key serialising the Vapi syncs of one agent."""
    return AGENT_SYNC_BASE + agent_id


def appointment_slot(org_id: int, start_iso: str) -> tuple[int, int]:
    """The two-key transaction lock of one organization's appointment slot."""
    return APPOINTMENT_SLOT_NAMESPACE, zlib.crc32(f"{org_id}:{start_iso}".encode()) - 2**31


def sso_email(email: str) -> tuple[int, int]:
    """The two-key transaction lock serialising single sign-on decisions for one email (no duplicate JIT user)."""
    return SSO_EMAIL_NAMESPACE, zlib.crc32(email.encode()) - 2**31
