"""Telephony (viewer reads, operator and up sets up, admins edit carrier rules): the step-by-step setup of the
organization in scope (country, our number, the clinic's line and carrier, forwarding codes, a verified test
call), every organization's telephony status, and the carrier forwarding rules."""

from __future__ import annotations

import asyncio
from typing import Any, get_origin

import reflex as rx
from pydantic import BaseModel

from voxanne_admin import db
from voxanne_admin.errors import Conflict, DomainError, InvalidInput
from voxanne_admin.telephony import forwarding
from voxanne_admin.telephony import rules as fwd_rules
from voxanne_admin.telephony import service as telephony
from voxanne_admin.telephony.flows import provisioning as provisioning_flow
from voxanne_admin.telephony.flows import verification as verification_flow
from voxanne_admin.telephony.models import (
    AvailableNumberRead,
    ClinicLineRead,
    CountryRead,
    OverviewRow,
    RuleRead,
    SetupRead,
)
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, labelled, page_header
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

TYPE_LABELS = {key: f"{key.replace('_', ' ').capitalize()}: {text}" for key, text in forwarding.TYPES.items()}
TIMER_OPTIONS = [str(t) for t in forwarding.TIMERS]
NUMBER_TYPE_LABELS = {"local": "Local (geographic)", "mobile": "Mobile", "toll-free": "Toll-free"}
FORMAT_LABELS = {"international": "International (+ and country code)", "national": "National with trunk 0 (07...)",
                 "national_digits": "National digits only (10 digits)"}
RULE_TYPES = ("unconditional", "busy", "no_answer", "unreachable")
RULE_TEXT_FIELDS = (*RULE_TYPES, *(f"{t}_cancel" for t in RULE_TYPES), *(f"{t}_check" for t in RULE_TYPES),
                    "domestic_only_reason", "confidence", "source")
VERIFY_POLL_S = 1.0
VERIFY_POLL_LIMIT = 180  # three minutes: a real test call rings for at most a minute or two
FOREIGN_CAVEATS = [
    "The clinic keeps its own number; patients still dial it. Its carrier forwards each call abroad to this number.",
    "The forwarded leg is billed to the clinic's line at international rates: ask the clinic to check its plan.",
    "Some carriers refuse to forward to international numbers (T-Mobile US, historically AT&T, some UK MVNOs): "
    "the carrier rules below say which, and step 4 refuses such a combination with an alternative.",
]


