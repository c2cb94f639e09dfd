"""The websocket's browser-side protections: every event re-checks the connection's Origin, and ending a session
(sign-out, a session that no longer resolves) wipes every state of the client token and gives the browser a new
token, so the next person at that browser, or anyone replaying the old token, hydrates nothing of the last one.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.state import StateUpdate

from voxanne_admin.api.security import origin_allowed
from voxanne_admin.ui.components import browser

log = logging.getLogger(__name__)
PUBLIC_ATTR = "_voxanne_public"  # ui/state.py `public` sets it; the architecture test reads it


class OriginGuard(rx.Middleware):
    """Drops any event whose websocket was opened from a foreign Origin (the handshake already refuses them;
    this holds even if a Reflex default changes)."""

    async def preprocess(self, app, state, event):
        """Refuse before any handler (public, guarded or UI-only) runs."""
        origin = state.router.headers.origin if state is not None else ""
        if origin_allowed(origin):
            return None
        log.warning("refused an event from a foreign origin", extra={"event": str(event.name)[:120]})
        return StateUpdate(delta={}, events=[], final=True)


def _descendants(cls: type[rx.State]) -> list[type[rx.State]]:
    found = []
    for sub in cls.get_substates():
        found.append(sub)
        found.extend(_descendants(sub))
    return found


def _ours(cls: type[rx.State]) -> bool:
    return cls.__module__.startswith("voxanne_admin")


async def wipe_client_states(state: rx.State) -> None:
    """Reset every state of ours for this client token to its defaults, including states this visit never loaded
    (with Redis they would otherwise come back from the store on the next hydrate). Reflex's internal states
    (router, hydration flags) are left to Reflex."""
    root = state._get_root_state()
    for cls in _descendants(type(root)):
        if _ours(cls):
            await root.get_state(cls)
    for cls in type(root).get_substates():
        if _ours(cls):
            (await root.get_state(cls)).reset()  # resets its substates too


def _public(fn):
    """ui/state.py's `public` (that module imports this one): reachable signed out."""
    setattr(fn, PUBLIC_ATTR, True)
    return fn


class SessionEnd(rx.State):
    """The end of a visit: wipe, rotate, navigate."""

    @rx.event
    @_public  # it only forgets this browser's own state
    async def wipe(self, url: str):
        """Reset all states of this token, then reload `url` (a sign-in or signed-out address) with a new token."""
        await wipe_client_states(self)
        target = url if url.startswith("/") and not url.startswith("//") else "/login"
        # The browser forgets its client token (Reflex keeps it in sessionStorage['token']) and loads `target` in
        # full (location.replace), so the next page has a new one.
        return browser.load(target, replace=True, new_token=True)
