"""Route constants and the navigation the sidebar shows (only pages that exist)."""

SETUP = "/setup"
LOGIN = "/login"
OVERVIEW = "/overview"
ORGANIZATIONS = "/organizations"
STAFF = "/staff"
JOBS = "/jobs"
WEBHOOKS = "/webhook-events"
AGENTS = "/agents"
CONSOLE = "/console"
CALL_LOGS = "/calls"
CALL_DETAIL = "/calls/[call_ref]"
ACCOUNT = "/account"
TELEPHONY = "/telephony"
DR = "/disaster-recovery"
FLAGS = "/flags"
FLAG_DETAIL = "/flags/[flag_key]"
AUDIT_LOG = "/audit-log"
CREDENTIALS = "/credentials"

# (label, route, icon, minimum role)
NAV = [
    ("Overview", OVERVIEW, "layout-dashboard", "viewer"),
    ("Organizations", ORGANIZATIONS, "building-2", "viewer"),
    ("Agents", AGENTS, "bot", "viewer"),
    ("Call logs", CALL_LOGS, "phone", "viewer"),
    ("Telephony", TELEPHONY, "phone-forwarded", "viewer"),
    ("Feature flags", FLAGS, "toggle-right", "viewer"),
    ("Founder console", CONSOLE, "phone-outgoing", "admin"),
    ("Webhooks", WEBHOOKS, "webhook", "operator"),
    ("Staff", STAFF, "users", "admin"),
    ("Jobs", JOBS, "timer", "admin"),
    ("Audit log", AUDIT_LOG, "scroll-text", "admin"),
    ("Disaster recovery", DR, "life-buoy", "admin"),
    ("Credentials", CREDENTIALS, "key-round", "founder"),
    ("Account", ACCOUNT, "user-cog", "viewer"),
]


def call_url(call_id) -> str:
    """The shareable address of one call's detail page."""
    return f"/calls/{call_id}"


def flag_url(key: str) -> str:
    """A feature flag's detail page."""
    return f"/flags/{key}"


def export_url(token: str) -> str:
    """Where the browser downloads a finished CSV export (the route checks the staff session)."""
    return f"/api/calls/exports/{token}"


def audit_export_url(query: str, fmt: str) -> str:
    """The streamed export of the Audit log's current filter (`query` is its URL query string)."""
    return f"/api/compliance/audit-logs/export?format={fmt}&via=page" + (f"&{query}" if query else "")


def audit_target_url(target_type: str, target_id: str) -> str:
    """Where an audit event's target lives in the console ("" when it has no page)."""
    if target_type == "call" and target_id:
        return call_url(target_id)
    if target_type == "feature_flag" and target_id:
        return flag_url(target_id)
    return {"staff": STAFF, "organization": ORGANIZATIONS, "agent": AGENTS}.get(target_type, "")


SIGNED_OUT_URL = "/api/auth/signed-out"
