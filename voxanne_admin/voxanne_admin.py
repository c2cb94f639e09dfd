"""Wiring only: the Reflex app, our HTTP routes, the scheduler lifespan task and the pages."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import error_reporting
from voxanne_admin import logging as vx_logging
from voxanne_admin.api.app import front, mount
from voxanne_admin.dr import archive as dr_archive
from voxanne_admin.flags import listener as flag_listener
from voxanne_admin.jobs import scheduler
from voxanne_admin.settings import get_settings
from voxanne_admin.telephony import places
from voxanne_admin.ui import routes, styles
from voxanne_admin.ui.components.browser import browser_commands
from voxanne_admin.ui.pages import (
    account,
    agents,
    auth,
    console,
    credentials,
    dr,
    flags,
    jobs,
    organizations,
    overview,
    staff,
    telephony,
    webhooks,
)
from voxanne_admin.ui.pages.audit_log import page as audit_log
from voxanne_admin.ui.pages.call_logs import detail_page as call_detail
from voxanne_admin.ui.pages.call_logs import list_page as call_logs
from voxanne_admin.ui.security import OriginGuard
from voxanne_admin.ui.state import backend_exception_handler, ui_only
from voxanne_admin.webhooks import ingest as inbox_ingest
from voxanne_admin.webhooks import worker as inbox_worker

vx_logging.configure(get_settings().log_level)
error_reporting.init(get_settings())

PAGES = [
    auth.setup_page,
    auth.login_page,
    overview.overview_page,
    organizations.organizations_page,
    staff.staff_page,
    jobs.jobs_page,
    dr.dr_page,
    agents.agents_page,
    call_logs.call_logs_page,
    call_detail.call_detail_page,
    console.console_page,
    webhooks.webhooks_page,
    telephony.telephony_page,
    flags.flags_page,
    flags.flag_detail_page,
    account.account_page,
    audit_log.audit_log_page,
    credentials.credentials_page,
]


class IndexState(rx.State):
    """The root URL goes to the overview (which sends signed-out visitors to sign-in)."""

    @rx.event
    @ui_only
    def go(self):
        """Redirect to the overview."""
        return rx.redirect(routes.OVERVIEW)


def index() -> rx.Component:
    """Nothing to show at /: forward."""
    return rx.center(rx.spinner(size="3"), min_height="100vh")


app = rx.App(
    style=styles.base_style,
    stylesheets=styles.STYLESHEETS,
    api_transformer=mount,
    backend_exception_handler=backend_exception_handler,
    toaster=rx.toast.provider(position="bottom-right", close_button=True),
    # Toasts, scrolling, the address bar and full page loads the server asks for, carried out without eval.
    extra_app_wraps={(3, "BrowserCommands"): lambda stateful: browser_commands() if stateful else None},
)
app.add_middleware(OriginGuard())  # every event re-checks its websocket's Origin
app.register_lifespan_task(scheduler.lifespan)
app.register_lifespan_task(inbox_worker.lifespan)
app.register_lifespan_task(inbox_ingest.lifespan)
app.register_lifespan_task(dr_archive.lifespan)
app.register_lifespan_task(flag_listener.lifespan)
app.register_lifespan_task(places.warm)  # the clinic-line step's place names, off the start path
app.add_page(index, route="/", title="Voxanne Admin", on_load=IndexState.go)
for fn in PAGES:
    spec = fn._voxanne_page  # type: ignore[attr-defined]
    app.add_page(spec["component"], route=spec["route"], title=spec["title"], on_load=spec["on_load"])


def asgi():
    """granian's factory under `serve`: Reflex's ASGI app with the webhook hot path in front (`api.app.front`)."""
    return front(app())
