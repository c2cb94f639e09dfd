"""Agents (viewer reads, operator and up edits): per-organization inbound/outbound agents, versions, Vapi sync."""

from __future__ import annotations

import json

import reflex as rx

from voxanne_admin import db
from voxanne_admin.agents import flows as agent_sync
from voxanne_admin.agents import service as agent_service
from voxanne_admin.agents.models import MODELS, TOOLS, VOICES, AgentRead, AgentVersionRead
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.orgs.models import Organization
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, labelled, page_header
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

VOICE_OPTIONS = {f"{p}:{v}": label for p, v, label in VOICES}
MODEL_OPTIONS = {f"{p}:{m}": label for p, m, label in MODELS}
BLANK = {
    "name": "",
    "system_prompt": "",
    "first_message": "",
    "voice": "",
    "model": "",
    "temperature": "0.5",
    "max_tokens": "250",
    "max_duration_s": "600",
    "tools": "",
}


def _form_from(agent: AgentRead | dict) -> dict[str, str]:
    data = agent.model_dump() if isinstance(agent, AgentRead) else agent
    return {
        "name": data["name"],
        "system_prompt": data["system_prompt"],
        "first_message": data["first_message"],
        "voice": f"{data['voice_provider']}:{data['voice_id']}",
        "model": f"{data['model_provider']}:{data['model_name']}",
        "temperature": str(data["temperature"]),
        "max_tokens": str(data["max_tokens"]),
        "max_duration_s": str(data["max_duration_s"]),
        "tools": ",".join(data["tools"]),
    }


def _raw(form: dict[str, str]) -> dict:
    voice = form.get("voice", "").split(":", 1) + [""]
    model = form.get("model", "").split(":", 1) + [""]
    return {
        "name": form.get("name", ""),
        "system_prompt": form.get("system_prompt", ""),
        "first_message": form.get("first_message", ""),
        "voice_provider": voice[0],
        "voice_id": voice[1],
        "model_provider": model[0],
        "model_name": model[1],
        "temperature": form.get("temperature", ""),
        "max_tokens": form.get("max_tokens", ""),
        "max_duration_s": form.get("max_duration_s", ""),
        "tools": [t for t in form.get("tools", "").split(",") if t],
    }


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
        config, _ = agent_service.validate(_raw(self.form))
        try:
            payload = agent_service.vapi_payload(config, org_id=self.edit_org_id, agent_id=self.edit_agent_id or None)
        except KeyError:
            return ""
        return json.dumps(payload, indent=2)

    def _refresh(self) -> None:
        org_id = int(self.selected_org) if self.selected_org.isdigit() else None
        with db.read_only() as session:
            self.agents = agent_service.list_agents(session, org_id=org_id)
            missing = []
            if org_id:
                org = session.get(Organization, org_id)
                have = {a.role for a in self.agents}
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
                org = session.get(Organization, int(org_id))
                if org is None:
                    return rx.toast.error("That organization does not exist.")
                form = _form_from(agent_service.default_config(org, role))
                self.edit_title = f"New {role} agent for {org.name}"
            self.edit_org_id, self.edit_role, self.edit_agent_id = int(org_id), role, 0
            self.form, self.saved_form = form, dict(BLANK)
            self.versions = []
        else:
            agent = next((a for a in self.agents if str(a.id) == key), None)
            if agent is None:
                return rx.toast.error("That agent is not in the list any more. Refresh the page.")
            self.edit_org_id, self.edit_role, self.edit_agent_id = agent.org_id, agent.role, agent.id
            self.edit_title = f"{agent.org_name}: {agent.role} agent"
            self.form = _form_from(agent)
            self.saved_form = dict(self.form)
            self._refresh()
        self.editing = True
        return rx.scroll_to("agent-editor")

    @rx.event
    @guarded("viewer")
    def discard_and_open(self):
        """Throw away unsaved changes and open the agent that was clicked."""
        self.confirm_discard = False
        key, self._pending_open = self._pending_open, ""
        self.form = dict(self.saved_form)
        return [rx.call_script("window.onbeforeunload = null"), self._open(key) if key else None]

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
        self.form = {**self.form, field: str(value)}
        return rx.call_script("window.onbeforeunload = (e) => { e.preventDefault(); return ''; }")

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
        return rx.call_script("window.onbeforeunload = null")

    @rx.event
    @guarded("operator")
    def save(self):
        """Commit a new version now; the Vapi sync runs in the background and reports here."""
        staff = current_staff()
        config, errors = agent_service.validate(_raw(self.form))
        self.errors = errors
        self.sync_message = ""
        if errors:
            return rx.toast.error("Fix the highlighted fields, then save again.")
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
            return rx.toast.error(str(exc))
        except DomainError as exc:
            return rx.toast.error(str(exc))
        self.edit_agent_id = agent_id
        self.saved_form = dict(self.form)
        self.sync_message = f"Version {version} saved. Syncing to Vapi..."
        self.syncing = True
        self._refresh()
        return [rx.call_script("window.onbeforeunload = null"), AgentsState.run_sync(agent_id)]

    @rx.event(background=True)
    @guarded("operator")
    async def run_sync(self, agent_id: int):
        """Sync to Vapi without blocking the page; progress and result appear in the editor."""
        staff = current_staff()
        async with self:
            actor = actor_for(self, staff)
        result = await agent_sync.sync_agent(agent_id, actor=actor)
        async with self:
            self.syncing = False
            self.sync_message = result.message
            self._refresh()
            if result.ok:
                return rx.toast.success(result.message)
            return rx.toast.error(result.message)

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
            return rx.toast.error(str(exc))
        self._refresh()
        restored = next((a for a in self.agents if a.id == agent_id), None)
        if restored is not None:
            self.form = _form_from(restored)
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
            return rx.toast.error("Pick two versions to compare.")
        with db.read_only() as session:
            try:
                self.diff_rows = agent_service.diff_versions(
                    session, agent_id=self.edit_agent_id, a=int(self.diff_a), b=int(self.diff_b)
                )
            except DomainError as exc:
                return rx.toast.error(str(exc))
        if not self.diff_rows:
            return rx.toast.info("Those two versions are identical.")
        return None