def _blank(model: type[BaseModel]) -> Any:
    """An empty read model (no organization in scope yet): '' / 0 / False / [] for every field."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required():
            continue
        kind = info.annotation
        if get_origin(kind) is list:
            values[name] = []
        else:
            values[name] = {bool: False, int: 0}.get(kind, "")
    return model(**values)


def friendly(exc: Exception) -> str:
    """The message staff see; a rate-limit refusal says plainly what to do."""
    text = str(exc)
    if text.rstrip().endswith("(HTTP 429)"):
        return f"Too many requests: {text} Wait a little, then try again; nothing was changed."
    return text


class TelephonyState(AppState):
    """The setup wizard of the organization in scope, the overview and the carrier rules."""

    countries: list[CountryRead] = []
    setup: SetupRead = _blank(SetupRead)
    overview: list[OverviewRow] = []
    rules: list[RuleRead] = []
    rule_filter: str = "all"
    page_error: str = ""

    # Step 1
    country_choice: str = ""
    country_error: str = ""
    pending_country: str = ""
    # Step 2 (the request sequence number drops stale search results: only the newest request may write)
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
    # Steps 3 and 4
    clinic_raw: str = ""
    clinic: ClinicLineRead = _blank(ClinicLineRead)
    clinic_error: str = ""
    carrier: str = ""
    forwarding_type: str = "no_answer"
    ring_timer: str = str(forwarding.DEFAULT_TIMER)
    codes_errors: dict[str, str] = {}
    generating: bool = False
    rule_confidence: str = ""
    rule_source: str = ""
    # Step 5
    simulating: bool = False
    simulated: bool = False
    verifying: bool = False
    verify_seq: int = 0
    verify_error: str = ""
    # Carrier rule editor
    rule_open: bool = False
    rule_id: int = 0
    rule_title: str = ""
    rule_form: dict[str, str] = {}
    rule_intl: bool = True
    rule_format: str = "international"
    rule_errors: dict[str, str] = {}

    # ------------------------------------------------------------------ derived values

    @rx.var
    def country(self) -> CountryRead:
        """The chosen country of the organization in scope (blank before step 1)."""
        return next((c for c in self.countries if c.iso == self.setup.country), _blank(CountryRead))

    @rx.var
    def number_country_info(self) -> CountryRead:
        """The country the number is searched in (another one for NG/TR clinics)."""
        return next((c for c in self.countries if c.iso == self.number_country), _blank(CountryRead))

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

    @rx.var
    def carrier_options(self) -> list[str]:
        """Carriers to confirm from: the checked line's list, else the country's."""
        if self.clinic.carrier_choices:
            return self.clinic.carrier_choices
        country = next((c for c in self.countries if c.iso == self.setup.country), None)
        return list(country.carriers) if country else []

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

    # ------------------------------------------------------------------ loading

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

    def _default_number_type(self) -> None:
        info = next((c for c in self.countries if c.iso == self.number_country), None)
        types = list(info.number_types) if info else []
        if self.number_type not in types:
            self.number_type = types[0] if types else ""

    def _rule_note(self) -> None:
        rule = None
        if self.setup.country and self.setup.carrier:
            with db.read_only() as session:
                rule = next((r for r in fwd_rules.list_rules(session, country=self.setup.country)
                             if r.carrier == self.setup.carrier), None)
        self.rule_confidence = rule.confidence if rule else ""
        self.rule_source = rule.source if rule else ""

    def _load_rules(self) -> None:
        with db.read_only() as session:
            self.rules = fwd_rules.list_rules(session, country="" if self.rule_filter == "all" else self.rule_filter)

    def _refresh(self) -> None:
        self.countries = telephony.list_countries()
        with db.read_only() as session:
            self.overview = telephony.list_overview(session)
            org_id = self._org_id()
            setup = telephony.get_setup(session, org_id=org_id) if org_id else _blank(SetupRead)
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
        self.clinic_raw, self.clinic, self.clinic_error, self.codes_errors = "", _blank(ClinicLineRead), "", {}
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

    # ------------------------------------------------------------------ step 1: country

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
                                              ip=self.router.session.client_ip or "")
        except DomainError as exc:
            self.country_error = friendly(exc)
            self.country_choice = self.setup.country
            return rx.toast.error(self.country_error)
        self.number_country = ""
        self.caveats_ok = False
        self.rule_filter = setup.country or "all"
        self._load_rules()
        self._apply_setup(setup)
        self._refresh_overview()
        return self._start_search()

    def _refresh_overview(self) -> None:
        with db.read_only() as session:
            self.overview = telephony.list_overview(session)

    # ------------------------------------------------------------------ step 2: number

    def _start_search(self):
        if not (self.number_country and self.number_type):
            return None
        self.search_seq += 1
        self.searching = True
        self.search_error = ""
        return TelephonyState.run_search(self._org_id(), self.number_country, self.number_type, self.area_code,
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
        """Ask the provider for numbers; a result for an earlier request is dropped."""
        try:
            found = await provisioning_flow.search_numbers(org_id=org_id, country=country, number_type=number_type,
                                                   area_code=area_code, contains=contains, limit=10)
            error = ""
        except DomainError as exc:
            found, error = [], friendly(exc)
        async with self:
            if seq != self.search_seq:
                return None  # stale: a newer country/search choice owns the view
            self.searching = False
            self.numbers = found
            self.search_error = error
            self.searched_type = number_type  # what a Buy in this list buys, whatever the Type field says now
            parts = [NUMBER_TYPE_LABELS.get(number_type, number_type).lower(), f"numbers in {country}"]
            if area_code:
                parts.append(f"with area code {area_code}")
            if contains:
                parts.append(f"containing {contains}")
            self.searched_for = " ".join(parts)
        return None

    @rx.event
    @guarded("operator")
    def ask_buy(self, e164: str):
        """Confirm before buying (it costs money)."""
        if self.foreign_number and not self.caveats_ok:
            self.buy_error = "Tick the box confirming the clinic knows the forwarding caveats, then buy."
            return None
        number = next((n for n in self.numbers if n.e164 == e164), None)
        if number is None:
            return rx.toast.error("That number is not in the list any more. Search again.")
        self.buy_e164, self.buy_display, self.buy_error = number.e164, number.display, ""
        return None

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
        return TelephonyState.run_buy(self._org_id(), e164, self.searched_type or self.number_type)

    @rx.event(background=True)
    @guarded("operator")
    async def run_buy(self, org_id: int, e164: str, number_type: str):
        """Buy, set our webhooks, import into Vapi and record; any failure after buying releases the number."""
        staff = current_staff()
        async with self:
            actor = actor_for(self, staff)
            ip = self.router.session.client_ip or ""
        try:
            setup = await provisioning_flow.provision_number(org_id=org_id, e164=e164, number_type=number_type,
                                                             actor=actor, actor_role=staff.role, ip=ip)
        except DomainError as exc:
            async with self:
                self.buying = False
                self.buy_error = friendly(exc)
                return rx.toast.error(self.buy_error)
        async with self:
            self.buying = False
            self.numbers = []
            if setup.org_id == self._org_id():
                self._apply_setup(setup)
            self._refresh_overview()
            return rx.toast.success(f"{setup.number_display or e164} is now the organization's number. "
                                    "Next: the clinic's line and carrier.")

    # ------------------------------------------------------------------ steps 3 and 4: clinic line, codes

    def _inspect(self) -> None:
        raw = self.clinic_raw.strip()
        before = self.clinic.e164
        self.clinic, self.clinic_error = _blank(ClinicLineRead), ""
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

    @rx.event
    @guarded("operator")
    def generate_codes(self, form: dict | None = None):
        """Save the clinic line, carrier and forwarding type; generate the codes to dial (audited)."""
        staff = current_staff()
        errors: dict[str, str] = {}
        self._inspect()
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
        self.codes_errors = errors
        if errors:
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
            field = exc.field if exc.field in ("clinic_number", "carrier", "forwarding_type", "ring_timer") else "form"
            self.codes_errors = {field: str(exc)}
            return None
        except Conflict as exc:  # the line is another organization's clinic line
            self.codes_errors = {"clinic_number": str(exc)}
            return None
        except DomainError as exc:
            self.codes_errors = {"form": friendly(exc)}
            return None
        self.simulated = False
        self.verify_error = ""
        self._apply_setup(setup)
        self._refresh_overview()
        return [rx.toast.success("Codes generated. Give them to the clinic, then verify with a test call."),
                rx.scroll_to("step-4")]

    # ------------------------------------------------------------------ step 5: verify

    @rx.event
    @guarded("operator")
    def simulate_dialled(self):
        """Sandbox only: the clinic 'dials' the activation code on the sandbox carrier."""
        if not self.sandbox:
            return rx.toast.error("Simulation exists only in sandbox mode. Ask the clinic to dial the code.")
        self.simulating = True
        return TelephonyState.run_simulate(self._org_id())

    @rx.event(background=True)
    @guarded("operator")
    async def run_simulate(self, org_id: int):
        """Tell the sandbox carrier the activation code was dialled."""
        staff = current_staff()
        async with self:
            actor = actor_for(self, staff)
        try:
            await verification_flow.sandbox_simulate_dialled(org_id=org_id, actor=actor, actor_role=staff.role)
        except DomainError as exc:
            async with self:
                self.simulating = False
                return rx.toast.error(friendly(exc))
        async with self:
            self.simulating = False
            self.simulated = True
            return rx.toast.success("Sandbox: the clinic's line now forwards as the code says. Start the test call.")

    @rx.event
    @guarded("operator")
    def start_verify(self):
        """Place the test call to the clinic's number and follow it until verified or failed."""
        if self.verifying:
            return None
        self.verifying = True
        self.verify_error = ""
        self.verify_seq += 1
        return TelephonyState.run_verify(self._org_id(), self.verify_seq)

    @rx.event(background=True)
    @guarded("operator")
    async def run_verify(self, org_id: int, seq: int):
        """Start the verification call, then poll its status."""
        staff = current_staff()
        async with self:
            actor = actor_for(self, staff)
        try:
            setup = await verification_flow.start_verification(org_id=org_id, actor=actor, actor_role=staff.role)
        except DomainError as exc:
            async with self:
                if seq == self.verify_seq:
                    self.verifying = False
                    self.verify_error = friendly(exc)
                return rx.toast.error(friendly(exc))
        async with self:
            if seq != self.verify_seq:
                return None
            self._apply_setup(setup)
        return TelephonyState.follow_verification(org_id, seq)

    @rx.event(background=True)
    @guarded("viewer")
    async def follow_verification(self, org_id: int, seq: int):
        """Poll the verification until verified or failed; the page shows each state as it comes."""
        for _ in range(VERIFY_POLL_LIMIT):
            with db.transaction() as session:
                setup = telephony.verification_status(session, org_id=org_id)
            async with self:
                if seq != self.verify_seq or setup.org_id != self._org_id():
                    return None
                self._apply_setup(setup)
                if not setup.verifying and setup.status in ("verified", "failed", "codes_issued", "not_started"):
                    self.verifying = False
                    self._refresh_overview()
                    if setup.status == "verified":
                        return rx.toast.success("Verified: the test call reached our number through the clinic's "
                                                "forwarding.")
                    if setup.status == "failed":
                        return rx.toast.error(f"Verification failed: {setup.status_reason}")
                    return None
            await asyncio.sleep(VERIFY_POLL_S)
        async with self:
            if seq == self.verify_seq:
                self.verifying = False
                self.verify_error = ("No result after three minutes. Check that the clinic dialled the activation "
                                     "code, then start the test call again.")
        return None

    # ------------------------------------------------------------------ carrier rules

    @rx.event
    @guarded("viewer")
    def set_rule_filter(self, value: str):
        """Show the rules of one country (or all)."""
        self.rule_filter = value
        self._load_rules()

    @rx.event
    @guarded("admin")
    def open_rule(self, rule_id: int):
        """Open a carrier rule in the editor."""
        rule = next((r for r in self.rules if r.id == rule_id), None)
        if rule is None:
            return rx.toast.error("That rule is not in the list any more. Refresh the page.")
        data = rule.model_dump()
        self.rule_id = rule.id
        self.rule_title = f"{rule.carrier} ({rule.country}, {rule.line_type})"
        self.rule_form = {k: str(data.get(k, "") or "") for k in RULE_TEXT_FIELDS}
        self.rule_intl = rule.forwards_international
        self.rule_format = rule.number_format
        self.rule_errors = {}
        self.rule_open = True
        return None

    @rx.event
    @ui_only
    def set_rule_open(self, value: bool):
        """Close the rule editor (Escape, Cancel)."""
        self.rule_open = value

    @rx.event
    @ui_only
    def set_rule_intl(self, value: bool):
        """Whether the carrier forwards to numbers abroad."""
        self.rule_intl = bool(value)

    @rx.event
    @ui_only
    def set_rule_format(self, value: str):
        """The number format the carrier expects in codes."""
        self.rule_format = value

    @rx.event
    @guarded("admin")
    def save_rule(self, form: dict):
        """Save the changed fields of a rule (audited with a diff)."""
        staff = current_staff()
        rule = next((r for r in self.rules if r.id == self.rule_id), None)
        if rule is None:
            self.rule_errors = {"form": "That rule is not in the list any more. Close this and refresh the page."}
            return None
        current = rule.model_dump()
        changes: dict[str, Any] = {}
        for key in RULE_TEXT_FIELDS:
            if key in form and str(form[key]).strip() != str(current.get(key, "") or ""):
                changes[key] = str(form[key]).strip()
        if self.rule_format != rule.number_format:
            changes["number_format"] = self.rule_format
        if self.rule_intl != rule.forwards_international:
            changes["forwards_international"] = self.rule_intl
        self.rule_form = {k: str(form.get(k, self.rule_form.get(k, ""))) for k in RULE_TEXT_FIELDS}
        if not changes:
            self.rule_errors = {"form": "Nothing changed. Edit a field, or Cancel."}
            return None
        try:
            with db.transaction() as session:
                fwd_rules.update_rule(session, rule_id=rule.id, changes=changes, actor=actor_for(self, staff),
                                      actor_role=staff.role)
        except InvalidInput as exc:
            self.rule_errors = {exc.field if exc.field in RULE_TEXT_FIELDS else "form": str(exc)}
            return None
        except DomainError as exc:
            self.rule_errors = {"form": str(exc)}
            return None
        self.rule_open = False
        self.rule_errors = {}
        self._load_rules()
        self._rule_note()
        return rx.toast.success(f"Rule for {rule.carrier} saved ({len(changes)} change"
                                f"{'s' if len(changes) != 1 else ''}, audited). Codes issued from now on use it.")


