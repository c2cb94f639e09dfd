"""TelephonyState: the setup wizard of the organization in scope, the overview and the carrier rules.

One State (the steps share the setup they show and change), assembled from one mixin per step so each step's
vars and handlers live in their own module: country, number, line_codes, verify, rules."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.telephony import service as telephony
from voxanne_admin.telephony.models import ClinicLineRead, CountryRead, OverviewRow, SetupRead
from voxanne_admin.ui.components import next_sort, sort_rows
from voxanne_admin.ui.pages.telephony.common import blank
from voxanne_admin.ui.pages.telephony.country import CountryStep
from voxanne_admin.ui.pages.telephony.line_codes import LineAndCodesStep
from voxanne_admin.ui.pages.telephony.number import NumberStep
from voxanne_admin.ui.pages.telephony.rules import RulesEditor
from voxanne_admin.ui.pages.telephony.verify import VerifyStep
from voxanne_admin.ui.state import AppState, guarded, ui_only


class TelephonyState(CountryStep, NumberStep, LineAndCodesStep, VerifyStep, RulesEditor, AppState):
    """The setup wizard of the organization in scope, the overview and the carrier rules."""

    countries: list[CountryRead] = []
    setup: SetupRead = blank(SetupRead)
    overview: list[OverviewRow] = []
    page_error: str = ""
    overview_sort: str = ""

    @rx.var
    def country(self) -> CountryRead:
        """The chosen country of the organization in scope (blank before step 1)."""
        return next((c for c in self.countries if c.iso == self.setup.country), blank(CountryRead))

    @rx.var
    def current_step(self) -> int:
        """The first step not done (6 when verified); steps 3 and 4 are saved together."""
        s = self.setup
        if not s.country:
            return 1
        if not s.number_e164:
            return 2
        if not s.clinic_number:
            return 3
        if not s.activate_code:
            return 4
        return 6 if s.status == "verified" else 5

    @rx.var
    def has_org(self) -> bool:
        """An organization is in scope."""
        return self.selected_org.isdigit()

    def _org_id(self) -> int:
        return int(self.selected_org) if self.selected_org.isdigit() else 0

    def _apply_setup(self, setup: SetupRead) -> None:
        """Show a setup the service returned; the form fields follow what is saved."""
        self.setup = setup
        self.country_choice = setup.country
        if setup.number_country:
            self.number_country = setup.number_country
        elif setup.country and self.number_country not in self._number_options():
            options = self._number_options()
            self.number_country = options[0] if options else setup.country
        self._default_number_type()
        if setup.clinic_number and not self.clinic_raw:
            self.clinic_raw = setup.clinic_display or setup.clinic_number
            self._inspect()
        if setup.carrier:
            self.carrier = setup.carrier
        if setup.forwarding_type:
            self.forwarding_type = setup.forwarding_type
        if setup.ring_timer:
            self.ring_timer = str(setup.ring_timer)
        self._rule_note()

    def _refresh_overview(self) -> None:
        with db.read_only() as session:
            self.overview = sort_rows(telephony.list_overview(session), self.overview_sort)

    @rx.event
    @ui_only
    def sort_overview(self, key: str):
        """Sort the organizations by a column (again: the other way round)."""
        self.overview_sort = next_sort(self.overview_sort, key)
        self.overview = sort_rows(self.overview, self.overview_sort)

    def _refresh(self) -> None:
        self.countries = telephony.list_countries()
        self._refresh_overview()
        org_id = self._org_id()
        with db.read_only() as session:
            setup = telephony.get_setup(session, org_id=org_id) if org_id else blank(SetupRead)
        # The rules of the clinic's country matter here; the filter shows others on demand.
        self.rule_filter = setup.country or "all"
        self._load_rules()
        self._apply_setup(setup)

    @rx.event
    @guarded("viewer")
    def load(self):
        """Load the setup of the organization in scope, the overview and the rules."""
        self.page_error = ""
        self.numbers, self.searched_for, self.search_error, self.buy_error = [], "", "", ""
        self.clinic_raw, self.clinic, self.clinic_error, self.codes_errors = "", blank(ClinicLineRead), "", {}
        self.carrier, self.simulated, self.verify_error = "", False, ""
        self.searching = self.buying = self.verifying = self.simulating = False
        self._refresh()
        if self.setup.verifying:
            # A test call was started earlier (or from another tab): keep following it.
            self.verify_seq += 1
            self.verifying = True
            return TelephonyState.follow_verification(self.setup.org_id, self.verify_seq)
        if self.is_operator and self.setup.country and not self.setup.number_e164 and self.number_type:
            return self._start_search()
        return None