def _sync_badge(status) -> rx.Component:
    return rx.match(
        status,
        ("synced", rx.badge("synced", color_scheme="green")),
        ("failed", rx.badge("sync failed", color_scheme="red")),
        ("syncing", rx.badge("syncing", color_scheme="blue")),
        ("pending", rx.badge("waiting to sync", color_scheme="amber")),
        rx.badge("never synced", color_scheme="gray"),
    )


def _agent_row(a: AgentRead) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(a.org_name),
        rx.table.cell(rx.badge(a.role, variant="soft")),
        rx.table.cell(rx.text(a.name, weight="medium")),
        rx.table.cell(a.version),
        rx.table.cell(
            rx.vstack(
                _sync_badge(a.sync_status),
                rx.cond(
                    a.sync_error != "",
                    rx.text(a.sync_error, size="1", color_scheme=rx.cond(a.sync_status == "synced", "amber", "red")),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(
                    "assistant ", rx.code(rx.cond(a.vapi_assistant_id != "", a.vapi_assistant_id[:8], "none")), size="1"
                ),
                rx.text(
                    "number ",
                    rx.code(rx.cond(a.vapi_phone_number_id != "", a.vapi_phone_number_id[:8], "none")),
                    size="1",
                ),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(a.updated_at, size="1"), rx.text(a.updated_by, size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                rx.cond(AppState.is_operator, "Edit", "View"),
                size="1",
                variant="soft",
                on_click=AgentsState.open_agent(a.id.to_string()),
            )
        ),
    )


def _select(field: str, options: dict[str, str], label: str, error_key: str) -> rx.Component:
    return labelled(
        label,
        rx.select.root(
            rx.select.trigger(width="100%", aria_label=label),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in options.items()]),
            value=AgentsState.form[field],
            on_change=lambda v: AgentsState.set_field(field, v),
            disabled=~AppState.is_operator,
        ),
        AgentsState.errors.get(error_key, ""),
    )