# ---------------------------------------------------------------------------------------------------- components


def short_badge(status) -> rx.Component:
    """Setup status in one or two words: not started, codes issued, verified, failed."""
    return rx.match(
        status,
        ("verified", rx.badge(rx.icon("circle-check", size=14), "Verified", color_scheme="green")),
        ("codes_issued", rx.badge(rx.icon("hash", size=14), "Codes issued", color_scheme="blue")),
        ("failed", rx.badge(rx.icon("circle-x", size=14), "Failed", color_scheme="red")),
        rx.badge(rx.icon("circle-dashed", size=14), "Not started", color_scheme="gray"),
    )


def _confidence_badge(confidence) -> rx.Component:
    return rx.match(
        confidence,
        ("confirmed", rx.badge("confirmed", color_scheme="green")),
        ("official", rx.badge("official", color_scheme="green")),
        ("secondary", rx.badge("secondary source", color_scheme="amber")),
        ("second-hand", rx.badge("second-hand", color_scheme="amber")),
        ("third-party", rx.badge("third-party", color_scheme="amber")),
        ("varies", rx.badge("varies by telco", color_scheme="amber")),
        rx.badge(confidence, color_scheme="gray"),
    )


def _step(n: int, title: str, body: rx.Component, opens_at: int = 0) -> rx.Component:
    """One numbered step: done, next or waiting; its body shows once the steps before it allow."""
    step = TelephonyState.current_step
    done = step > n
    current = step == n
    marker = rx.cond(
        done,
        rx.icon("circle-check", color=rx.color("green", 9), size=26),
        rx.center(rx.text(str(n), weight="bold", size="2"), width="26px", height="26px", border_radius="50%",
                  background=rx.cond(current, rx.color("indigo", 9), rx.color("gray", 5)),
                  color=rx.cond(current, "white", rx.color("gray", 11))),
    )
    state_text = rx.cond(done, rx.badge("done", color_scheme="green", variant="soft"),
                         rx.cond(current, rx.badge("next step", color_scheme="indigo", variant="soft"),
                                 rx.badge("waiting", color_scheme="gray", variant="soft")))
    return rx.card(
        rx.vstack(
            rx.hstack(marker, rx.heading(f"{n}. {title}", size="4", as_="h2"), state_text, align="center",
                      width="100%", spacing="3"),
            rx.cond(step >= (opens_at or n), body,
                    rx.text("Finish the steps above first.", size="2", color_scheme="gray")),
            spacing="3", width="100%", align="stretch",
        ),
        width="100%", id=f"step-{n}",
        style={"border_left": rx.cond(current, f"3px solid {rx.color('indigo', 9)}", "3px solid transparent")},
    )


