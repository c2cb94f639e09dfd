"""Step 1, the clinic's country: choose it, and confirm before a change clears the line and codes."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.telephony import service as telephony
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.telephony.common import SHOWN_ERRORS, friendly
from voxanne_admin.ui.state import actor_for, client_ip_of, current_staff, guarded, ui_only


class CountryStep(rx.State, mixin=True):
    """The country choice and its confirmation (part of TelephonyState)."""

    country_choice: str = ""
    country_error: str = ""
    pending_country: str = ""

    @rx.event
    @guarded("operator")
    def choose_country(self, value: str):
        """Set the clinic's country; once codes exist, ask first (a new country clears the line and codes)."""
        if self.setup.activate_code and value != self.setup.country:
            self.pending_country = value
            self.country_choice = self.setup.country
            return None
        return self._set_country(value)

    @rx.event
    @guarded("operator")
    def confirm_country(self):
        """Change the country after confirmation."""
        value, self.pending_country = self.pending_country, ""
        return self._set_country(value) if value else None

    @rx.event
    @ui_only
    def keep_country(self):
        """Keep the current country (the confirmation was dismissed)."""
        self.pending_country = ""
        self.country_choice = self.setup.country

    def _set_country(self, value: str):
        """Set the clinic's country (audited); the number search that follows shows the LAST choice only."""
        staff = current_staff()
        self.country_error = ""
        self.country_choice = value
        # Any search still running belongs to an earlier choice: its result must not land.
        self.search_seq += 1
        self.searching = False
        self.numbers, self.searched_for, self.search_error = [], "", ""
        try:
            # The service applies the rate limits (per IP from the audit actor, per organization).
            with db.transaction() as session:
                setup = telephony.set_country(session, org_id=self._org_id(), country=value,
                                              actor=actor_for(self, staff), actor_role=staff.role,
                                              ip=client_ip_of(self))
        except SHOWN_ERRORS as exc:
            self.country_error = friendly(exc)
            self.country_choice = self.setup.country
            return browser.toast_error(self.country_error)
        self.number_country = ""
        self.caveats_ok = False
        self.rule_filter = setup.country or "all"
        self._load_rules()
        self._apply_setup(setup)
        self._refresh_overview()
        return self._start_search()
