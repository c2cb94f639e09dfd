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
ACCOUNT = "/account"
TELEPHONY = "/telephony"

# (label, route, icon, minimum role)
NAV = [
    ("Overview", OVERVIEW, "layout-dashboard", "viewer"),
    ("Organizations", ORGANIZATIONS, "building-2", "viewer"),
    ("Agents", AGENTS, "bot", "viewer"),
    ("Telephony", TELEPHONY, "phone-forwarded", "viewer"),
    ("Founder console", CONSOLE, "phone-outgoing", "admin"),
    ("Webhooks", WEBHOOKS, "webhook", "operator"),
    ("Staff", STAFF, "users", "admin"),
    ("Jobs", JOBS, "timer", "admin"),
    ("Account", ACCOUNT, "user-cog", "viewer"),
]


def establish_url(ticket: str) -> str:
    """Where the browser exchanges a sign-in ticket for its session cookie."""
    return f"/api/auth/establish?ticket={ticket}"


SIGNED_OUT_URL = "/api/auth/signed-out"
