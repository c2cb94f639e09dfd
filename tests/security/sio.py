"""A minimal Socket.IO (Engine.IO v4, websocket transport) client for Reflex's `/_event` endpoint: what an
attacker's script or a replayed client token would speak, without a browser."""

from __future__ import annotations

import json
import time
import uuid

from websockets.sync.client import ClientConnection, connect

NAMESPACE = "/_event"
HYDRATE = "reflex___state____state.hydrate_and_load"
AUTH_FLOW = "reflex___state____state.voxanne_admin___ui___pages___auth___state____auth_flow_state"


def event_url(base: str, token: str) -> str:
    """The websocket URL the frontend opens."""
    return base.replace("http://", "ws://").replace("https://", "wss://") + \
        f"/_event/?EIO=4&transport=websocket&token={token}"


def event(name: str, path: str, **payload) -> dict:
    """One Reflex event as the frontend sends it."""
    return {"name": name, "payload": payload, "router_data": {"pathname": path, "asPath": path, "query": {}}}


class EventSocket:
    """One client token's websocket; `boot` sends the connect packet with the first event (as the frontend)."""

    def __init__(self, base: str, *, token: str | None = None, origin: str | None = None, cookie: str = ""):
        self.token = token or str(uuid.uuid4())
        headers = {"Cookie": cookie} if cookie else None
        self.ws: ClientConnection = connect(event_url(base, self.token), origin=origin,  # type: ignore[arg-type]
                                            additional_headers=headers, open_timeout=20, legacy=True)
        opened = self.ws.recv(timeout=20)
        assert str(opened).startswith("0"), opened
        self.received: list[str] = []

    def boot(self, first: dict) -> None:
        """Connect to the namespace with the boot event (hydrate) in the auth payload."""
        self.ws.send(f"40{NAMESPACE}," + json.dumps({"event": first}))

    def emit(self, ev: dict) -> None:
        """Send one event after the boot."""
        self.ws.send(f"42{NAMESPACE}," + json.dumps(["event", ev]))

    def collect(self, seconds: float, *, until: str | None = None) -> str:
        """Everything the server sent for `seconds` (or until a message containing `until`), pings answered."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = str(self.ws.recv(timeout=max(0.05, deadline - time.monotonic())))
            except TimeoutError:
                break
            if message == "2":
                self.ws.send("3")
                continue
            self.received.append(message)
            if until and until in message:
                break
        return "\n".join(self.received)

    def close(self) -> None:
        """Close the websocket."""
        self.ws.close()
