"""Styles in one place."""

SIDEBAR_WIDTH = "15rem"
CONTENT_MAX = "72rem"
ACCENT = "indigo"

base_style = {
    "font_family": "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
}

card = {"width": "100%"}
