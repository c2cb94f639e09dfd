"""The agent editor: the fields, the Vapi payload preview beside them, and the history below."""

from __future__ import annotations

import reflex as rx

from voxanne_admin.agents.models import TOOLS
from voxanne_admin.ui.components import labelled
from voxanne_admin.ui.pages.agents.form import MODEL_OPTIONS, VOICE_OPTIONS
from voxanne_admin.ui.pages.agents.history import history
from voxanne_admin.ui.pages.agents.state import AgentsState
from voxanne_admin.ui.state import AppState


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


def editor() -> rx.Component:
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
            history(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="agent-editor",
    )

