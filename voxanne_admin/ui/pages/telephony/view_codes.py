"""The views of steps 3 to 5: the clinic line and carrier, the forwarding codes, and the test call."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.telephony import forwarding
from voxanne_admin.ui.components import select_field, text_field
from voxanne_admin.ui.pages.fields import dynamic_select_field
from voxanne_admin.ui.pages.telephony.common import TIMER_OPTIONS, TYPE_LABELS
from voxanne_admin.ui.pages.telephony.state import TelephonyState
from voxanne_admin.ui.pages.telephony.widgets import confidence_badge, error_callout, short_badge, step_card
from voxanne_admin.ui.state import AppState


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


def step_line_and_codes() -> tuple[rx.Component, rx.Component]:
    s = TelephonyState.setup
    err = TelephonyState.codes_errors
    operator = AppState.is_operator
    line_body = rx.vstack(
        text_field("Clinic's existing number", "tel-clinic", value=TelephonyState.clinic_raw,
                   on_change=TelephonyState.type_clinic.debounce(350),
                   placeholder="the number patients call today, e.g. (201) 555-0199", max_length=32,
                   disabled=~operator, input_mode="tel", auto_complete="off",
                   error=rx.cond(err.contains("clinic_number"), err["clinic_number"], TelephonyState.clinic_error),
                   hint="National or international format; it is checked as you type."),
        _clinic_check(),
        dynamic_select_field("Clinic's carrier", "tel-carrier",
                             rx.foreach(TelephonyState.carrier_options, lambda c: rx.select.item(c, value=c)),
                             placeholder="Choose the carrier", trigger_props={"max_width": "24em"},
                             value=TelephonyState.carrier, on_change=TelephonyState.set_carrier, disabled=~operator,
                             error=err.get("carrier", ""),
                             hint="Suggested from the number where possible; ask the clinic if unsure."),
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
                rx.cond(TelephonyState.rule_confidence != "", confidence_badge(TelephonyState.rule_confidence)),
                rx.text(TelephonyState.rule_source, size="1", color_scheme="gray"),
                align="center", spacing="2", wrap="wrap", id="rule-confidence",
            ),
            spacing="3", width="100%", align="stretch", id="codes",
        ),
    )
    form = rx.form(
        rx.vstack(
            rx.hstack(
                select_field("Forward calls", "tel-forwarding-type",
                             [(label, key) for key, label in TYPE_LABELS.items()],
                             value=TelephonyState.forwarding_type, on_change=TelephonyState.set_forwarding_type,
                             disabled=~operator, error=err.get("forwarding_type", ""),
                             hint="“No answer” is usual: the clinic answers first and the agent takes what it misses."),
                rx.cond(TelephonyState.forwarding_type == "no_answer",
                        rx.box(select_field("Ring for (seconds)", "tel-ring-timer",
                                            [(f"{t} s", t) for t in TIMER_OPTIONS],
                                            value=TelephonyState.ring_timer, on_change=TelephonyState.set_ring_timer,
                                            disabled=~operator, error=err.get("ring_timer", ""),
                                            hint="5 to 30 s, in steps of 5."),
                               min_width="12em")),
                align="start", spacing="4", width="100%",
            ),
            error_callout(err.get("form", "")),
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
    return step_card(3, "Clinic line and carrier", line_body), step_card(4, "Forwarding and codes", form, opens_at=3)


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


def step_verify() -> rx.Component:
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
        error_callout(TelephonyState.verify_error),
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
    return step_card(5, "Verify with a test call", body)

