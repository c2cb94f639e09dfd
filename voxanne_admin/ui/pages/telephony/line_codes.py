"""Steps 3 and 4, saved together: the clinic's existing line (checked as typed), its carrier, when to forward,
and the codes the clinic dials."""

from __future__ import annotations

import reflex as rx

from voxanne_admin import db
from voxanne_admin.errors import Conflict, InvalidInput
from voxanne_admin.telephony import forwarding
from voxanne_admin.telephony import service as telephony
from voxanne_admin.telephony.models import ClinicLineRead
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.telephony.common import SHOWN_ERRORS, TIMER_OPTIONS, blank, friendly
from voxanne_admin.ui.state import actor_for, current_staff, guarded, ui_only

CODE_FIELDS = ("clinic_number", "carrier", "forwarding_type", "ring_timer")


class LineAndCodesStep(rx.State, mixin=True):
    """The clinic line, carrier and forwarding choice, and generating the codes (part of TelephonyState)."""

    clinic_raw: str = ""
    clinic: ClinicLineRead = blank(ClinicLineRead)
    clinic_error: str = ""
    carrier: str = ""
    forwarding_type: str = "no_answer"
    ring_timer: str = str(forwarding.DEFAULT_TIMER)
    codes_errors: dict[str, str] = {}
    generating: bool = False

    @rx.var
    def carrier_options(self) -> list[str]:
        """Carriers to confirm from: the checked line's list, else the country's."""
        if self.clinic.carrier_choices:
            return self.clinic.carrier_choices
        country = next((c for c in self.countries if c.iso == self.setup.country), None)
        return list(country.carriers) if country else []

    def _inspect(self) -> None:
        raw = self.clinic_raw.strip()
        before = self.clinic.e164
        self.clinic, self.clinic_error = blank(ClinicLineRead), ""
        if not raw:
            return
        try:
            self.clinic = telephony.inspect_clinic_number(raw=raw, country=self.setup.country)
        except InvalidInput as exc:
            self.clinic_error = str(exc)
            return
        hint = self.clinic.carrier_hint if self.clinic.carrier_hint in self.clinic.carrier_choices else ""
        # Another line: its own suggestion replaces the carrier picked for the previous one (still confirmable).
        if (hint and self.clinic.e164 != before) or self.carrier not in self.clinic.carrier_choices:
            self.carrier = hint or (self.carrier if self.carrier in self.clinic.carrier_choices else "")

    @rx.event
    @guarded("operator")
    def type_clinic(self, value: str):
        """Check the clinic's number as it is typed: validity, line type, carrier suggestion."""
        self.clinic_raw = value
        self.codes_errors = {k: v for k, v in self.codes_errors.items() if k not in ("clinic_number", "form")}
        self._inspect()

    @rx.event
    @ui_only
    def set_carrier(self, value: str):
        """Confirm or change the clinic's carrier."""
        self.carrier = value
        self.codes_errors = {k: v for k, v in self.codes_errors.items() if k != "carrier"}

    @rx.event
    @ui_only
    def set_forwarding_type(self, value: str):
        """All calls, busy, no answer or unreachable."""
        self.forwarding_type = value

    @rx.event
    @ui_only
    def set_ring_timer(self, value: str):
        """Seconds the clinic's phone rings before a no-answer forward."""
        self.ring_timer = value

    def _code_input_errors(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not self.clinic_raw.strip():
            errors["clinic_number"] = "Type the clinic's existing phone number, the one patients call today."
        elif self.clinic_error:
            errors["clinic_number"] = self.clinic_error
        if not self.carrier:
            errors["carrier"] = "Confirm the clinic's carrier: the codes differ between carriers."
        if self.forwarding_type not in forwarding.TYPES:
            errors["forwarding_type"] = "Choose when calls should be forwarded."
        if self.forwarding_type == "no_answer" and self.ring_timer not in TIMER_OPTIONS:
            errors["ring_timer"] = "Choose a ring time between 5 and 30 seconds."
        return errors

    @rx.event
    @guarded("operator")
    def generate_codes(self, form: dict | None = None):
        """Save the clinic line, carrier and forwarding type; generate the codes to dial (audited)."""
        staff = current_staff()
        self._inspect()
        self.codes_errors = self._code_input_errors()
        if self.codes_errors:
            return None
        try:
            with db.transaction() as session:
                setup = telephony.configure_forwarding(
                    session, org_id=self._org_id(), clinic_number=self.clinic.e164, carrier=self.carrier,
                    forwarding_type=self.forwarding_type,
                    ring_timer=int(self.ring_timer) if self.forwarding_type == "no_answer" else 0,
                    actor=actor_for(self, staff), actor_role=staff.role)
        except forwarding.ForwardingRefused as exc:
            self.codes_errors = {"form": str(exc)}
            return None
        except InvalidInput as exc:
            self.codes_errors = {exc.field if exc.field in CODE_FIELDS else "form": str(exc)}
            return None
        except Conflict as exc:  # the line is another organization's clinic line
            self.codes_errors = {"clinic_number": str(exc)}
            return None
        except SHOWN_ERRORS as exc:
            self.codes_errors = {"form": friendly(exc)}
            return None
        self.simulated = False
        self.verify_error = ""
        self._apply_setup(setup)
        self._refresh_overview()
        return [browser.toast_success("Codes generated. Give them to the clinic, then verify with a test call."),
                browser.scroll_to("step-4")]
