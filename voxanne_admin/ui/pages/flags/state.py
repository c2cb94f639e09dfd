"""Flags page states: the list (filters, kill switch) and one flag's detail (state, rollout with a live preview,
overrides, constraints, schedule, change requests, history). Handlers call flags.flows; no SQL here."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from pydantic import BaseModel

from voxanne_admin.audit.models import AuditEventRead
from voxanne_admin.errors import DomainError
from voxanne_admin.flags import flows
from voxanne_admin.flags import requests as request_service
from voxanne_admin.flags import schedules as schedule_service
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags.evaluator import describe_constraint
from voxanne_admin.flags.models import FlagRead, OverrideRead, RequestRead, ScheduleRead
from voxanne_admin.orgs import service as org_service
from voxanne_admin.ui.components import browser, typed_confirmation
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded

KILL_DIALOG = "kill-flag"


class ConstraintRow(BaseModel):
    """One constraint as the page shows it."""

    index: int
    text: str


class FlagsState(AppState):
    """The flag list."""

    flags: list[FlagRead] = []
    search: str = ""
    type_filter: str = "all"
    state_filter: str = "all"
    stale_filter: str = "all"
    loading: bool = True
    kill_key: str = ""
    killing: bool = False

    def _refresh(self) -> None:
        self.flags = flows.read(
            flag_service.list_flags, search=self.search,
            type="" if self.type_filter == "all" else self.type_filter,
            state="" if self.state_filter == "all" else self.state_filter,
            stale=None if self.stale_filter == "all" else self.stale_filter == "stale")
        self.loading = False

    @rx.event
    @guarded("viewer")
    def load(self):
        """Load the flags."""
        self._refresh()

    @rx.event
    @guarded("viewer")
    def set_search(self, value: str):
        """Filter by key, name or description as you type."""
        self.search = value[:100]
        self._refresh()

    @rx.event
    @guarded("viewer")
    def set_filter(self, which: str, value: str):
        """Type, state or stale filter."""
        if which in ("type_filter", "state_filter", "stale_filter"):
            setattr(self, which, value)
        self._refresh()

    @rx.event
    @guarded("operator")
    def ask_kill(self, key: str):
        """Open the kill-switch confirmation for a flag."""
        self.kill_key = key

    @rx.event
    @guarded("viewer")
    def cancel_kill(self):
        """Close the confirmation."""
        self.kill_key = ""

    @rx.event
    @guarded("operator")
    async def confirm_kill(self):
        """Turn the kill switch off (the typed key is checked on the server)."""
        staff = current_staff()
        typed = await typed_confirmation(self, KILL_DIALOG)
        key = self.kill_key
        self.killing = True
        try:
            await asyncio.to_thread(flows.kill, key=key, confirm_key=typed, actor=actor_for(self, staff),
                                    actor_role=staff.role)
        except DomainError as exc:
            self.killing = False
            return browser.toast_error(str(exc))
        self.killing, self.kill_key = False, ""
        self._refresh()
        return browser.toast_success(f"{key} is off everywhere.")


class FlagDetailState(AppState):
    """One flag."""

    key: str = ""
    flag: FlagRead | None = None
    not_found: str = ""
    version: int = 0
    form_enabled: bool = False
    form_rollout: str = "0"
    rollout_error: str = ""
    preview_total: int = 0
    preview_now: list[str] = []
    preview_after: list[str] = []
    preview_gained: list[str] = []
    preview_lost: list[str] = []
    overrides: list[OverrideRead] = []
    constraints: list[ConstraintRow] = []
    schedules: list[ScheduleRead] = []
    requests: list[RequestRead] = []
    history: list[AuditEventRead] = []
    org_options: list[dict[str, str]] = []
    saving: bool = False
    form_error: str = ""
    _constraints_raw: list[dict[str, Any]] = []

    @rx.var
    def dirty(self) -> bool:
        """The form differs from the saved flag."""
        return self.flag is not None and (self.form_enabled != self.flag.enabled
                                          or self.form_rollout.strip() != str(self.flag.rollout))

    def _load(self) -> None:
        self.key = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        rows = flows.read(flag_service.list_flags)
        match = next((f for f in rows if f.key == self.key), None)
        if match is None:
            self.flag, self.not_found = None, f"There is no feature flag called '{self.key}'."
            return
        self.flag, self.not_found, self.version = match, "", match.version
        self.form_enabled, self.form_rollout, self.rollout_error = match.enabled, str(match.rollout), ""
        self._constraints_raw = list(match.constraints)
        self.constraints = [ConstraintRow(index=i, text=describe_constraint(c))
                            for i, c in enumerate(match.constraints)]
        self.overrides = flows.read(flag_service.list_overrides, key=self.key)
        self.schedules = flows.read(schedule_service.list_schedules, key=self.key)
        self.requests = flows.read(request_service.list_requests, key=self.key)
        self.history = flows.read(flag_service.history, key=self.key, limit=100)
        self.org_options = [{"id": str(o.id), "label": f"{o.name} ({o.slug})"}
                            for o in flows.read(org_service.list_organizations, include_closed=False)]
        self._preview()

    def _preview(self) -> None:
        try:
            result = flows.preview(self.key, enabled=self.form_enabled, rollout=self.form_rollout or "0")
        except DomainError as exc:
            self.rollout_error = str(exc)
            return
        self.rollout_error = ""
        self.preview_total, self.preview_now, self.preview_after = result.total, result.now, result.proposed
        self.preview_gained, self.preview_lost = result.gained, result.lost

    @rx.event
    @guarded("viewer")
    def load(self):
        """Load the flag and everything about it."""
        self._load()

    @rx.event
    @guarded("viewer")
    def set_rollout(self, value: str):
        """Type a rollout: the preview follows (nothing is saved)."""
        self.form_rollout = value[:4]
        self._preview()

    @rx.event
    @guarded("viewer")
    def set_enabled(self, value: bool):
        """Flip the switch in the form: the preview follows (nothing is saved)."""
        self.form_enabled = bool(value)
        self._preview()

    def _actor(self):
        staff = current_staff()
        return staff, actor_for(self, staff)

    async def _run(self, fn, success: str, **kwargs):
        staff, actor = self._actor()
        self.saving, self.form_error = True, ""
        try:
            await asyncio.to_thread(fn, actor=actor, **kwargs)
        except DomainError as exc:
            self.saving, self.form_error = False, str(exc)
            return browser.toast_error(str(exc))
        self.saving = False
        self._load()
        return browser.toast_success(success)

    @rx.event
    @guarded("operator")
    async def save(self):
        """Save state and rollout (refused if someone changed the flag since it was loaded)."""
        staff = current_staff()
        changes = {"enabled": self.form_enabled, "rollout": self.form_rollout}
        return await self._run(flows.update, "Saved.", key=self.key, changes=changes, actor_role=staff.role,
                               expected_version=self.version)

    @rx.event
    @guarded("operator")
    async def request_change(self, form: dict):
        """For a protected flag: ask a second admin to approve this state and rollout."""
        staff = current_staff()
        changes = {"enabled": self.form_enabled, "rollout": self.form_rollout}
        return await self._run(flows.request_action, "Change request sent for review.", action="create",
                               key=self.key, changes=changes, staff_id=staff.id, actor_role=staff.role,
                               comment=str(form.get("comment", "")))

    @rx.event
    @guarded("operator")
    async def request_step(self, request_id: int, step: str):
        """approve / reject / apply / cancel a change request (the service checks who may)."""
        if step not in ("approve", "reject", "apply", "cancel"):
            return browser.toast_error("Unknown request action.")
        staff = current_staff()
        return await self._run(flows.request_action, f"Request {step} done.", action=step, request_id=request_id,
                               staff_id=staff.id, actor_role=staff.role)

    @rx.event
    @guarded("operator")
    async def add_override(self, form: dict):
        """Force one organization on or off, with a reason."""
        staff = current_staff()
        org = str(form.get("org_id", ""))
        if not org.isdigit():
            self.form_error = "Choose the organization."
            return browser.toast_error(self.form_error)
        return await self._run(flows.set_override, "Override saved.", key=self.key, org_id=int(org),
                               value=str(form.get("value", "on")), reason=str(form.get("reason", "")),
                               actor_role=staff.role)

    @rx.event
    @guarded("operator")
    async def remove_override(self, org_id: int):
        """Remove an organization's override."""
        staff = current_staff()
        return await self._run(flows.set_override, "Override removed.", key=self.key, org_id=org_id, value="none",
                               reason="", actor_role=staff.role)

    @rx.event
    @guarded("operator")
    async def add_constraint(self, form: dict):
        """Add a targeting constraint (country, status, created before/after)."""
        staff = current_staff()
        attribute, operator = str(form.get("attribute", "")), str(form.get("operator", ""))
        new = {"attribute": attribute, "operator": operator, "values": str(form.get("values", ""))}
        return await self._run(flows.update, "Constraint added.", key=self.key,
                               changes={"constraints": [*self._constraints_raw, new]}, actor_role=staff.role,
                               expected_version=self.version)

    @rx.event
    @guarded("operator")
    async def remove_constraint(self, index: int):
        """Remove one constraint."""
        staff = current_staff()
        kept = [c for i, c in enumerate(self._constraints_raw) if i != index]
        return await self._run(flows.update, "Constraint removed.", key=self.key, changes={"constraints": kept},
                               actor_role=staff.role, expected_version=self.version)

    @rx.event
    @guarded("operator")
    async def add_schedule(self, form: dict):
        """Schedule enable/disable/rollout at a time, or a ramp plan ('10 2026-12-02T09:00, 50 ...')."""
        staff = current_staff()
        plan = str(form.get("plan", "")).strip()
        if plan:
            steps = []
            for part in [p for p in plan.replace(";", ",").split(",") if p.strip()]:
                bits = part.split()
                if len(bits) < 2:
                    self.form_error = (f"Write each ramp step as 'percent time', e.g. '50 2026-12-05T09:00'; "
                                       f"not '{part}'.")
                    return browser.toast_error(self.form_error)
                steps.append((" ".join(bits[1:]), bits[0].rstrip("%")))
            return await self._run(flows.schedule_ramp, "Ramp plan scheduled.", key=self.key, steps=steps,
                                   actor_role=staff.role)
        return await self._run(flows.schedule, "Change scheduled.", key=self.key,
                               action=str(form.get("action", "rollout")), run_at=str(form.get("run_at", "")),
                               rollout=form.get("rollout") or None, actor_role=staff.role)

    @rx.event
    @guarded("operator")
    async def cancel_schedule(self, schedule_id: int):
        """Cancel a pending scheduled change."""
        staff = current_staff()
        return await self._run(flows.cancel_schedule, "Scheduled change cancelled.", schedule_id=schedule_id,
                               actor_role=staff.role)

    @rx.event
    @guarded("admin")
    async def protect(self):
        """Admins: from now on this flag changes only through change requests (kill switches can still be
        turned off). Removing protection is itself a change request."""
        staff = current_staff()
        return await self._run(flows.update, "Protected: changes now need a second admin.", key=self.key,
                               changes={"protected": True}, actor_role=staff.role, expected_version=self.version)

    @rx.event
    @guarded("operator")
    async def set_archived(self, archived: bool):
        """Archive (always off, history kept) or restore."""
        staff = current_staff()
        return await self._run(flows.archive, "Archived." if archived else "Restored.", key=self.key,
                               archived=archived, actor_role=staff.role)
