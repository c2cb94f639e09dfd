"""Vapi's webhook message shapes: pure functions over the JSON Vapi sends (no I/O)."""

from __future__ import annotations

from typing import Any


def message_metadata(message: dict[str, Any]) -> dict[str, Any]:
    """Our metadata on a Vapi message (org_id, agent_id, voxanne_call_id ...), merged from every place Vapi may
    carry it: the assistant, the call's assistant overrides, the call, the message."""
    call = message.get("call") or {}
    merged: dict[str, Any] = {}
    for holder in ((message.get("assistant") or {}).get("metadata"), (call.get("assistantOverrides") or {}).get(
            "metadata"), call.get("metadata"), message.get("metadata")):
        if isinstance(holder, dict):
            merged.update(holder)
    return merged