def _editor() -> rx.Component:
    f = AgentsState.form
    err = AgentsState.errors
    readonly = ~AppState.is_operator
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(AgentsState.edit_title, size="4"),
                rx.spacer(),
                rx.cond(AgentsState.dirty, rx.badge("unsaved changes", color_scheme="amber")),
                rx.button("Close", variant="soft", color_scheme="gray", on_click=AgentsState.close_editor),
                width="100%",
                align="center",
            ),
            rx.cond(
                AgentsState.sync_message != "",
                rx.callout(
                    AgentsState.sync_message,
                    icon=rx.cond(AgentsState.syncing, "loader", "info"),
                    color_scheme=rx.cond(AgentsState.sync_message.contains("failed"), "red", "blue"),
                    width="100%",
                    id="sync-message",
                ),
            ),
            rx.grid(
                rx.vstack(
                    labelled(
                        "Name",
                        rx.input(
                            value=f["name"],
                            on_change=lambda v: AgentsState.set_field("name", v),
                            max_length=60,
                            read_only=readonly,
                            id="agent-name",
                        ),
                        err.get("name", ""),
                        hint="Shown in Vapi; at most 40 characters.",
                    ),
                    rx.text(AgentsState.name_count, size="1", color_scheme="gray"),
                    labelled(
                        "First message",
                        rx.input(
                            value=f["first_message"],
                            read_only=readonly,
                            on_change=lambda v: AgentsState.set_field("first_message", v),
                            max_length=1000,
                            id="agent-first-message",
                        ),
                        err.get("first_message", ""),
                        hint="What the agent says when the call connects.",
                    ),
                    labelled(
                        "System prompt",
                        rx.text_area(
                            value=f["system_prompt"],
                            read_only=readonly,
                            rows="8",
                            on_change=lambda v: AgentsState.set_field("system_prompt", v),
                            id="agent-prompt",
                        ),
                        err.get("system_prompt", ""),
                        hint="How the agent behaves and what it may do.",
                    ),
                    _select("voice", VOICE_OPTIONS, "Voice", "voice"),
                    _select("model", MODEL_OPTIONS, "Model", "model"),
                    rx.hstack(
                        labelled(
                            "Temperature",
                            rx.input(
                                value=f["temperature"],
                                read_only=readonly,
                                type="number",
                                step="0.1",
                                min="0",
                                max="2",
                                on_change=lambda v: AgentsState.set_field("temperature", v),
                            ),
                            err.get("temperature", ""),
                        ),
                        labelled(
                            "Max tokens",
                            rx.input(
                                value=f["max_tokens"],
                                read_only=readonly,
                                type="number",
                                on_change=lambda v: AgentsState.set_field("max_tokens", v),
                            ),
                            err.get("max_tokens", ""),
                        ),
                        labelled(
                            "Max call (seconds)",
                            rx.input(
                                value=f["max_duration_s"],
                                read_only=readonly,
                                type="number",
                                on_change=lambda v: AgentsState.set_field("max_duration_s", v),
                            ),
                            err.get("max_duration_s", ""),
                        ),
                        width="100%",
                    ),
                    rx.text("Tools", size="2", weight="medium"),
                    *[
                        rx.checkbox(
                            label,
                            checked=f["tools"].contains(name),
                            disabled=readonly,
                            on_change=lambda v, n=name: AgentsState.toggle_tool(n, v),
                        )
                        for name, label in TOOLS
                    ],
                    rx.cond(
                        AppState.is_operator,
                        rx.button(
                            "Save and sync to Vapi",
                            on_click=AgentsState.save,
                            loading=AgentsState.syncing,
                            disabled=~AgentsState.dirty & (AgentsState.edit_agent_id > 0),
                            id="agent-save",
                            size="3",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
                rx.vstack(
                    rx.text("What will be sent to Vapi", size="2", weight="medium"),
                    rx.scroll_area(
                        rx.code_block(AgentsState.preview, language="json", wrap_long_lines=True),
                        max_height="34em",
                        id="vapi-preview",
                    ),
                    spacing="2",
                    width="100%",
                ),
                columns="2",
                spacing="5",
                width="100%",
            ),
            _history(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="agent-editor",
    )


def _version_row(v: AgentVersionRead) -> rx.Component:
    return rx.table.row(
        rx.table.cell(v.version),
        rx.table.cell(rx.text(v.created_at, size="1")),
        rx.table.cell(v.created_by),
        rx.table.cell(
            rx.text(
                v.changed, rx.cond(v.restored_from > 0, rx.text(" (restored from ", v.restored_from, ")"), ""), size="1"
            )
        ),
        rx.table.cell(
            rx.cond(
                AppState.is_operator,
                rx.button("Restore", size="1", variant="soft", on_click=AgentsState.restore(v.version)),
            )
        ),
    )


def _history() -> rx.Component:
    return rx.cond(
        AgentsState.versions.length() > 0,
        rx.vstack(
            rx.heading("History", size="3", padding_top="0.5em"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in ("Version", "Saved", "By", "What changed", "")]
                    )
                ),
                rx.table.body(rx.foreach(AgentsState.versions, _version_row)),
                width="100%",
                id="versions-table",
            ),
            rx.hstack(
                rx.text("Compare version", size="2"),
                rx.select(
                    AgentsState.versions.map(lambda v: v.version.to_string()),
                    value=AgentsState.diff_a,
                    on_change=lambda v: AgentsState.set_diff("a", v),
                    custom_attrs={"aria-label": "First version"},  # on the trigger: rx.select drops aria_label
                ),
                rx.text("with", size="2"),
                rx.select(
                    AgentsState.versions.map(lambda v: v.version.to_string()),
                    value=AgentsState.diff_b,
                    on_change=lambda v: AgentsState.set_diff("b", v),
                    custom_attrs={"aria-label": "Second version"},
                ),
                rx.button("Compare", variant="soft", on_click=AgentsState.compare),
                align="center",
            ),
            rx.cond(
                AgentsState.diff_rows.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Field"),
                            rx.table.column_header_cell("Before"),
                            rx.table.column_header_cell("After"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            AgentsState.diff_rows,
                            lambda d: rx.table.row(
                                rx.table.cell(rx.code(d["field"])),
                                rx.table.cell(rx.text(d["before"], size="1", color_scheme="red")),
                                rx.table.cell(rx.text(d["after"], size="1", color_scheme="green")),
                            ),
                        )
                    ),
                    width="100%",
                    id="diff-table",
                ),
            ),
            spacing="2",
            width="100%",
        ),
    )


