"""axe-core in the browser: inject the pinned package (tests/e2e/node, installed by `./voxanne test`) into a
Playwright page and fail with every WCAG 2.0/2.1 A and AA violation it finds, in the colour mode the page shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE_JS = Path(__file__).parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Counts per scanned view, `name -> number of violating nodes`, kept for the report printed at the end.
SCANNED: dict[str, int] = {}


def _axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: `./voxanne test` installs it (npm ci --prefix tests/e2e/node).")
    return AXE_JS.read_text()


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core on the page as it is now; returns the violations (id, help, nodes with targets)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Not an inline <script> tag: the console's CSP refuses inline scripts it has no hash for.
        page.evaluate("(source) => { (0, eval)(source); }", _axe_source())
    # Let the theme's colour transitions settle before contrast is measured.
    page.wait_for_timeout(300)
    result = page.evaluate(
        """async (tags) => {
            const r = await window.axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                     resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
        }""",
        WCAG_TAGS,
    )
    return result


def color_mode(page: Page) -> str:
    """'dark' or 'light': what the app actually renders (Radix puts the class on <html>)."""
    return "dark" if page.evaluate("() => document.documentElement.classList.contains('dark')") else "light"


def assert_no_axe_violations(page: Page, name: str) -> None:
    """Fail listing each WCAG 2.0/2.1 A/AA violation (rule id, element, what is wrong) on this view."""
    mode = color_mode(page)
    violations = axe_violations(page)
    count = sum(len(v["nodes"]) for v in violations)
    SCANNED[f"{name} ({mode})"] = count
    if not violations:
        return
    lines = [f"{count} axe-core WCAG 2.1 A/AA violation(s) on {name} in {mode} mode:"]
    for v in violations:
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"- {v['id']} ({v['impact']}): {node['target']}: {v['help']}. {summary[:300]}")
    pytest.fail("\n".join(lines), pytrace=False)


def scan_both_modes(page: Page, name: str) -> None:
    """Scan the current view in light and then dark mode (the app follows the system colour scheme), then go
    back to light. Every failure of both modes is reported together."""
    failures = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_function("(s) => document.documentElement.classList.contains('dark') === (s === 'dark')",
                               arg=scheme, timeout=10_000)
        if scheme == "dark" and hasattr(page, "shot"):
            page.shot(re.sub(r"[^\w]+", "-", name).strip("-") + "-dark")  # to look at the dark theme
        try:
            assert_no_axe_violations(page, name)
        except pytest.fail.Exception as exc:
            failures.append(str(exc))
    page.emulate_media(color_scheme="light")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def write_report(path: Path) -> None:
    """Per-view violation counts as JSON (test-artifacts/e2e/axe-counts.json), merged with what the other browser
    workers of the run wrote there."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            counts = {}
        counts.update(SCANNED)
        path.write_text(json.dumps(counts, indent=2, sort_keys=True))


def scan_collecting(page: Page, name: str, problems: list[str], report: Path) -> None:
    """Scan in both colour modes, keep going and collect what fails (a test reports every page at once), and
    rewrite the per-view count report."""
    try:
        scan_both_modes(page, name)
    except BaseException as exc:  # pytest.fail raises an Outcome, not an Exception
        if "violation" not in str(exc):
            raise
        problems.append(str(exc))
    finally:
        write_report(report)