def _fact(label: str, value) -> rx.Component:
    return rx.hstack(rx.text(label, size="2", color_scheme="gray", min_width="9em"), rx.text(value, size="2"),
                     spacing="2")


def _error_callout(message) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert",
                                             width="100%"))


def _step_country() -> rx.Component:
    s = TelephonyState.setup
    c = TelephonyState.country
    body = rx.vstack(
        labelled(
            "Clinic's country",
            rx.select.root(
                rx.select.trigger(placeholder="Choose a country", id="tel-country",
                                  width="100%", max_width="24em"),
                rx.select.content(rx.foreach(
                    TelephonyState.countries,
                    lambda co: rx.select.item(co.name + " (" + co.iso + ", " + co.calling_code + ")", value=co.iso))),
                value=TelephonyState.country_choice,
                on_change=TelephonyState.choose_country,
                disabled=~AppState.is_operator,
            ),
            TelephonyState.country_error,
            hint="Supported: United States, United Kingdom, Nigeria, Türkiye. The organization is registered in "
                 "its own country; pick where the clinic's existing line is.",
            html_for="tel-country",
        ),
        rx.cond(
            s.country != "",
            rx.callout(
                rx.vstack(
                    rx.text(c.name, " (", c.calling_code, ")", weight="bold"),
                    rx.text(c.guidance),
                    rx.hstack(
                        rx.cond(c.self_serve, rx.badge("numbers self-serve", color_scheme="green"),
                                rx.badge("numbers not self-serve", color_scheme="amber")),
                        rx.cond(c.needs_address, rx.badge("address required", color_scheme="amber")),
                        rx.cond(c.needs_bundle, rx.badge("regulatory bundle required", color_scheme="amber")),
                        rx.cond(c.two_way_sms, rx.badge("two-way SMS", color_scheme="green"),
                                rx.badge("no two-way SMS", color_scheme="gray")),
                        wrap="wrap", spacing="2",
                    ),
                    spacing="2", align="start",
                ),
                icon="info", color_scheme="blue", width="100%", id="country-guidance",
            ),
        ),
        spacing="3", width="100%", align="stretch",
    )
    return _step(1, "Country", body)


def _number_row(n: AvailableNumberRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(n.display, weight="medium", white_space="nowrap")),
        rx.table.cell(rx.cond(n.locality != "", n.locality + ", " + n.region,
                              rx.cond(n.region != "", n.region, "—"))),
        rx.table.cell(rx.text(n.capabilities, size="1")),
        rx.table.cell(rx.text(rx.match(n.address_requirements, ("", "none"), ("none", "none"),
                                       ("any", "yes, any address"), ("local", "yes, a local address"),
                                       ("foreign", "yes, a foreign address"), n.address_requirements), size="1")),
        rx.table.cell(rx.cond(AppState.is_operator,
                              rx.button("Buy", size="1", on_click=TelephonyState.ask_buy(n.e164),
                                        disabled=~TelephonyState.can_buy,
                                        aria_label="Buy " + n.display))),
    )


def _foreign_caveats() -> rx.Component:
    c = TelephonyState.country
    return rx.cond(
        TelephonyState.foreign_number,
        rx.callout(
            rx.vstack(
                rx.text("A number in ", TelephonyState.number_country_info.name, " for a clinic in ", c.name,
                        ": read this with the clinic BEFORE buying.", weight="bold"),
                rx.el.ul(*[rx.el.li(rx.text(line, size="2")) for line in FOREIGN_CAVEATS],
                         style={"padding_left": "1.2em", "margin": "0"}),
                rx.cond(AppState.is_operator, rx.hstack(
                    rx.checkbox(checked=TelephonyState.caveats_ok, on_change=TelephonyState.set_caveats_ok,
                                id="caveats-ok"),
                    rx.text("The clinic knows the call is forwarded abroad and billed to its line.", as_="label",
                            html_for="caveats-ok", size="2", weight="medium"),
                    rx.cond(~TelephonyState.caveats_ok,
                            rx.text("(tick this to enable Buy)", size="1", color_scheme="gray")),
                    align="center", spacing="2")),
                spacing="2", align="start",
            ),
            icon="triangle-alert", color_scheme="amber", width="100%", id="forwarding-caveats",
        ),
    )


