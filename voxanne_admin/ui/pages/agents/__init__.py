"""Agents (viewer reads, operator and up edits): per-organization inbound/outbound agents, versions, Vapi sync.

state.py holds AgentsState, form.py the editor's fields as text; page.py, editor.py and history.py draw them."""

from voxanne_admin.ui.pages.agents.page import agents_page
from voxanne_admin.ui.pages.agents.state import AgentsState

__all__ = ["AgentsState", "agents_page"]
