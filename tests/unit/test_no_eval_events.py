"""The CSP has no 'unsafe-eval' (README "Security headers"): Reflex runs the events that `rx.call_script`,
`rx.call_function`, `rx.scroll_to` and a handler's `rx.toast.*` build with eval(), so the browser would block them.
Handlers return `ui.components.browser` commands instead; this test keeps it that way for code no browser test
clicks through."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVAL_EVENTS = {"call_script", "call_function", "scroll_to"}
# A toast built into a component's trigger when the page is compiled (not sent by the server, not eval'd).
ALLOWED = {("voxanne_admin/ui/pages/telephony/view_codes.py", "toast.info")}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_no_code_builds_an_event_that_reflex_runs_with_eval():
    found = []
    for path in sorted((ROOT / "voxanne_admin").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if not name.startswith("rx."):
                continue
            tail = name[3:]
            risky = tail in EVAL_EVENTS or (tail.startswith("toast.") and tail != "toast.provider")
            if risky and (rel, tail) not in ALLOWED:
                found.append(f"{rel}:{node.lineno} {name}")
    assert found == [], f"events Reflex would eval (blocked by the CSP; use ui.components.browser): {found}"
