"""Reflex configuration: app name, ports and URLs from settings. Nothing else."""

import os

import reflex as rx

from voxanne_admin.api.security import allowed_origins
from voxanne_admin.settings import get_settings

_settings = get_settings()
# Dev mode (`VOXANNE_DEV=1 reflex run`): Vite on PORT, backend on PORT+1 with hot reload.
# Production (`voxanne-admin serve`): frontend and backend on one port.
_dev = os.environ.get("VOXANNE_DEV") == "1"
_backend_port = _settings.port + 1 if _dev else _settings.port

config = rx.Config(
    app_name="voxanne_admin",
    telemetry_enabled=False,
    frontend_port=_settings.port,
    backend_port=_backend_port,
    api_url=f"http://localhost:{_backend_port}" if _dev else _settings.public_url,
    deploy_url=_settings.public_url,
    redis_url=_settings.redis_url.get_secret_value() if _settings.redis_url else None,
    show_built_with_reflex=False,
    # Reflex's default is "*": its Socket.IO server and CORS middleware would accept any Origin (with credentials).
    cors_allowed_origins=allowed_origins(_settings),
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium")),
        rx.plugins.SitemapPlugin(),
    ],
    disable_plugins=[],
)