def _discard_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Discard unsaved changes?"),
            rx.alert_dialog.description("The agent has changes that are not saved. They will be lost."),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep editing", variant="soft", color_scheme="gray", on_click=AgentsState.keep_editing)
                ),
                rx.alert_dialog.action(
                    rx.button("Discard changes", color_scheme="red", on_click=AgentsState.discard_and_open)
                ),
                justify="end",
                spacing="3",
                padding_top="1em",
            ),
        ),
        open=AgentsState.confirm_discard,
    )


@page(routes.AGENTS, "Agents", on_load=[AgentsState.load])
def agents_page() -> rx.Component:
    """Agents per organization."""
    return rx.vstack(
        page_header(
            "Agents",
            "Each clinic has an inbound agent that answers calls and an outbound agent that calls "
            "back. Saving keeps a version and syncs the agent to Vapi.",
        ),
        rx.cond(
            AgentsState.missing.length() > 0,
            rx.hstack(
                rx.foreach(
                    AgentsState.missing,
                    lambda m: rx.cond(
                        AppState.is_operator,
                        rx.button(
                            rx.icon("plus"),
                            "Create ",
                            m["role"],
                            " agent for ",
                            m["org_name"],
                            variant="soft",
                            on_click=AgentsState.open_agent("new:" + m["org_id"] + ":" + m["role"]),
                        ),
                        rx.text(m["org_name"], " has no ", m["role"], " agent.", size="2"),
                    ),
                )
            ),
        ),
        rx.cond(
            AgentsState.agents.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Organization",
                                "Role",
                                "Name",
                                "Version",
                                "Vapi sync",
                                "Vapi ids",
                                "Last saved",
                                "",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(AgentsState.agents, _agent_row)),
                width="100%",
                id="agents-table",
            ),
            empty_state("No agents here yet. Pick an organization in the switcher above to create its agents."),
        ),
        rx.cond(AgentsState.editing, _editor()),
        _discard_dialog(),
        width="100%",
        align="stretch",
    )


__all__ = ["agents_page"]
