"""AgentsState: the agent list of the organization in scope, the editor (with unsaved-change protection), the
version history and diffs, and the background Vapi sync."""

from __future__ import annotations

import json

import reflex as rx

from voxanne_admin import db
from voxanne_admin.agents import flows as agent_sync
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import AgentRead, AgentVersionRead
from voxanne_admin.errors import DomainError, InvalidInput, NotFound, ProviderError
from voxanne_admin.orgs import service as org_service
from voxanne_admin.ui.components import browser, next_sort, sort_rows
from voxanne_admin.ui.pages.agents.form import BLANK, form_from, raw_config
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only


class AgentsState(AppState):
    """Agent list, the editor (with unsaved-change protection), history and diffs."""

    agents: list[AgentRead] = []
    missing: list[dict[str, str]] = []
    editing: bool = False
    edit_org_id: int = 0
    edit_role: str = ""
    edit_agent_id: int = 0
    edit_title: str = ""
    form: dict[str, str] = dict(BLANK)
    saved_form: dict[str, str] = dict(BLANK)
    errors: dict[str, str] = {}
    sync_message: str = ""
    syncing: bool = False
    versions: list[AgentVersionRead] = []
    diff_a: str = ""
    diff_b: str = ""
    diff_rows: list[dict[str, str]] = []
    confirm_discard: bool = False
    agents_sort: str = ""
    _pending_open: str = ""

    @rx.var
    def dirty(self) -> bool:
        """The editor holds changes that are not saved."""
        return self.editing and self.form != self.saved_form

    @rx.var
    def name_count(self) -> str:
        """Characters used of Vapi's 40."""
        return f"{len(self.form.get('name', ''))}/40"

    @rx.var
    def preview(self) -> str:
        """What will be sent to Vapi (updates as you type)."""
        if not self.editing:
            return ""
        config, _ = agent_service.validate(raw_config(self.form))
        try:
            payload = agent_service.vapi_payload(config, org_id=self.edit_org_id, agent_id=self.edit_agent_id or None)
        except KeyError:
            return ""
        return json.dumps(payload, indent=2)

    def _refresh(self) -> None:
        org_id = int(self.selected_org) if self.selected_org.isdigit() else None
        with db.read_only() as session:
            self.agents = sort_rows(agent_service.list_agents(session, org_id=org_id), self.agents_sort)
            missing = []
            if org_id:
                have = {a.role for a in self.agents}
                try:
                    org = org_service.get(session, org_id=org_id)
                except NotFound:
                    org = None  # the switcher still names an organization that was removed
                if org is not None and org.status == "active":
                    missing = [
                        {"org_id": str(org_id), "org_name": org.name, "role": r}
                        for r in ("inbound", "outbound")
                        if r not in have
                    ]
            self.missing = missing
            if self.edit_agent_id:
                self.versions = agent_service.versions(session, agent_id=self.edit_agent_id)

    @rx.event
    @guarded("viewer")
    def load(self):
        """Load the list for the organization in scope."""
        self.editing = False
        self._refresh()

    @rx.event
    @ui_only
    def sort_agents(self, key: str):
        """Sort the agents by a column (again: the other way round)."""
        self.agents_sort = next_sort(self.agents_sort, key)
        self.agents = sort_rows(self.agents, self.agents_sort)

    @rx.event
    @guarded("viewer")
    def open_agent(self, key: str):
        """Open an agent (or a new one: 'new:<org_id>:<role>') in the editor; asks first if changes are unsaved."""
        if self.dirty:
            self._pending_open = key
            self.confirm_discard = True
            return None
        return self._open(key)

    def _open(self, key: str):
        self.errors, self.sync_message, self.diff_rows, self.diff_a, self.diff_b = {}, "", [], "", ""
        if key.startswith("new:"):
            _, org_id, role = key.split(":")
            with db.read_only() as session:
                try:
                    org = org_service.get(session, org_id=int(org_id))
                except NotFound:
                    return browser.toast_error("That organization does not exist.")
                form = form_from(agent_service.default_config(org, role))
                self.edit_title = f"New {role} agent for {org.name}"
            self.edit_org_id, self.edit_role, self.edit_agent_id = int(org_id), role, 0
            self.form, self.saved_form = form, dict(BLANK)
            self.versions = []
        else:
            agent = next((a for a in self.agents if str(a.id) == key), None)
            if agent is None:
                return browser.toast_error("That agent is not in the list any more. Refresh the page.")
            self.edit_org_id, self.edit_role, self.edit_agent_id = agent.org_id, agent.role, agent.id
            self.edit_title = f"{agent.org_name}: {agent.role} agent"
            self.form = form_from(agent)
            self.saved_form = dict(self.form)
            self._refresh()
        self.editing = True
        return browser.scroll_to("agent-editor")

    @rx.event
    @guarded("viewer")
    def discard_and_open(self):
        """Throw away unsaved changes and open the agent that was clicked."""
        self.confirm_discard = False
        key, self._pending_open = self._pending_open, ""
        self.form = dict(self.saved_form)
        return self._open(key) if key else None

    @rx.event
    @ui_only
    def keep_editing(self):
        """Stay in the editor."""
        self.confirm_discard = False
        self._pending_open = ""

    @rx.event
    @ui_only
    def set_field(self, field: str, value):
        """Update one editor field; warn the browser about leaving with unsaved changes."""
        if field == "tools":
            return
        # While the form differs from the saved one (`dirty`), the page's leave_guard asks before leaving.
        self.form = {**self.form, field: str(value)}

    @rx.event
    @ui_only
    def toggle_tool(self, tool: str, checked: bool):
        """Enable or disable a tool."""
        tools = {t for t in self.form.get("tools", "").split(",") if t}
        tools = tools | {tool} if checked else tools - {tool}
        self.form = {**self.form, "tools": ",".join(sorted(tools))}

    @rx.event
    @ui_only
    def close_editor(self):
        """Close the editor (asks first when there are unsaved changes)."""
        if self.dirty:
            self._pending_open = ""
            self.confirm_discard = True
            return None
        self.editing = False

    @rx.event
    @guarded("operator")
    def save(self):
        """Commit a new version now; the Vapi sync runs in the background and reports here."""
        staff = current_staff()
        config, errors = agent_service.validate(raw_config(self.form))
        self.errors = errors
        self.sync_message = ""
        if errors:
            return browser.toast_error("Fix the highlighted fields, then save again.")
        try:
            with db.transaction() as session:
                agent = agent_service.save(
                    session,
                    org_id=self.edit_org_id,
                    role=self.edit_role,
                    raw=config,
                    actor=actor_for(self, staff),
                    actor_role=staff.role,
                )
                agent_id, version = agent.id or 0, agent.version
        except InvalidInput as exc:
            self.errors = getattr(exc, "errors", None) or {exc.field or "form": str(exc)}
            return browser.toast_error(str(exc))
        except DomainError as exc:
            return browser.toast_error(str(exc))
        self.edit_agent_id = agent_id
        self.saved_form = dict(self.form)
        self.sync_message = f"Version {version} saved. Syncing to Vapi..."
        self.syncing = True
        self._refresh()
        return AgentsState.run_sync(agent_id)

    @rx.event(background=True)
    @guarded("operator")
    async def run_sync(self, agent_id: int):
        """Sync to Vapi without blocking the page; progress and result appear in the editor."""
        staff = current_staff()
        try:
            async with self:
                actor = actor_for(self, staff)
            result = await agent_sync.sync_agent(agent_id, actor=actor)
        except (DomainError, ProviderError) as exc:
            async with self:
                self.sync_message = f"Sync to Vapi failed: {exc}"
            return browser.toast_error(str(exc))
        finally:
            async with self:
                self.syncing = False
        async with self:
            self.sync_message = result.message
            self._refresh()
            if result.ok:
                return browser.toast_success(result.message)
            return browser.toast_error(result.message)

    @rx.event
    @guarded("operator")
    def restore(self, version: int):
        """Restore an old version (saved as a new version, then synced)."""
        staff = current_staff()
        try:
            with db.transaction() as session:
                agent = agent_service.restore(
                    session,
                    agent_id=self.edit_agent_id,
                    version=version,
                    actor=actor_for(self, staff),
                    actor_role=staff.role,
                )
                agent_id, new_version = agent.id or 0, agent.version
        except DomainError as exc:
            return browser.toast_error(str(exc))
        self._refresh()
        restored = next((a for a in self.agents if a.id == agent_id), None)
        if restored is not None:
            self.form = form_from(restored)
            self.saved_form = dict(self.form)
        self.sync_message = f"Version {version} restored as version {new_version}. Syncing to Vapi..."
        self.syncing = True
        return AgentsState.run_sync(agent_id)

    @rx.event
    @ui_only
    def set_diff(self, which: str, value: str):
        """Pick a version for the comparison."""
        if which == "a":
            self.diff_a = value
        else:
            self.diff_b = value

    @rx.event
    @guarded("viewer")
    def compare(self):
        """Show what changed between the two picked versions."""
        if not (self.diff_a and self.diff_b):
            return browser.toast_error("Pick two versions to compare.")
        with db.read_only() as session:
            try:
                self.diff_rows = agent_service.diff_versions(
                    session, agent_id=self.edit_agent_id, a=int(self.diff_a), b=int(self.diff_b)
                )
            except DomainError as exc:
                return browser.toast_error(str(exc))
        if not self.diff_rows:
            return browser.toast_info("Those two versions are identical.")
        return None
