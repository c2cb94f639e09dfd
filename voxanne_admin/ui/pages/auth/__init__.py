"""First run and sign-in: `state` holds the steps (the pending staff id lives only on the server), `views` the two
pages."""

from voxanne_admin.ui.pages.auth.views import login_page, setup_page

__all__ = ["login_page", "setup_page"]
