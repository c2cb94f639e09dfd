"""Step 2, our number: where and what to search, the search itself, and buying the chosen number.

A provider refusal (Twilio 21452 on search; 21631, 21649, 21422 on purchase) reaches the person as its actionable
message, inline and as a toast, and the busy flag of the step is cleared whatever happens."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.telephony.flows import provisioning as provisioning_flow
from voxanne_admin.telephony.models import AvailableNumberRead, CountryRead
from voxanne_admin.ui.components import browser, next_sort, sort_rows
from voxanne_admin.ui.pages.telephony.common import NUMBER_TYPE_LABELS, SHOWN_ERRORS, blank, friendly
from voxanne_admin.ui.state import actor_for, client_ip_of, current_staff, guarded, ui_only


def describe_search(country: str, number_type: str, area_code: str, contains: str) -> str:
    """What a search looked for, in words: 'local (geographic) numbers in US with area code 201'."""
    parts = [NUMBER_TYPE_LABELS.get(number_type, number_type).lower(), f"numbers in {country}"]
    if area_code:
        parts.append(f"with area code {area_code}")
    if contains:
        parts.append(f"containing {contains}")
    return " ".join(parts)


class NumberStep(rx.State, mixin=True):
    """Number search and purchase (part of TelephonyState). The request sequence number drops stale search
    results: only the newest request may write."""

    number_country: str = ""
    number_type: str = ""
    area_code: str = ""
    contains: str = ""
    numbers: list[AvailableNumberRead] = []
    searched_for: str = ""
    searched_type: str = ""
    searching: bool = False
    search_error: str = ""
    search_seq: int = 0
    caveats_ok: bool = False
    buy_e164: str = ""
    buy_display: str = ""
    buying: bool = False
    buy_error: str = ""
    numbers_sort: str = ""

    @rx.var
    def number_country_info(self) -> CountryRead:
        """The country the number is searched in (another one for NG/TR clinics)."""
        return next((c for c in self.countries if c.iso == self.number_country), blank(CountryRead))

    @rx.var
    def number_country_options(self) -> list[dict[str, str]]:
        """Where this organization can get a number (ISO and name): its own country if self-serve, then the
        suggested ones."""
        names = {c.iso: c.name for c in self.countries}
        return [{"iso": iso, "label": f"{names.get(iso, iso)} ({iso})"} for iso in self._number_options()]

    def _number_options(self) -> list[str]:
        country = next((c for c in self.countries if c.iso == self.setup.country), None)
        if country is None:
            return []
        own = [country.iso] if country.self_serve else []
        return own + [c for c in country.suggested_number_countries if c != country.iso]

    @rx.var
    def foreign_number(self) -> bool:
        """The number is searched in another country than the clinic's: the forwarding caveats apply."""
        return self.number_country != "" and self.setup.country != "" and self.number_country != self.setup.country

    @rx.var
    def can_buy(self) -> bool:
        """Buying is allowed: not busy, and for a number abroad the caveats were acknowledged."""
        return (not self.buying) and (self.caveats_ok or not self.foreign_number)

    def _default_number_type(self) -> None:
        info = next((c for c in self.countries if c.iso == self.number_country), None)
        types = list(info.number_types) if info else []
        if self.number_type not in types:
            self.number_type = types[0] if types else ""

    def _start_search(self):
        if not (self.number_country and self.number_type):
            return None
        self.search_seq += 1
        self.searching = True
        self.search_error = ""
        return self.__class__.run_search(self._org_id(), self.number_country, self.number_type, self.area_code,
                                         self.contains, self.search_seq)

    @rx.event
    @guarded("operator")
    def set_number_country(self, value: str):
        """Search numbers in another supported country (NG/TR clinics)."""
        self.number_country = value
        self.caveats_ok = False
        self._default_number_type()
        self.numbers, self.searched_for = [], ""
        return self._start_search()

    @rx.event
    @ui_only
    def set_number_type(self, value: str):
        """Pick local, mobile or toll-free (search runs on submit)."""
        self.number_type = value

    @rx.event
    @ui_only
    def sort_numbers(self, key: str):
        """Sort the numbers found by a column (again: the other way round)."""
        self.numbers_sort = next_sort(self.numbers_sort, key)
        self.numbers = sort_rows(self.numbers, self.numbers_sort)

    @rx.event
    @ui_only
    def set_caveats_ok(self, value: bool):
        """The operator confirms the clinic knows the forwarding caveats."""
        self.caveats_ok = bool(value)

    @rx.event
    @guarded("operator")
    def search(self, form: dict):
        """Search available numbers (Enter in any field submits)."""
        area = str(form.get("area_code", "")).strip()
        contains = str(form.get("contains", "")).strip()
        self.area_code, self.contains = area, contains
        if area and not area.isdigit():
            self.search_error = "The area code is digits only, like 201 (US) or 20 (London)."
            return None
        if contains and not all(ch.isdigit() for ch in contains):
            self.search_error = "“Contains” takes digits only, like 555 or 1234."
            return None
        if not self.number_type:
            self.search_error = "Choose a number type first."
            return None
        return self._start_search()

    @rx.event(background=True)
    @guarded("operator")
    async def run_search(self, org_id: int, country: str, number_type: str, area_code: str, contains: str,
                         seq: int):
        """Ask the provider for numbers; a result for an earlier request is dropped, a refusal is shown."""
        found: list[AvailableNumberRead] = []
        error = ""
        try:
            found = await provisioning_flow.search_numbers(org_id=org_id, country=country, number_type=number_type,
                                                   area_code=area_code, contains=contains, limit=10)
        except SHOWN_ERRORS as exc:
            error = friendly(exc)
        finally:
            # Whatever happened (an unexpected error included), the newest request stops the spinner.
            async with self:
                if seq == self.search_seq:
                    self.searching = False
        async with self:
            if seq != self.search_seq:
                return None  # stale: a newer country/search choice owns the view
            self.numbers, self.numbers_sort = found, ""  # a new list comes in the provider's order
            self.search_error = error
            self.searched_type = number_type  # what a Buy in this list buys, whatever the Type field says now
            self.searched_for = describe_search(country, number_type, area_code, contains)
        return browser.toast_error(error) if error else None

    @rx.event
    @guarded("operator")
    def ask_buy(self, e164: str):
        """Confirm before buying (it costs money)."""
        if self.foreign_number and not self.caveats_ok:
            self.buy_error = "Tick the box confirming the clinic knows the forwarding caveats, then buy."
            return None
        number = next((n for n in self.numbers if n.e164 == e164), None)
        if number is None:
            return browser.toast_error("That number is not in the list any more. Search again.")
        self.buy_e164, self.buy_display, self.buy_error = number.e164, number.display, ""
        return None

    def _buy_refusal(self, org_id: int, e164: str, number_type: str) -> str:
        """Why this purchase may not go ahead ("" when it may), from server-side state only."""
        if not self.buying:
            return "Confirm the purchase in the dialog first."
        if org_id != self._org_id():
            return "This page now shows another organization. Search again and buy from its list."
        if number_type != (self.searched_type or self.number_type) or not any(
                n.e164 == e164 for n in self.numbers):
            return "That number is not in the list any more. Search again."
        foreign = self.number_country != "" and self.setup.country != "" and self.number_country != self.setup.country
        if foreign and not self.caveats_ok:
            return "Tick the box confirming the clinic knows the forwarding caveats, then buy."
        return ""

    @rx.event
    @ui_only
    def cancel_buy(self):
        """Close the purchase confirmation."""
        self.buy_e164 = ""

    @rx.event
    @guarded("operator")
    def confirm_buy(self):
        """Buy the confirmed number in the background (it takes a few seconds)."""
        if self.buying or not self.buy_e164:
            return None
        e164, self.buy_e164 = self.buy_e164, ""
        self.buying = True
        self.buy_error = ""
        return self.__class__.run_buy(self._org_id(), e164, self.searched_type or self.number_type)

    @rx.event(background=True)
    @guarded("operator")
    async def run_buy(self, org_id: int, e164: str, number_type: str):
        """Buy, set our webhooks, import into Vapi and record; any failure after buying releases the number.

        Everything the page checked is checked again here from the server's state, since this event can be sent
        on its own: a purchase confirmed by `confirm_buy` (buying), for the organization the page shows, of a
        number from this page's own search, of the searched type, and for a number abroad the caveats ticked."""
        staff = current_staff()
        async with self:
            refusal = self._buy_refusal(org_id, e164, number_type)
            if refusal:
                self.buying, self.buy_error = False, refusal
                return browser.toast_error(refusal)
        try:
            async with self:
                actor = actor_for(self, staff)
                ip = client_ip_of(self)
            setup = await provisioning_flow.provision_number(org_id=org_id, e164=e164, number_type=number_type,
                                                             actor=actor, actor_role=staff.role, ip=ip)
        except SHOWN_ERRORS as exc:
            async with self:
                self.buy_error = friendly(exc)
                return browser.toast_error(self.buy_error)
        finally:
            async with self:
                self.buying = False
        async with self:
            self.numbers = []
            if setup.org_id == self._org_id():
                self._apply_setup(setup)
            self._refresh_overview()
            return browser.toast_success(f"{setup.number_display or e164} is now the organization's number. "
                                    "Next: the clinic's line and carrier.")
