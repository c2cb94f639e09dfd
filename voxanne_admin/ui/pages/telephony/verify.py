"""Step 5, the verified test call: the sandbox's simulated dialling, starting the call and following it until it
is verified or failed."""

from __future__ import annotations

import asyncio

import reflex as rx

from voxanne_admin import db
from voxanne_admin.telephony import service as telephony
from voxanne_admin.telephony.flows import verification as verification_flow
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.pages.telephony.common import SHOWN_ERRORS, VERIFY_POLL_LIMIT, VERIFY_POLL_S, friendly
from voxanne_admin.ui.state import actor_for, current_staff, guarded

SETTLED = ("verified", "failed", "codes_issued", "not_started")
STALE = "This page now shows another organization, or the step was not started here. Start it again."


class VerifyStep(rx.State, mixin=True):
    """The test call and its progress (part of TelephonyState)."""

    simulating: bool = False
    simulated: bool = False
    verifying: bool = False
    verify_seq: int = 0
    verify_error: str = ""

    @rx.event
    @guarded("operator")
    def simulate_dialled(self):
        """Sandbox only: the clinic 'dials' the activation code on the sandbox carrier."""
        if not self.sandbox:
            return browser.toast_error("Simulation exists only in sandbox mode. Ask the clinic to dial the code.")
        self.simulating = True
        return self.__class__.run_simulate(self._org_id())

    @rx.event(background=True)
    @guarded("operator")
    async def run_simulate(self, org_id: int):
        """Tell the sandbox carrier the activation code was dialled (for the organization the page shows, after
        `simulate_dialled`; an event sent on its own with another org_id is refused)."""
        staff = current_staff()
        async with self:
            if not self.simulating or org_id != self._org_id() or not self.sandbox:
                self.simulating = False
                return browser.toast_error(STALE)
        try:
            async with self:
                actor = actor_for(self, staff)
            await verification_flow.sandbox_simulate_dialled(org_id=org_id, actor=actor, actor_role=staff.role)
        except SHOWN_ERRORS as exc:
            return browser.toast_error(friendly(exc))
        finally:
            async with self:
                self.simulating = False
        async with self:
            self.simulated = True
            return browser.toast_success(
                "Sandbox: the clinic's line now forwards as the code says. Start the test call.")

    @rx.event
    @guarded("operator")
    def start_verify(self):
        """Place the test call to the clinic's number and follow it until verified or failed."""
        if self.verifying:
            return None
        self.verifying = True
        self.verify_error = ""
        self.verify_seq += 1
        return self.__class__.run_verify(self._org_id(), self.verify_seq)

    @rx.event(background=True)
    @guarded("operator")
    async def run_verify(self, org_id: int, seq: int):
        """Start the verification call, then hand the progress to follow_verification (for the organization the
        page shows, after `start_verify`; an event sent on its own with another org_id is refused)."""
        staff = current_staff()
        async with self:
            if not self.verifying or seq != self.verify_seq or org_id != self._org_id():
                if seq == self.verify_seq:
                    self.verifying = False
                return browser.toast_error(STALE)
        following = False
        try:
            async with self:
                actor = actor_for(self, staff)
            setup = await verification_flow.start_verification(org_id=org_id, actor=actor, actor_role=staff.role)
            async with self:
                if seq != self.verify_seq:
                    return None
                self._apply_setup(setup)
            following = True
            return self.__class__.follow_verification(org_id, seq)
        except SHOWN_ERRORS as exc:
            async with self:
                if seq == self.verify_seq:
                    self.verify_error = friendly(exc)
            return browser.toast_error(friendly(exc))
        finally:
            if not following:
                async with self:
                    if seq == self.verify_seq:
                        self.verifying = False

    @rx.event(background=True)
    @guarded("viewer")
    async def follow_verification(self, org_id: int, seq: int):
        """Poll the verification until verified or failed; the page shows each state as it comes (only for the
        organization the page shows)."""
        async with self:
            if seq != self.verify_seq or org_id != self._org_id():
                return None
        try:
            for _ in range(VERIFY_POLL_LIMIT):
                with db.transaction() as session:
                    setup = telephony.verification_status(session, org_id=org_id)
                async with self:
                    if seq != self.verify_seq or setup.org_id != self._org_id():
                        return None
                    self._apply_setup(setup)
                    if not setup.verifying and setup.status in SETTLED:
                        self._refresh_overview()
                        if setup.status == "verified":
                            return browser.toast_success("Verified: the test call reached our number through the "
                                                    "clinic's forwarding.")
                        if setup.status == "failed":
                            return browser.toast_error(f"Verification failed: {setup.status_reason}")
                        return None
                await asyncio.sleep(VERIFY_POLL_S)
            async with self:
                if seq == self.verify_seq:
                    self.verify_error = ("No result after three minutes. Check that the clinic dialled the "
                                         "activation code, then start the test call again.")
            return None
        finally:
            async with self:
                if seq == self.verify_seq:
                    self.verifying = False
