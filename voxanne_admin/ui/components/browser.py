"""What the server asks the browser to do (toasts, scrolling, the address bar, full page loads) without `eval`.

Reflex's own `rx.toast`, `rx.scroll_to` and `rx.call_script` send JavaScript source from the server that its
runtime runs with `eval()`, which the CSP would have to allow (`'unsafe-eval'`). Here the server sends data
instead: a handler returns `browser.toast_error(...)`, `browser.scroll_to(...)`, `browser.set_address(...)` or
`browser.load(...)`, each one command as JSON in Reflex's built-in `_set_value` event (`rx.set_value`, handled in
the browser without eval: `refs[ref].current.value = value`). Its target is a hidden element of the
`browser_commands` app wrap (mounted once, above every page), whose `value` is a setter compiled into the bundle
(so `script-src 'self'` covers it) that carries the command out at once. Nothing is stored in the state and
nothing makes a round trip: a reload or a replayed client token has no command to repeat, and a toast still
shows when the state store is unreachable.

`leave_guard(when)` is the unsaved-changes guard: the browser asks before leaving the page while `when` holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex_base.components.component import field
from reflex_base.vars.base import Var, VarData

UI_ONLY_ATTR = "_voxanne_ui_only"
TARGET = "vx_browser"  # the id of the hidden element whose `value` setter runs a command
REF = f"ref_{TARGET}"  # its key in Reflex's `refs` (reflex_base.utils.format.format_ref)


def ui_only(fn: Callable) -> Callable:
    """Marks a handler that only changes what this browser shows (no data read or written). Defined here, the
    UI kit's leaf, because ui/state.py (which re-exports it) and the kit's own dialogs both need it."""
    setattr(fn, UI_ONLY_ATTR, True)
    return fn


def command(do: str, **fields: Any) -> Any:
    """The event that hands one command (what to do, its fields as strings) to the browser."""
    data = {"do": do, **{k: "" if v is None else str(v) for k, v in fields.items()}}
    return rx.set_value(TARGET, json.dumps(data))


def command_of(spec: Any) -> dict[str, str] | None:
    """The command an event from `command` carries, or None for any other event (tests read it)."""
    if getattr(getattr(getattr(spec, "handler", None), "fn", None), "__qualname__", "") != "_set_value":
        return None
    values = {str(name): value for name, value in spec.args}
    if values.get("ref") is None or getattr(values["ref"], "_var_value", None) != REF:
        return None
    return json.loads(values["value"]._var_value)


def _toast(level: str, message: str, *, id: str = "", duration: int | None = None) -> Any:
    return command("toast", level=level, text=message, toast_id=id, duration=duration)


def toast_error(message: str, *, id: str = "", duration: int | None = None) -> Any:
    """An error toast (in place of rx.toast.error)."""
    return _toast("error", message, id=id, duration=duration)


def toast_success(message: str, *, id: str = "", duration: int | None = None) -> Any:
    """A success toast (in place of rx.toast.success)."""
    return _toast("success", message, id=id, duration=duration)


def toast_info(message: str, *, id: str = "", duration: int | None = None) -> Any:
    """An info toast (in place of rx.toast.info)."""
    return _toast("info", message, id=id, duration=duration)


def toast_warning(message: str, *, id: str = "", duration: int | None = None) -> Any:
    """A warning toast (in place of rx.toast.warning)."""
    return _toast("warning", message, id=id, duration=duration)


def scroll_to(element_id: str) -> Any:
    """Scroll the element with this id into view, top aligned (in place of rx.scroll_to)."""
    return command("scroll", target=element_id)


def set_address(url: str) -> Any:
    """Put `url` (a path on this site) in the address bar without loading it (history.replaceState)."""
    return command("address", url=url)


def load(url: str, *, replace: bool = False, new_token: bool = False) -> Any:
    """A full page load of `url` (a path on this site): location.assign, or location.replace with `replace`.
    With `new_token` the browser first forgets its Reflex client token, so the new page gets a new one."""
    return command("load", url=url, replace="1" if replace else "", new_token="1" if new_token else "")


# What the browser does with a command. Only paths on this site are followed ("/..." but not "//host").
_RUN = """
const vxSamePath = (u) => (typeof u === "string" && u.startsWith("/") && !u.startsWith("//")) ? u : null;
const vxRun = (c) => {
  if (c.do === "toast") {
    const options = {};
    if (c.toast_id) options.id = c.toast_id;
    if (c.duration) options.duration = Number(c.duration);
    (typeof toast[c.level] === "function" ? toast[c.level] : toast)(c.text, options);
  } else if (c.do === "scroll") {
    document.getElementById(c.target)?.scrollIntoView(true);
  } else if (c.do === "address") {
    const u = vxSamePath(c.url);
    if (u) window.history.replaceState(null, "", u);
  } else if (c.do === "load") {
    const u = vxSamePath(c.url);
    if (!u) return;
    if (c.new_token) window.sessionStorage.removeItem("token");
    if (c.replace) window.location.replace(u); else window.location.assign(u);
  }
};
"""


class BrowserCommands(rx.Fragment):
    """Receives the server's commands (an app wrap: mounted once, above every page)."""

    def add_imports(self) -> dict[str, Any]:
        """React's useEffect, Reflex's refs and sonner's toast (the provider is Reflex's `toaster`)."""
        return {"react": ["useEffect"], "$/utils/state": ["refs"], "sonner": ["toast"]}

    def add_hooks(self) -> list[str | Var]:
        """Give the hidden target element a `value` setter that parses and runs each command."""
        effect = f"""{_RUN}
useEffect(() => {{
  const target = refs["{REF}"]?.current;
  if (!target) return undefined;
  Object.defineProperty(target, "value", {{
    configurable: true,
    get: () => "",
    set: (text) => {{
      let c = null;
      try {{ c = JSON.parse(text); }} catch (e) {{ console.error("browser command", e); }}
      if (c && typeof c === "object") vxRun(c);
    }},
  }});
  return () => {{ delete target.value; }};
}}, []);
"""
        return [Var(effect, _var_data=VarData(imports={"react": ["useEffect"]}))]


def browser_commands(*children: rx.Component) -> rx.Component:
    """The app wrap that carries out the server's browser commands (`rx.App(extra_app_wraps=...)`)."""
    return BrowserCommands.create(rx.el.span(id=TARGET, hidden=True), *children)


class LeaveGuard(rx.Fragment):
    """While `when` is true, leaving or reloading the page asks first (the browser's own dialog)."""

    when: Var[bool] = field(doc="Whether there is something to lose (e.g. unsaved changes).")

    def _exclude_props(self) -> list[str]:
        return [*super()._exclude_props(), "when"]

    def add_imports(self) -> dict[str, Any]:
        """React's useEffect."""
        return {"react": ["useEffect"]}

    def add_hooks(self) -> list[str | Var]:
        """A beforeunload listener that exists only while `when` holds."""
        when = self.when
        effect = f"""
useEffect(() => {{
  if (!({when})) return undefined;
  const ask = (e) => {{ e.preventDefault(); e.returnValue = ""; return ""; }};
  window.addEventListener("beforeunload", ask);
  return () => window.removeEventListener("beforeunload", ask);
}}, [{when}]);
"""
        return [Var(effect, _var_data=VarData.merge(when._get_all_var_data()))]


def leave_guard(when: Var[bool]) -> rx.Component:
    """The unsaved-changes guard, bound to a state var (render it anywhere on the page)."""
    return LeaveGuard.create(when=when)