def _step_number() -> rx.Component:
    s = TelephonyState.setup
    nc = TelephonyState.number_country_info
    search_form = rx.form(
        rx.hstack(
            labelled("Number in", rx.select.root(
                rx.select.trigger(id="tel-number-country", width="100%"),
                rx.select.content(rx.foreach(TelephonyState.number_country_options,
                                             lambda o: rx.select.item(o["label"], value=o["iso"]))),
                value=TelephonyState.number_country, on_change=TelephonyState.set_number_country),
                     html_for="tel-number-country"),
            labelled("Type", rx.select.root(
                rx.select.trigger(id="tel-number-type", width="100%"),
                rx.select.content(rx.foreach(nc.number_types, lambda t: rx.select.item(t, value=t))),
                value=TelephonyState.number_type, on_change=TelephonyState.set_number_type),
                     html_for="tel-number-type"),
            labelled("Area code", rx.input(name="area_code", id="tel-area-code", default_value=TelephonyState.area_code,
                                           placeholder="e.g. 201", max_length=6, input_mode="numeric"),
                     html_for="tel-area-code"),
            labelled("Contains", rx.input(name="contains", id="tel-contains", default_value=TelephonyState.contains,
                                          placeholder="digits, e.g. 555", max_length=10, input_mode="numeric"),
                     html_for="tel-contains"),
            rx.button(rx.icon("search", size=16), "Search numbers", type="submit", id="tel-search",
                      loading=TelephonyState.searching, flex_shrink="0"),
            align="end", spacing="3", width="100%",
        ),
        on_submit=TelephonyState.search, reset_on_submit=False, width="100%",
    )
    requirements = rx.cond(
        (nc.needs_address | nc.needs_bundle),
        rx.callout(
            rx.text("Numbers in ", nc.name, " need ",
                    rx.cond(nc.needs_address & nc.needs_bundle, "an approved address and regulatory bundle",
                            rx.cond(nc.needs_address, "an approved address", "a regulatory bundle")),
                    " on the Twilio account before they can be bought; without them the purchase is refused."),
            icon="file-text", color_scheme="amber", size="1", width="100%", id="number-requirements"),
    )
    have_number = rx.callout(
        rx.text("Our number for this organization: ", rx.text.strong(s.number_display), " (", s.number_country,
                "). Calls forwarded to it reach the organization's inbound agent."),
        icon="phone", color_scheme="green", width="100%", id="our-number",
    )
    shopping = rx.vstack(
        rx.cond(
            AppState.is_operator,
            rx.vstack(
                _foreign_caveats(),
                requirements,
                search_form,
                _error_callout(TelephonyState.search_error),
                _error_callout(TelephonyState.buy_error),
                rx.cond(TelephonyState.buying,
                        rx.callout(rx.hstack(rx.spinner(size="2"),
                                             rx.text("Buying the number, pointing its webhooks at us and importing "
                                                     "it into Vapi… If any part fails, the number is released.")),
                                   color_scheme="blue", width="100%", id="buying")),
                rx.cond(
                    TelephonyState.searching,
                    rx.hstack(rx.spinner(size="2"), rx.text("Searching available numbers…", size="2"),
                              id="searching", padding="1em"),
                    rx.cond(
                        TelephonyState.numbers.length() > 0,
                        rx.vstack(
                            rx.text(TelephonyState.numbers.length(), " available ", TelephonyState.searched_for,
                                    size="2", color_scheme="gray", id="search-summary"),
                            rx.table.root(
                                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                                    "Number", "Where", "Can do", "Address needed", "")])),
                                rx.table.body(rx.foreach(TelephonyState.numbers, _number_row)),
                                width="100%", id="numbers-table"),
                            width="100%",
                        ),
                        rx.cond(TelephonyState.searched_for != "",
                                empty_state("No " + TelephonyState.searched_for + ". Try another area code or "
                                            "fewer digits in “Contains”."),
                                rx.fragment()),
                    ),
                ),
                spacing="3", width="100%", align="stretch",
            ),
            rx.text("No number bought yet. An operator buys one here.", size="2", color_scheme="gray"),
        ),
        width="100%", align="stretch",
    )
    return _step(2, "Our number", rx.cond(s.number_e164 != "", have_number, shopping))


def _buy_confirm() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Buy ", TelephonyState.buy_display, "?"),
            rx.alert_dialog.description(
                rx.text("It is bought for ", TelephonyState.setup.org_name, ", its webhooks point at Voxanne and it "
                        "is imported into Vapi. The monthly cost is charged to our Twilio account. If any part "
                        "fails, the number is released again and nothing is recorded.")),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=TelephonyState.cancel_buy)),
                rx.alert_dialog.action(rx.button("Buy this number", on_click=TelephonyState.confirm_buy,
                                                 id="confirm-buy")),
                justify="end", spacing="3", padding_top="1em",
            ),
        ),
        open=TelephonyState.buy_e164 != "",
    )


def _clinic_check() -> rx.Component:
    cl = TelephonyState.clinic
    return rx.cond(
        cl.e164 != "",
        rx.callout(
            rx.vstack(
                rx.text(rx.text.strong(cl.display), " is a valid ", cl.line_type, " number (", cl.region, ")."),
                rx.cond(cl.carrier_hint != "",
                        rx.text("Its carrier looks like ", rx.text.strong(cl.carrier_hint),
                                " (from the number's original allocation; confirm it below: the clinic may have "
                                "moved carrier and kept the number).")),
                rx.cond(cl.warning != "", rx.text(cl.warning, color_scheme="amber", weight="medium")),
                spacing="1", align="start",
            ),
            icon="circle-check", color_scheme=rx.cond(cl.warning != "", "amber", "green"), size="1", width="100%",
            id="clinic-check", role="status",
        ),
    )


