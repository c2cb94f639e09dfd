"""What the Call logs list and the call detail share: the call status badge mapping."""

from __future__ import annotations

from voxanne_admin.ui.components import StatusMap

CALL_STATUS: StatusMap = {"ended": ("ended", "green"), "failed": ("failed", "red"),
                          "in-progress": ("in progress", "blue"), "ringing": ("ringing", "blue")}
