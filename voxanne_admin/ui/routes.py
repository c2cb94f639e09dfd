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
    ("Disaster recovery", DR, "life-buoy", "admin"),
    ("Credentials", CREDENTIALS, "key-round", "founder"),
    ("Account", ACCOUNT, "user-cog", "viewer"),
]


def establish_url(ticket: str) -> str:
    """Where the browser exchanges a sign-in ticket for its session cookie."""
    return f"/api/auth/establish?ticket={ticket}"


def call_url(call_id) -> str:
    """The shareable address of one call's detail page."""
    return f"/calls/{call_id}"


def flag_url(key: str) -> str:
    """A feature flag's detail page."""
    return f"/flags/{key}"


def export_url(token: str) -> str:
    """Where the browser downloads a finished CSV export (the route checks the staff session)."""
    return f"/api/calls/exports/{token}"


SIGNED_OUT_URL = "/api/auth/signed-out"
