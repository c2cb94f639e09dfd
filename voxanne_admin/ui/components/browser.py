"""What the server asks the browser to do (toasts, scrolling, the address bar, full page loads) without `eval`.

Reflex's own `rx.toast`, `rx.scroll_to` and `rx.call_script` send JavaScript source from the server that its
runtime runs with `eval()`, which the CSP would have to allow (`'unsafe-eval'`). Here the server sends data
instead: a handler returns `browser.toast_error(...)`, `browser.scroll_to(...)`, `browser.set_address(...)` or
`browser.load(...)`; that event (`Browser.run`) appends a command to this client's `Browser.commands`, and the
`browser_commands` app wrap (compiled into the bundle, so `script-src 'self'` covers it) carries it out once.
Each command has a random id; the ids already carried out are kept in this tab's sessionStorage, so a reload, a
hydrate or another page mounting the wrap never repeats one (a full page load asked for by a command would
otherwise load itself again and again).

`leave_guard(when)` is the unsaved-changes guard: the browser asks before leaving the page while `when` holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex_base.components.component import field
from reflex_base.vars.base import Var, VarData

UI_ONLY_ATTR = "_voxanne_ui_only"
KEEP = 20  # commands kept per client; older ones were carried out long ago
DONE_KEY = "vx_done"  # sessionStorage: ids of the commands this tab has carried out


def ui_only(fn: Callable) -> Callable:
    """Marks a handler that only changes what this browser shows (no data read or written). Defined here, the
    UI kit's leaf, because ui/state.py (which re-exports it) and the kit's own states both need it."""
    setattr(fn, UI_ONLY_ATTR, True)
    return fn


def command(do: str, **fields: Any) -> dict[str, str]:
    """One command for the browser: what to do, its fields as strings, and a fresh id."""
    return {"id": secrets.token_urlsafe(9), "do": do, **{k: "" if v is None else str(v) for k, v in fields.items()}}


class Browser(rx.State):
    """This client's pending browser commands (newest last)."""

    commands: list[dict[str, str]] = []

    @rx.event
    @ui_only  # it only changes what this browser shows or where it goes
    def run(self, cmd: dict[str, str]):
        """Queue a command (sent by the server in a handler's answer; comes straight back)."""
        push(self, {k: str(v) for k, v in cmd.items()})


def push(state: Browser, cmd: dict[str, str]) -> None:
    """Queue a command on this client's Browser state directly (SessionEnd.wipe reaches it with get_state)."""
    state.commands = [*state.commands[-(KEEP - 1):], cmd]


def _toast(level: str, message: str, *, id: str = "", duration: int | None = None) -> Any:
    return Browser.run(command("toast", level=level, text=message, toast_id=id, duration=duration))


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
    return Browser.run(command("scroll", target=element_id))


def set_address(url: str) -> Any:
    """Put `url` (a path on this site) in the address bar without loading it (history.replaceState)."""
    return Browser.run(command("address", url=url))


def load_command(url: str, *, replace: bool = False, new_token: bool = False) -> dict[str, str]:
    """The command of `load`, for a handler that queues it itself (`Browser.push`)."""
    return command("load", url=url, replace="1" if replace else "", new_token="1" if new_token else "")


def load(url: str, *, replace: bool = False, new_token: bool = False) -> Any:
    """A full page load of `url` (a path on this site): location.assign, or location.replace with `replace`.
    With `new_token` the browser first forgets its Reflex client token, so the new page gets a new one."""
    return Browser.run(load_command(url, replace=replace, new_token=new_token))


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
    """Carries out `Browser.commands` (an app wrap: mounted once, above every page)."""

    # A prop, not only a name in the hook: a wrap bound to state is compiled below Reflex's StateProvider.
    commands: Var[list[dict[str, str]]] = field(doc="The command list (Browser.commands).")

    def _exclude_props(self) -> list[str]:
        return [*super()._exclude_props(), "commands"]

    def add_imports(self) -> dict[str, Any]:
        """React's useEffect and sonner's toast (the provider is Reflex's `toaster`)."""
        return {"react": ["useEffect"], "sonner": ["toast"]}

    def add_hooks(self) -> list[str | Var]:
        """One effect on the command list: run each command not yet carried out, oldest first."""
        commands = self.commands
        effect = f"""{_RUN}
useEffect(() => {{
  const list = {commands} ?? [];
  let done = [];
  try {{ done = JSON.parse(window.sessionStorage.getItem("{DONE_KEY}") || "[]"); }} catch (e) {{ done = []; }}
  for (const c of list) {{
    if (!c || !c.id || done.includes(c.id)) continue;
    done = [...done, c.id].slice(-50);
    window.sessionStorage.setItem("{DONE_KEY}", JSON.stringify(done));
    vxRun(c);
  }}
}}, [{commands}]);
"""
        return [Var(effect, _var_data=VarData.merge(commands._get_all_var_data()))]


def browser_commands(*children: rx.Component) -> rx.Component:
    """The app wrap that carries out the server's browser commands (`rx.App(extra_app_wraps=...)`)."""
    return BrowserCommands.create(*children, commands=Browser.commands)


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
