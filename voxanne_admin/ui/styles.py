"""Styles in one place: layout sizes, the accent, and the global CSS that makes the console meet WCAG AA in light
and dark mode (contrast of secondary text, visible keyboard focus, screen-reader-only text)."""

SIDEBAR_WIDTH = "15rem"
CONTENT_MAX = "72rem"
ACCENT = "indigo"

# Visually hidden but read by screen readers.
SR_ONLY = {
    "position": "absolute", "width": "1px", "height": "1px", "padding": "0", "margin": "-1px",
    "overflow": "hidden", "clip": "rect(0, 0, 0, 0)", "white_space": "nowrap", "border": "0",
}

# Global CSS (focus ring, sort buttons, contrast fixes) lives in assets/voxanne.css, loaded by rx.App.
STYLESHEETS = ["/voxanne.css"]

base_style = {
    "font_family": "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
}

card = {"width": "100%"}
