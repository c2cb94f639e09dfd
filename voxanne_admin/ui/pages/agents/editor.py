"""The agent editor: the fields, the Vapi payload preview beside them, and the history below."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import TOOLS
from voxanne_admin.ui.components import form_field, select_field, text_field
from voxanne_admin.ui.pages.agents.form import MODEL_OPTIONS, VOICE_OPTIONS
from voxanne_admin.ui.pages.agents.history import history
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.state import AppState


def _select(field: str, options: dict[str, str], label: str) -> rx.Component:
    return select_field(label, f"agent-{field}", [(text, value) for value, text in options.items()],
                        value=AgentsState.form[field], on_change=lambda v: AgentsState.set_field(field, v),
                        disabled=~AppState.is_operator, error=AgentsState.errors.get(field, ""))


def _number(field: str, label: str, **props) -> rx.Component:
    return text_field(label, f"agent-{field.replace('_', '-')}", value=AgentsState.form[field], type="number",
                      read_only=~AppState.is_operator, on_change=lambda v: AgentsState.set_field(field, v),
                      error=AgentsState.errors.get(field, ""), **props)


def _tools() -> rx.Component:
    readonly = ~AppState.is_operator
    return rx.el.fieldset(
        rx.el.legend(rx.text("Tools", size="2", weight="medium")),
        rx.vstack(
            # The checkbox is a button: its name is given as well as the wrapping label (axe button-name).
            *[rx.checkbox(label, checked=AgentsState.form["tools"].contains(name), disabled=readonly,
                          on_change=lambda v, n=name: AgentsState.toggle_tool(n, v), aria_label=label)
              for name, label in TOOLS],
            spacing="2",
        ),
        style={"border": "0", "padding": "0", "margin": "0"},
    )


def _fields() -> rx.Component:
    f = AgentsState.form
    err = AgentsState.errors
    readonly = ~AppState.is_operator
    return rx.vstack(
        text_field("Name", "agent-name", value=f["name"], on_change=lambda v: AgentsState.set_field("name", v),
                   max_length=60, read_only=readonly, error=err.get("name", ""),
                   hint="Shown in Vapi; at most 40 characters."),
        rx.text(AgentsState.name_count, size="1", color_scheme="gray", aria_live="polite"),
        text_field("First message", "agent-first-message", value=f["first_message"], read_only=readonly,
                   on_change=lambda v: AgentsState.set_field("first_message", v), max_length=1000,
                   error=err.get("first_message", ""), hint="What the agent says when the call connects."),
        form_field("System prompt", "agent-prompt",
                   rx.text_area(value=f["system_prompt"], read_only=readonly, rows="8",
                                on_change=lambda v: AgentsState.set_field("system_prompt", v)),
                   hint="How the agent behaves and what it may do.", error=err.get("system_prompt", "")),
        _select("voice", VOICE_OPTIONS, "Voice"),
        _select("model", MODEL_OPTIONS, "Model"),
        rx.hstack(
            _number("temperature", "Temperature", step="0.1", min="0", max="2"),
            _number("max_tokens", "Max tokens"),
            _number("max_duration_s", "Max call (seconds)"),
            width="100%",
        ),
        _tools(),
        rx.cond(
            AppState.is_operator,
            rx.button("Save and sync to Vapi", on_click=AgentsState.save, loading=AgentsState.syncing,
                      disabled=~AgentsState.dirty & (AgentsState.edit_agent_id > 0), id="agent-save", size="3"),
        ),
        spacing="2",
        width="100%",
    )


def _sync_callout(icon: str) -> rx.Component:
    """What the last sync said (one of the two renders at a time, so the id stays unique)."""
    return rx.callout(
        AgentsState.sync_message,
        icon=icon,
        color_scheme=rx.cond(AgentsState.sync_message.contains("failed"), "red", "blue"),
        width="100%",
        id="sync-message",
        role="status",
    )


def editor() -> rx.Component:
    """The open agent: its fields, what will be sent to Vapi, and its saved versions."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(AgentsState.edit_title, size="4", as_="h2"),
                rx.spacer(),
                rx.cond(AgentsState.dirty, rx.badge("unsaved changes", color_scheme="amber")),
                rx.button("Close", variant="soft", color_scheme="gray", on_click=AgentsState.close_editor,
                          aria_label="Close the editor"),
                width="100%",
                align="center",
            ),
            rx.cond(
                AgentsState.sync_message != "",
                # Two static icons, not an icon chosen by a state var: a var icon makes the build bundle every
                # lucide icon (about 1,600 extra files, slower builds) for the sake of two.
                rx.cond(AgentsState.syncing, _sync_callout("loader"), _sync_callout("info")),
            ),
            rx.grid(
                _fields(),
                rx.vstack(
                    rx.text("What will be sent to Vapi", size="2", weight="medium", id="vapi-preview-label"),
                    rx.scroll_area(
                        rx.code_block(AgentsState.preview, language="json", wrap_long_lines=True),
                        max_height="34em",
                        id="vapi-preview",
                        custom_attrs={"aria-labelledby": "vapi-preview-label", "tabIndex": "0"},
                    ),
                    spacing="2",
                    width="100%",
                ),
                columns="2",
                spacing="5",
                width="100%",
            ),
            history(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="agent-editor",
    )