def _step_line_and_codes() -> tuple[rx.Component, rx.Component]:
    s = TelephonyState.setup
    err = TelephonyState.codes_errors
    operator = AppState.is_operator
    line_body = rx.vstack(
        labelled("Clinic's existing number",
                 rx.input(value=TelephonyState.clinic_raw, on_change=TelephonyState.type_clinic.debounce(350),
                          id="tel-clinic", placeholder="the number patients call today, e.g. (201) 555-0199",
                          max_length=32, disabled=~operator, input_mode="tel", auto_complete="off"),
                 rx.cond(err.contains("clinic_number"), err["clinic_number"], TelephonyState.clinic_error),
                 hint="National or international format; it is checked as you type.", html_for="tel-clinic"),
        _clinic_check(),
        labelled("Clinic's carrier",
                 rx.select.root(
                     rx.select.trigger(placeholder="Choose the carrier", id="tel-carrier", width="100%",
                                       max_width="24em"),
                     rx.select.content(rx.foreach(TelephonyState.carrier_options,
                                                  lambda c: rx.select.item(c, value=c))),
                     value=TelephonyState.carrier, on_change=TelephonyState.set_carrier, disabled=~operator),
                 err.get("carrier", ""),
                 hint="Suggested from the number where possible; ask the clinic if unsure.", html_for="tel-carrier"),
        spacing="3", width="100%", align="stretch",
    )
    codes_shown = rx.cond(
        s.activate_code != "",
        rx.vstack(
            rx.heading("Codes for the clinic to dial on ", s.clinic_display, size="3"),
            rx.grid(
                _code_box("Activate", s.activate_code, "Dial this on the clinic's phone, then press call.",
                          "code-activate"),
                _code_box("Check", s.check_code, "Shows whether forwarding is on.", "code-check"),
                _code_box("Cancel", s.cancel_code, "Turns forwarding off again.", "code-cancel"),
                columns="3", spacing="3", width="100%",
            ),
            rx.text("Forwards ", rx.match(s.forwarding_type, *[(k, v) for k, v in forwarding.TYPES.items()],
                                          s.forwarding_type),
                    rx.cond(s.ring_timer > 0, " (after " + s.ring_timer.to_string() + " s of ringing)",
                            ""),
                    " to ", rx.code(s.target_as_dialled), " (our number, written the way ", s.carrier, " expects).",
                    size="2", id="codes-summary"),
            rx.foreach(s.warnings, lambda w: rx.callout(w, icon="triangle-alert", color_scheme="amber", size="1",
                                                         width="100%")),
            rx.hstack(
                rx.text("Rule for ", s.carrier, ":", size="1", color_scheme="gray"),
                rx.cond(TelephonyState.rule_confidence != "", _confidence_badge(TelephonyState.rule_confidence)),
                rx.text(TelephonyState.rule_source, size="1", color_scheme="gray"),
                align="center", spacing="2", wrap="wrap", id="rule-confidence",
            ),
            spacing="3", width="100%", align="stretch", id="codes",
        ),
    )
    form = rx.form(
        rx.vstack(
            rx.hstack(
                labelled("Forward calls",
                         rx.select.root(
                             rx.select.trigger(id="tel-forwarding-type", width="100%"),
                             rx.select.content(*[rx.select.item(label, value=key)
                                                 for key, label in TYPE_LABELS.items()]),
                             value=TelephonyState.forwarding_type, on_change=TelephonyState.set_forwarding_type,
                             disabled=~operator),
                         err.get("forwarding_type", ""),
                         hint="“No answer” is usual: the clinic answers first and the agent takes what it misses.",
                         html_for="tel-forwarding-type"),
                rx.cond(TelephonyState.forwarding_type == "no_answer",
                        rx.box(labelled("Ring for (seconds)",
                                        rx.select.root(
                                            rx.select.trigger(id="tel-ring-timer", width="100%"),
                                            rx.select.content(*[rx.select.item(f"{t} s", value=t)
                                                                for t in TIMER_OPTIONS]),
                                            value=TelephonyState.ring_timer, on_change=TelephonyState.set_ring_timer,
                                            disabled=~operator),
                                        err.get("ring_timer", ""),
                                        hint="5 to 30 s, in steps of 5.", html_for="tel-ring-timer"),
                               min_width="12em")),
                align="start", spacing="4", width="100%",
            ),
            _error_callout(err.get("form", "")),
            rx.cond(operator, rx.hstack(
                rx.button(rx.icon("hash", size=16),
                          rx.cond(s.activate_code != "", "Generate the codes again", "Generate the codes"),
                          type="submit", id="tel-generate", loading=TelephonyState.generating),
                rx.text("Saves the clinic line, carrier and choice above (audited).", size="1", color_scheme="gray"),
                align="center", spacing="3")),
            codes_shown,
            spacing="3", width="100%", align="stretch",
        ),
        on_submit=TelephonyState.generate_codes, reset_on_submit=False, width="100%",
    )
    # Step 3 is saved together with step 4 (one audited change), so step 4 opens with step 3.
    return _step(3, "Clinic line and carrier", line_body), _step(4, "Forwarding and codes", form, opens_at=3)


def _code_box(label: str, code, hint: str, box_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.cond(code != "",
                    rx.hstack(rx.code(code, size="6", weight="bold", id=box_id),
                              rx.icon_button(rx.icon("copy", size=14), size="1", variant="ghost", type="button",
                                             aria_label=f"Copy the {label.lower()} code",
                                             on_click=[rx.set_clipboard(code),
                                                       rx.toast.info(f"{label} code copied.")]),
                              align="center", spacing="2"),
                    rx.text("not offered by this carrier", size="2", color_scheme="gray", id=box_id)),
            rx.text(hint, size="1", color_scheme="gray"),
            spacing="1",
        ),
    )


def _step_verify() -> rx.Component:
    s = TelephonyState.setup
    operator = AppState.is_operator
    body = rx.vstack(
        rx.text("We call the clinic's number (", s.clinic_display, ") from our test line. With forwarding on, the "
                "call arrives on our number (", s.number_display, ") marked as forwarded; then the setup is "
                "verified. Have the clinic dial the activation code first.", size="2"),
        rx.hstack(
            rx.text("Status:", size="2", weight="medium"),
            short_badge(s.status),
            rx.cond(s.verifying | TelephonyState.verifying, rx.fragment(),
                    rx.cond(s.status == "codes_issued", rx.text("not verified yet", size="2", color_scheme="gray"))),
            rx.cond(TelephonyState.verifying, rx.hstack(rx.spinner(size="2"), rx.text(
                "Test call in progress: waiting for it to arrive on our number…", size="2"), id="verify-progress")),
            align="center", spacing="3", id="verify-status",
        ),
        rx.cond(s.status == "failed",
                rx.callout(rx.text("Not verified: ", s.status_reason), icon="circle-x", color_scheme="red",
                           width="100%", id="verify-failed", role="alert")),
        rx.cond(s.status == "verified",
                rx.callout(rx.text("Verified ", s.verified_at, ": calls to ", s.clinic_display, " reach our agent "
                                   "when forwarding applies. Give the clinic the cancel code in case they need "
                                   "to turn it off."), icon="circle-check", color_scheme="green", width="100%",
                           id="verify-ok")),
        _error_callout(TelephonyState.verify_error),
        rx.cond(operator, rx.hstack(
            rx.cond(AppState.sandbox,
                    rx.button(rx.icon("flask-conical", size=16), "Simulate the clinic dialling the code (sandbox)",
                              variant="soft", color_scheme="amber", on_click=TelephonyState.simulate_dialled,
                              loading=TelephonyState.simulating, id="tel-simulate")),
            rx.button(rx.icon("phone-call", size=16),
                      rx.cond(s.status == "verified", "Test again", "Start the test call"),
                      on_click=TelephonyState.start_verify, loading=TelephonyState.verifying, id="tel-verify"),
            spacing="3", wrap="wrap")),
        rx.cond(AppState.sandbox & operator,
                rx.text("Sandbox: no real phone exists, so the amber button plays the clinic dialling the activation "
                        "code. Without it the test call is not forwarded and verification fails.", size="1",
                        color_scheme="gray")),
        spacing="3", width="100%", align="stretch",
    )
    return _step(5, "Verify with a test call", body)


def _setup_section() -> rx.Component:
    s = TelephonyState.setup
    line, codes = _step_line_and_codes()
    return rx.vstack(
        rx.vstack(
            rx.hstack(
                rx.heading("Setup for ", s.org_name, size="5", as_="h2"),
                short_badge(s.status),
                rx.spacer(),
                rx.text("Last change ", rx.cond(s.updated_at != "", s.updated_at, "never"), size="1",
                        color_scheme="gray", white_space="nowrap"),
                align="center", width="100%", spacing="3",
            ),
            rx.text(s.status_label, size="2", color_scheme=rx.cond(s.status == "failed", "red", "gray")),
            spacing="1", width="100%", id="setup-status",
        ),
        rx.cond(~AppState.is_operator,
                rx.callout("You can read this setup; changing it needs the operator role.", icon="eye",
                           color_scheme="gray", size="1")),
        _step_country(),
        _step_number(),
        line,
        codes,
        _step_verify(),
        spacing="3", width="100%", align="stretch",
    )


def _overview_row(r: OverviewRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(r.org_name, weight="medium")),
        rx.table.cell(rx.cond(r.country != "", r.country, "—")),
        rx.table.cell(rx.vstack(
            short_badge(r.status),
            # The plain-words label adds something except for "verified" and a setup never touched.
            rx.cond((r.status == "verified") | (r.status_label == "Not started"), rx.fragment(),
                    rx.text(r.status_label, size="1", color_scheme="gray")),
            spacing="1"), max_width="18em"),
        rx.table.cell(rx.text(r.number_display, white_space="nowrap")),
        rx.table.cell(rx.text(r.clinic_display, white_space="nowrap")),
        rx.table.cell(r.carrier),
        rx.table.cell(rx.text(r.updated_at, size="1")),
        rx.table.cell(rx.cond(
            AppState.selected_org == r.org_id.to_string(),
            rx.badge("in scope", variant="soft"),
            rx.button("Open setup", size="1", variant="soft", on_click=AppState.select_org(r.org_id.to_string()),
                      aria_label="Open the setup of " + r.org_name, white_space="nowrap"))),
    )


def _overview() -> rx.Component:
    return rx.vstack(
        rx.heading("Every organization", size="5", as_="h2", padding_top="1em"),
        rx.cond(TelephonyState.overview.length() > 0,
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Organization", "Country", "Status", "Our number", "Clinic line", "Carrier", "Updated",
                        "")])),
                    rx.table.body(rx.foreach(TelephonyState.overview, _overview_row)),
                    width="100%", size="1", id="telephony-overview"),
                empty_state("No active organizations.")),
        width="100%", align="stretch",
    )


def _rule_cell(activate, cancel, check) -> rx.Component:
    return rx.table.cell(rx.cond(
        activate != "",
        rx.vstack(rx.code(activate, size="1", white_space="nowrap"),
                  rx.text("cancel ", rx.code(cancel, size="1", variant="ghost"), size="1", color_scheme="gray",
                          white_space="nowrap"),
                  rx.cond(check != "", rx.text("check ", rx.code(check, size="1", variant="ghost"), size="1",
                                               color_scheme="gray", white_space="nowrap")),
                  spacing="1"),
        rx.text("not offered", size="1", color_scheme="gray")))


def _rule_row(r: RuleRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.vstack(rx.text(r.carrier, weight="medium"),
                                           rx.text(r.country, " · ", r.line_type, size="1", color_scheme="gray"),
                                           spacing="0")),
        _rule_cell(r.unconditional, r.unconditional_cancel, r.unconditional_check),
        _rule_cell(r.busy, r.busy_cancel, r.busy_check),
        _rule_cell(r.no_answer, r.no_answer_cancel, r.no_answer_check),
        _rule_cell(r.unreachable, r.unreachable_cancel, r.unreachable_check),
        rx.table.cell(rx.vstack(rx.text(r.number_format.replace("_", " "), size="1"),
                                rx.cond(r.forwards_international, rx.badge("forwards abroad", color_scheme="green"),
                                        rx.badge("domestic only", color_scheme="amber")), spacing="1")),
        rx.table.cell(rx.vstack(_confidence_badge(r.confidence), rx.text(r.source, size="1", color_scheme="gray"),
                                spacing="1"), max_width="16em"),
        rx.table.cell(rx.vstack(rx.text(r.updated_at, size="1"), rx.text(r.updated_by, size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(rx.cond(AppState.is_admin,
                              rx.button("Edit", size="1", variant="soft", on_click=TelephonyState.open_rule(r.id),
                                        aria_label="Edit the rule for " + r.carrier))),
    )


def _rules() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Carrier forwarding rules", size="5", as_="h2"),
            rx.spacer(),
            rx.text("Country", size="2", color_scheme="gray", as_="label", html_for="rule-filter"),
            rx.select.root(
                rx.select.trigger(id="rule-filter", min_width="10em"),
                rx.select.content(rx.select.item("All countries", value="all"),
                                  rx.foreach(TelephonyState.countries,
                                             lambda c: rx.select.item(c.name, value=c.iso))),
                value=TelephonyState.rule_filter, on_change=TelephonyState.set_rule_filter),
            align="center", width="100%", padding_top="1em", spacing="2",
        ),
        rx.text("The codes each carrier uses ({N} is our number as the carrier expects it, {T} the ring time). The "
                "confidence says how sure we are; check a low-confidence rule with the clinic's carrier. "
                "Admins edit; every change is audited.", size="2", color_scheme="gray"),
        rx.cond(TelephonyState.rules.length() > 0,
                rx.scroll_area(rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                        "Carrier", "All calls", "Busy", "No answer", "Unreachable", "Number format",
                        "Confidence / source", "Updated", "")])),
                    rx.table.body(rx.foreach(TelephonyState.rules, _rule_row)),
                    width="100%", size="1", id="rules-table"), scrollbars="horizontal", width="100%"),
                empty_state("No rules for this country.")),
        width="100%", align="stretch",
    )


def _country_confirm() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Change the country?"),
            rx.alert_dialog.description(
                "The clinic line, carrier and codes belong to the current country and are cleared; the setup must "
                "be configured and verified again. If the clinic already dialled the activation code, give it the "
                "cancel code first. Our number is kept."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep the current country", variant="soft", color_scheme="gray",
                                                 on_click=TelephonyState.keep_country)),
                rx.alert_dialog.action(rx.button("Change the country", color_scheme="red",
                                                 on_click=TelephonyState.confirm_country, id="confirm-country")),
                justify="end", spacing="3", padding_top="1em",
            ),
        ),
        open=TelephonyState.pending_country != "",
    )


def _rule_input(key: str, label: str, placeholder: str = "") -> rx.Component:
    return labelled(label, rx.input(name=key, id=f"rule-{key}", default_value=TelephonyState.rule_form.get(key, ""),
                                    key=TelephonyState.rule_id.to_string() + key, placeholder=placeholder,
                                    max_length=300 if key in ("source", "domestic_only_reason") else 64),
                    TelephonyState.rule_errors.get(key, ""), html_for=f"rule-{key}")


def _rule_dialog() -> rx.Component:
    err = TelephonyState.rule_errors
    type_rows = [
        rx.grid(
            rx.text(forwarding.TYPES[t].capitalize(), size="2", weight="medium", align_self="center"),
            _rule_input(t, "Activate", "e.g. **21*{N}#"),
            _rule_input(f"{t}_cancel", "Cancel", "e.g. ##21#"),
            _rule_input(f"{t}_check", "Check", "e.g. *#21#"),
            columns="4", spacing="2", width="100%",
        )
        for t in RULE_TYPES
    ]
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit rule: ", TelephonyState.rule_title),
            rx.dialog.description("Leave a field empty when the carrier does not offer it. Codes already given to "
                                  "clinics do not change; new codes use the rule.", size="2"),
            rx.form(
                rx.vstack(
                    _error_callout(err.get("form", "")),
                    *type_rows,
                    rx.grid(
                        labelled("Number format", rx.select.root(
                            rx.select.trigger(id="rule-number-format", width="100%"),
                            rx.select.content(*[rx.select.item(v, value=k) for k, v in FORMAT_LABELS.items()]),
                            value=TelephonyState.rule_format, on_change=TelephonyState.set_rule_format),
                                 err.get("number_format", ""), html_for="rule-number-format"),
                        rx.text(rx.flex(rx.checkbox(checked=TelephonyState.rule_intl,
                                                    on_change=TelephonyState.set_rule_intl),
                                        "Forwards to numbers abroad", spacing="2", align="center"),
                                as_="label", size="2", padding_top="1.8em"),
                        columns="2", spacing="3", width="100%",
                    ),
                    _rule_input("domestic_only_reason", "Why it is domestic only (shown when refusing)"),
                    rx.grid(_rule_input("confidence", "Confidence", "confirmed, secondary, unconfirmed…"),
                            _rule_input("source", "Source", "where this comes from"), columns="2", spacing="3",
                            width="100%"),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                        rx.button("Save rule", type="submit", id="rule-save"),
                        justify="end", width="100%",
                    ),
                    spacing="3", width="100%",
                ),
                on_submit=TelephonyState.save_rule, reset_on_submit=False,
            ),
            max_width="52em",
        ),
        open=TelephonyState.rule_open,
        on_open_change=TelephonyState.set_rule_open,
    )


@page(routes.TELEPHONY, "Telephony", on_load=[TelephonyState.load])
def telephony_page() -> rx.Component:
    """Step-by-step telephony setup, overview and carrier rules."""
    return rx.vstack(
        page_header("Telephony",
                    "The clinic keeps its own phone number and forwards calls to a number we buy; the agent answers "
                    "them. Set it up step by step, then prove it with a test call.",
                    rx.button(rx.icon("refresh-cw"), "Refresh", variant="soft", on_click=TelephonyState.load)),
        _error_callout(TelephonyState.page_error),
        rx.cond(TelephonyState.has_org, _setup_section(),
                rx.callout("Pick an organization in the switcher at the top (or “Open setup” in the table below) to "
                           "set up its telephony.", icon="mouse-pointer-click", color_scheme="blue", width="100%",
                           id="pick-org")),
        _overview(),
        _rules(),
        _buy_confirm(),
        _country_confirm(),
        _rule_dialog(),
        width="100%", align="stretch",
    )
