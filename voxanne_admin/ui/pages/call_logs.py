"""Call logs (viewer and up): find one call among millions, filter and search, statistics, CSV export, call detail.

The filter lives in the URL (`CallFilter.to_query`), so a filtered view can be shared and survives a reload.
Pagination is keyset: the page keeps the cursor of every page shown so far, so "Previous" is exact even while
new calls arrive.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlencode

import reflex as rx
from pydantic import ValidationError

from voxanne_admin import db
from voxanne_admin.agents import service as agent_service
from voxanne_admin.calls import logs
from voxanne_admin.calls.models import STATUS_RANK, CallDetail, CallRow, CostLine, EventLine, Turn
from voxanne_admin.errors import DomainError, InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import empty_state, field_error, page_header, stat_card
from voxanne_admin.ui.layout import page
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

log = logging.getLogger(__name__)
PAGE_SIZE = 50
EXPORT_POLL_S = 0.25
ANY = "any"  # Radix selects cannot hold "": this stands for "no filter"
STATUSES = [s for s in STATUS_RANK if s not in ("dialing", "scheduled")]
# Text fields the browser may set through `set_text` (anything else is refused).
TEXT_FIELDS = {"f_q", "f_from", "f_to", "f_min_dur", "f_max_dur", "f_min_cost", "f_max_cost"}
# Form field -> the URL parameter the service names in InvalidInput.field, for inline messages.
FORM_PARAM = {"f_q": "q", "f_from": "from", "f_to": "to", "f_min_dur": "dmin", "f_max_dur": "dmax",
              "f_min_cost": "cmin", "f_max_cost": "cmax", "f_agent": "agent", "f_org": "org",
              "f_direction": "direction", "f_status": "status", "f_family": "family", "f_test": "test"}
PARAM_FORM = {v: k for k, v in FORM_PARAM.items()}


def _is_admin(role: str) -> bool:
    return role in ("admin", "founder")


class CallLogsState(AppState):
    """The filter form, the current page of calls, the statistics over the filter, and the export."""

    f_org: str = ""
    f_agent: str = ""
    f_direction: str = ""
    f_status: str = ""
    f_family: str = ""
    f_from: str = ""
    f_to: str = ""
    f_min_dur: str = ""
    f_max_dur: str = ""
    f_min_cost: str = ""
    f_max_cost: str = ""
    f_test: bool = False
    f_q: str = ""
    sort: str = "started"
    desc: bool = True
    errors: dict[str, str] = {}
    link_error: str = ""
    refused: bool = False
    needs_org: bool = False
    loaded: bool = False
    loading: bool = False
    filtered: bool = False

    rows: list[CallRow] = []
    has_more: bool = False
    page_no: int = 1
    _cursors: list[str] = [""]
    _next_cursor: str = ""

    columns: list[str] = []
    agents: list[dict[str, str]] = []

    total: int = 0
    answered: int = 0
    missed: int = 0
    avg_duration: str = ""
    p90_duration: str = ""
    total_cost: str = ""
    booked: int = 0
    booking_conversion: str = ""
    per_day: list[dict[str, int | str]] = []
    reasons: list[dict[str, int | str]] = []

    exporting: bool = False
    export_done: int = 0
    export_total: int = 0
    export_url: str = ""
    export_error: str = ""
    export_rows: int = 0

    # The last list address, so the detail page's "Back" returns to the same filtered view.
    last_list_url: str = rx.LocalStorage(routes.CALL_LOGS, name="vx_calls_back", sync=True)

    @rx.var
    def export_percent(self) -> int:
        """Export progress for the bar (0-100)."""
        if self.export_total <= 0:
            return 0
        return min(100, int(self.export_done * 100 / self.export_total))

    @rx.var
    def figures(self) -> dict[str, str]:
        """The statistics' counts with thousands separators."""
        return {"total": f"{self.total:,}", "answered": f"{self.answered:,}", "missed": f"{self.missed:,}",
                "booked": f"{self.booked:,}"}

    @rx.var
    def export_counts(self) -> dict[str, str]:
        """Export progress and result counts with thousands separators."""
        return {"done": f"{self.export_done:,}", "total": f"{self.export_total:,}", "rows": f"{self.export_rows:,}"}

    @rx.var
    def reasons_height(self) -> int:
        """Tall enough for every ended-reason label."""
        return max(200, 30 * len(self.reasons) + 40)

    @rx.var
    def scope_label(self) -> str:
        """Which organization the page shows, in words."""
        for option in self.org_options:
            if option["id"] == self.f_org:
                return option["name"]
        return "all organizations"

    # ------------------------------------------------------------------ filter <-> form

    def _fill_form(self, flt: logs.CallFilter) -> None:
        self.f_org = str(flt.org_ids[0]) if flt.org_ids else ""
        self.f_agent = str(flt.agent_id) if flt.agent_id else ""
        self.f_direction, self.f_status, self.f_family = flt.direction, flt.status, flt.ended_family
        self.f_from, self.f_to = flt.date_from, flt.date_to
        self.f_min_dur = "" if flt.min_duration is None else str(flt.min_duration)
        self.f_max_dur = "" if flt.max_duration is None else str(flt.max_duration)
        self.f_min_cost, self.f_max_cost = flt.min_cost, flt.max_cost
        self.f_test, self.f_q = flt.test_only, flt.q
        self.sort, self.desc = flt.sort, flt.desc

    def _build_filter(self) -> logs.CallFilter | None:
        """The form as a CallFilter, or None with a message next to each bad field."""
        errors: dict[str, str] = {}

        def seconds(name: str, value: str) -> int | None:
            value = value.strip()
            if not value:
                return None
            if not value.isdigit():
                errors[name] = "Whole seconds, e.g. 30 (leave empty for no limit)."
                return None
            return int(value)

        def money(name: str, value: str) -> str:
            value = value.strip().lstrip("$")
            if not value:
                return ""
            try:
                amount = Decimal(value)
            except InvalidOperation:
                errors[name] = "A dollar amount, e.g. 0.25 (leave empty for no limit)."
                return ""
            if amount < 0:
                errors[name] = "Cost cannot be negative."
            return value

        def day(name: str, value: str) -> str:
            value = value.strip()
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    errors[name] = "A date as YYYY-MM-DD, e.g. 2026-11-01."
            return value

        min_dur, max_dur = seconds("f_min_dur", self.f_min_dur), seconds("f_max_dur", self.f_max_dur)
        if min_dur is not None and max_dur is not None and min_dur > max_dur:
            errors["f_max_dur"] = "The longest duration is shorter than the shortest; swap them."
        min_cost, max_cost = money("f_min_cost", self.f_min_cost), money("f_max_cost", self.f_max_cost)
        if not errors.get("f_min_cost") and not errors.get("f_max_cost") and min_cost and max_cost \
                and Decimal(min_cost) > Decimal(max_cost):
            errors["f_max_cost"] = "The highest cost is lower than the lowest; swap them."
        date_from, date_to = day("f_from", self.f_from), day("f_to", self.f_to)
        if date_from and date_to and not errors.get("f_from") and not errors.get("f_to") and date_from > date_to:
            errors["f_to"] = "The end date is before the start date."
        if errors:
            self.errors = errors
            return None
        try:
            flt = logs.CallFilter(
                org_ids=[int(self.f_org)] if self.f_org.isdigit() else [],
                agent_id=int(self.f_agent) if self.f_agent.isdigit() else 0,
                direction=self.f_direction, status=self.f_status, ended_family=self.f_family,
                date_from=date_from, date_to=date_to, min_duration=min_dur, max_duration=max_dur,
                min_cost=min_cost, max_cost=max_cost, test_only=self.f_test, q=self.f_q.strip(),
                sort=self.sort, desc=self.desc,
            )
            # The service's own validation (the same that reads shared links) has the last word.
            flt = logs.CallFilter.from_query(flt.to_query())
        except InvalidInput as exc:
            self.errors = {PARAM_FORM.get(exc.field or "", "form"): str(exc)}
            return None
        except ValidationError as exc:
            self.errors = {"form": f"The filter is not valid: {exc.errors()[0].get('msg', exc)}"}
            return None
        self.errors = {}
        return flt

    def _list_url(self, flt: logs.CallFilter) -> str:
        query = flt.to_query()
        return routes.CALL_LOGS + ("?" + urlencode(query) if query else "")

    # ------------------------------------------------------------------ queries

    def _load_agents(self) -> None:
        with db.read_only() as session:
            agents = agent_service.list_agents(session, org_id=int(self.f_org) if self.f_org.isdigit() else None)
        def label(a) -> str:
            name = a.name if a.role in a.name.lower() else f"{a.name} ({a.role})"
            return name if self.f_org or a.org_name in name else f"{a.org_name}: {name}"

        self.agents = [{"id": str(a.id), "name": label(a)} for a in agents]

    def _run(self, flt: logs.CallFilter, *, with_stats: bool) -> None:
        role = current_staff().role
        with db.read_only() as session:
            result = logs.list_calls(session, flt=flt, cursor=self._cursors[-1], limit=PAGE_SIZE, role=role)
            figures = logs.stats(session, flt=flt, role=role) if with_stats else None
        self.rows = result.rows
        self.has_more = result.has_more
        self._next_cursor = result.next_cursor
        self.page_no = len(self._cursors)
        if figures is not None:
            self.total, self.answered, self.missed = figures.total, figures.answered, figures.missed
            self.avg_duration, self.p90_duration = str(figures.avg_duration), str(figures.p90_duration)
            self.total_cost = str(figures.total_cost)
            self.booked, self.booking_conversion = figures.booked, str(figures.booking_conversion)
            self.per_day = [{"day": d.day, "calls": d.calls} for d in figures.per_day]
            self.reasons = [{"label": r.label, "calls": r.calls} for r in figures.reasons]
        self.filtered = any(
            (flt.agent_id, flt.direction, flt.status, flt.ended_family, flt.date_from, flt.date_to, flt.q,
             flt.min_cost, flt.max_cost, flt.test_only, flt.min_duration is not None, flt.max_duration is not None))

    def _apply(self, *, with_stats: bool = True):
        """Validate, query from the first page, and put the filter in the address bar."""
        if not self.f_org and not _is_admin(current_staff().role):
            self.needs_org = True
            self.rows, self.has_more = [], False
            return None
        self.needs_org = False
        flt = self._build_filter()
        if flt is None:
            return None
        self._cursors = [""]
        self.link_error, self.refused = "", False
        try:
            self._run(flt, with_stats=with_stats)
        except InvalidInput as exc:
            # The service refused the query itself (e.g. a search of only excluded words): say so at the field.
            self.errors = {PARAM_FORM.get(exc.field or "", "form"): str(exc)}
            self.rows, self.has_more, self.loaded, self.refused = [], False, True, True
            self.total = self.answered = self.missed = self.booked = 0
            self.avg_duration = self.p90_duration = self.total_cost = self.booking_conversion = ""
            self.per_day, self.reasons = [], []
            return None
        self.loaded = True
        url = self._list_url(flt)
        self.last_list_url = url
        # Same page, new query string: no reload, and a reload or a shared link shows the same view.
        return rx.call_script(f"window.history.replaceState(null, '', {json.dumps(url)})")

    @rx.event
    @guarded("viewer")
    def load(self):
        """Read the filter from the address bar (or the switcher), columns, agents, then the first page."""
        staff = current_staff()
        self.errors, self.link_error, self.loaded = {}, "", False
        self.exporting, self.export_url, self.export_error = False, "", ""
        params = {k: v for k, v in dict(self.router.url.query_parameters).items() if v != ""}
        errors: dict[str, str] = {}
        skipped: list[str] = []
        while True:
            try:
                flt = logs.CallFilter.from_query(params)
                break
            except InvalidInput as exc:
                # Drop only the bad part of a link and keep the rest of its filter.
                errors[PARAM_FORM.get(exc.field or "", "form")] = str(exc)
                skipped.append(str(exc))
                if exc.field in params:
                    params.pop(exc.field)
                else:
                    flt = logs.CallFilter()
                    break
        self._fill_form(flt)
        if flt.org_ids:
            # A shared link names its organization: the switcher follows it.
            self.selected_org = self.f_org
        else:
            self.f_org = self.selected_org if self.selected_org.isdigit() else ""
        with db.read_only() as session:
            self.columns = logs.get_columns(session, staff_id=staff.id)
        self._load_agents()
        result = self._apply()
        self.errors = {**errors, **self.errors}  # the link's bad parts stay explained at their fields
        if skipped:
            self.link_error = ("This link has a value the page cannot use, so that part of its filter is left out: "
                               + " ".join(skipped))
        return result

    @rx.event
    @guarded("viewer")
    def refresh(self):
        """Run the current filter again from the first page (new calls appear)."""
        return self._apply()

    @rx.event
    @ui_only
    def set_text(self, field: str, value: str):
        """Keep a text field as typed (the search runs on Enter or Apply)."""
        if field in TEXT_FIELDS:
            setattr(self, field, value)

    @rx.event
    @guarded("viewer")
    def apply_form(self, form_data: dict):
        """Enter in any box, or the Apply button: take the typed values and search."""
        for field in TEXT_FIELDS:
            if field in form_data:
                setattr(self, field, str(form_data[field]))
        return self._apply()

    @rx.event
    @guarded("viewer")
    def set_choice(self, field: str, value: str):
        """A select changed: apply at once."""
        if field not in ("f_org", "f_agent", "f_direction", "f_status", "f_family"):
            return None
        value = "" if value == ANY else value
        setattr(self, field, value)
        if field == "f_org":
            self.selected_org = value  # the header's switcher shows the same scope
            self.f_agent = ""
            self._load_agents()
        return self._apply()

    @rx.event
    @guarded("viewer")
    def set_test_only(self, value: bool):
        """Test calls only: apply at once."""
        self.f_test = bool(value)
        return self._apply()

    @rx.event
    @guarded("viewer")
    def clear_filters(self):
        """Back to every call in the organization in scope, newest first."""
        for field in TEXT_FIELDS | {"f_agent", "f_direction", "f_status", "f_family"}:
            setattr(self, field, "")
        self.f_test, self.sort, self.desc = False, "started", True
        return self._apply()

    @rx.event
    @guarded("viewer")
    def sort_by(self, key: str):
        """Click a column header: sort by it; a second click reverses the order."""
        if self.sort == key:
            self.desc = not self.desc
        else:
            self.sort, self.desc = key, key not in ("org", "status")
        return self._apply(with_stats=False)

    @rx.event
    @guarded("viewer")
    def next_page(self):
        """The next page after the last row shown (keyset: stable while calls arrive)."""
        if not self.has_more or not self._next_cursor:
            return
        flt = self._build_filter()
        if flt is None:
            return
        self._cursors = [*self._cursors, self._next_cursor]
        return self._run_page(flt)

    @rx.event
    @guarded("viewer")
    def previous_page(self):
        """Back one page, to exactly the rows shown before."""
        if len(self._cursors) <= 1:
            return
        flt = self._build_filter()
        if flt is None:
            return
        self._cursors = self._cursors[:-1]
        return self._run_page(flt)

    def _run_page(self, flt: logs.CallFilter):
        try:
            self._run(flt, with_stats=False)
        except InvalidInput as exc:
            if exc.field != "cursor":
                raise
            # A cursor from before a change (or from an older server version): start again at page 1.
            self._cursors = [""]
            self._run(flt, with_stats=False)
            return rx.toast.info("The list changed; showing the first page again.")
        return rx.scroll_to("calls-table")

    @rx.event
    @guarded("viewer")
    def toggle_column(self, key: str, checked: bool):
        """Show or hide a column; remembered for this staff member."""
        staff = current_staff()
        wanted = set(self.columns) | {key} if checked else set(self.columns) - {key}
        columns = [k for k, _ in logs.ALL_COLUMNS if k in wanted]
        if not columns:
            return rx.toast.error("Keep at least one column visible.")
        with db.transaction() as session:
            logs.set_columns(session, staff_id=staff.id, columns=columns)
        self.columns = columns
        return None

    @rx.event
    @guarded("viewer")
    def reset_columns(self):
        """Back to the default columns."""
        staff = current_staff()
        with db.transaction() as session:
            logs.set_columns(session, staff_id=staff.id, columns=list(logs.DEFAULT_COLUMNS))
        self.columns = list(logs.DEFAULT_COLUMNS)

    # ------------------------------------------------------------------ export

    @rx.event
    @ui_only
    def dismiss_export(self):
        """Hide the export panel."""
        self.export_url, self.export_error, self.export_done, self.export_total = "", "", 0, 0

    @rx.event(background=True)
    @guarded("viewer")
    async def export(self):
        """Write the current filter's calls to a CSV in the background, with progress, then download it."""
        staff = current_staff()
        async with self:
            if self.exporting:
                return
            if self.needs_org:
                yield rx.toast.error("Pick an organization first: the export covers the calls shown.")
                return
            flt = self._build_filter()
            if flt is None:
                yield rx.toast.error("Fix the highlighted filter fields first; the export uses the filter.")
                return
            self.exporting, self.export_done, self.export_total = True, 0, 0
            self.export_url, self.export_error, self.export_rows = "", "", 0
        actor = actor_for(self, staff)
        progress = {"rows": 0}

        def start() -> tuple[int, str, str]:
            with db.transaction() as session:
                total = logs.count_calls(session, flt=flt, role=staff.role)
                if total == 0:
                    return 0, "", ""
                job = logs.start_export(session, flt=flt, staff_id=staff.id, role=staff.role)
                return total, job.token, job.path

        try:
            total, token, path = await asyncio.to_thread(start)
            if not token:
                async with self:
                    self.exporting = False
                    self.export_error = "Nothing to export: no calls match this filter. Widen the filter."
                return
            async with self:
                self.export_total = total
            # The file is written in a worker thread (server-side cursor); this loop only reports its progress.
            task = asyncio.ensure_future(asyncio.to_thread(
                logs.export_csv, flt=flt, path=path, actor=actor, token=token, role=staff.role,
                progress=lambda n: progress.__setitem__("rows", n)))
            while not task.done():
                await asyncio.sleep(EXPORT_POLL_S)
                async with self:
                    self.export_done = progress["rows"]
            rows = task.result()
        except DomainError as exc:
            async with self:
                self.exporting, self.export_error = False, f"Export refused: {exc}"
            return
        except Exception:
            log.exception("call export failed")
            async with self:
                self.exporting = False
                self.export_error = ("Export failed: a server error stopped it; nothing was downloaded. "
                                     "Try again; if it keeps failing, tell the on-call engineer.")
            return
        url = routes.export_url(token)
        async with self:
            self.exporting = False
            self.export_rows = rows
            self.export_done = self.export_total = max(rows, self.export_total)
            self.export_url = url
        yield rx.download(url=url, filename=Path(path).name)


# ====================================================================== components


def _select(label: str, field: str, value, items: list[rx.Component], any_label: str, width: str = "11em"):
    control_id = f"filter-{field.removeprefix('f_').replace('_', '-')}"
    return rx.vstack(
        rx.text(label, as_="label", html_for=control_id, size="1", weight="medium"),
        rx.select.root(
            rx.select.trigger(id=control_id, min_width=width, aria_label=label),
            rx.select.content(rx.select.item(any_label, value=ANY), *items),
            value=rx.cond(value == "", ANY, value),
            on_change=lambda v: CallLogsState.set_choice(field, v),
        ),
        field_error(CallLogsState.errors.get(field, "")),
        spacing="1",
    )


def _text(label: str, field: str, placeholder: str = "", width: str = "8em", type_: str = "text",
          hint: str = "") -> rx.Component:
    control_id = f"filter-{field.removeprefix('f_').replace('_', '-')}"
    return rx.vstack(
        rx.text(label, as_="label", html_for=control_id, size="1", weight="medium"),
        rx.input(
            value=getattr(CallLogsState, field),
            on_change=lambda v: CallLogsState.set_text(field, v),
            name=field, id=control_id, placeholder=placeholder, type=type_, width=width,
            color_scheme=rx.cond(CallLogsState.errors.contains(field), "red", "gray"),
            aria_invalid=rx.cond(CallLogsState.errors.contains(field), "true", "false"),
        ),
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")) if hint else rx.fragment(),
        field_error(CallLogsState.errors.get(field, "")),
        spacing="1",
        width=width,
    )


def _filters() -> rx.Component:
    org_items = [rx.foreach(AppState.org_options, lambda o: rx.select.item(o["name"], value=o["id"]))]
    return rx.card(
        rx.form(
            rx.vstack(
                rx.hstack(
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16)),
                        value=CallLogsState.f_q,
                        on_change=lambda v: CallLogsState.set_text("f_q", v),
                        name="f_q", id="call-search", type="search",
                        placeholder="Search transcripts and summaries, e.g. appointment Tuesday (press Enter)",
                        aria_label="Search transcripts and summaries",
                        flex="1", size="3",
                    ),
                    rx.button(rx.icon("search", size=16), "Search", type="submit", size="3", id="search-button",
                              loading=CallLogsState.loading),
                    width="100%",
                ),
                field_error(CallLogsState.errors.get("f_q", "")),
                rx.flex(
                    _select("Organization", "f_org", CallLogsState.f_org, org_items,
                            rx.cond(AppState.is_admin, "All organizations", "Pick an organization"), "13em"),
                    _select("Agent", "f_agent", CallLogsState.f_agent,
                            [rx.foreach(CallLogsState.agents, lambda a: rx.select.item(a["name"], value=a["id"]))],
                            "Any agent", "12em"),
                    _select("Direction", "f_direction", CallLogsState.f_direction,
                            [rx.select.item("Inbound", value="inbound"), rx.select.item("Outbound", value="outbound")],
                            "Both"),
                    _select("Status", "f_status", CallLogsState.f_status,
                            [rx.select.item(s, value=s) for s in STATUSES], "Any status", "9em"),
                    _select("Ended reason", "f_family", CallLogsState.f_family,
                            [rx.select.item(label, value=key) for key, label in logs.ENDED_FAMILIES], "Any reason"),
                    rx.vstack(
                        rx.text("Test calls", size="1", weight="medium"),
                        rx.checkbox("Test calls only", checked=CallLogsState.f_test,
                                    on_change=CallLogsState.set_test_only, id="filter-test-only", name="f_test"),
                        spacing="2", padding_top="0.1em",
                    ),
                    spacing="3", wrap="wrap", align="start",
                ),
                rx.flex(
                    _text("From (UTC)", "f_from", width="10em", type_="date"),
                    _text("To (UTC)", "f_to", width="10em", type_="date"),
                    _text("Shortest (s)", "f_min_dur", "e.g. 30", width="7em"),
                    _text("Longest (s)", "f_max_dur", "e.g. 600", width="7em"),
                    _text("Lowest cost ($)", "f_min_cost", "e.g. 0.10", width="7em"),
                    _text("Highest cost ($)", "f_max_cost", "e.g. 2.00", width="7em"),
                    rx.hstack(
                        rx.button("Apply", type="submit", variant="soft", id="apply-filters"),
                        rx.button("Clear filters", type="button", variant="ghost", color_scheme="gray",
                                  on_click=CallLogsState.clear_filters, id="clear-filters"),
                        spacing="2", padding_top="1.4em",
                    ),
                    spacing="3", wrap="wrap", align="start",
                ),
                rx.text("Lists and the checkbox apply at once; dates, durations, costs and the search box apply "
                        "on Enter or Apply. The address bar keeps the filter: copy it to share this view.",
                        size="1", color_scheme="gray"),
                field_error(CallLogsState.errors.get("form", "")),
                spacing="3", width="100%",
            ),
            on_submit=CallLogsState.apply_form,
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        id="call-filters",
    )


def _stats() -> rx.Component:
    s = CallLogsState
    return rx.vstack(
        rx.flex(
            stat_card("Calls", s.figures["total"], "matching the filter"),
            stat_card("Answered", s.figures["answered"], s.figures["missed"] + " missed"),
            stat_card("Average duration", rx.cond(s.avg_duration != "", s.avg_duration, "—"),
                      rx.cond(s.p90_duration != "", "90% of answered calls were shorter than " + s.p90_duration,
                              "No answered calls")),
            stat_card("Total cost", rx.cond(s.total_cost != "", s.total_cost, "—")),
            stat_card("Bookings", s.figures["booked"], rx.cond(s.booking_conversion != "",
                                                    s.booking_conversion + " of answered calls booked an appointment",
                                                    "No answered calls yet")),
            spacing="3", wrap="wrap", width="100%", id="call-stats",
        ),
        rx.cond(
            s.total > 0,
            rx.flex(
                rx.card(
                    rx.text("Calls per day (UTC)", size="2", weight="medium"),
                    rx.recharts.bar_chart(
                        rx.recharts.bar(data_key="calls", fill=rx.color("indigo", 9), name="Calls", max_bar_size=48),
                        rx.recharts.x_axis(data_key="day"),
                        rx.recharts.y_axis(allow_decimals=False),
                        rx.recharts.graphing_tooltip(),
                        data=s.per_day, height=s.reasons_height, width="100%",
                    ),
                    flex="3", min_width="20em", id="calls-per-day",
                ),
                rx.card(
                    rx.text("How calls ended", size="2", weight="medium"),
                    rx.recharts.bar_chart(
                        rx.recharts.bar(data_key="calls", fill=rx.color("teal", 9), name="Calls", max_bar_size=28),
                        rx.recharts.x_axis(type_="number", allow_decimals=False),
                        rx.recharts.y_axis(data_key="label", type_="category", width=150, interval=0),
                        rx.recharts.graphing_tooltip(),
                        data=s.reasons, layout="vertical", height=s.reasons_height, width="100%",
                    ),
                    flex="2", min_width="18em", id="ended-reasons",
                ),
                spacing="3", wrap="wrap", width="100%",
            ),
        ),
        width="100%", spacing="3",
    )


def _columns_menu() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(rx.button(rx.icon("columns-3", size=16), "Columns", variant="soft", color_scheme="gray",
                                     id="columns-button")),
        rx.popover.content(
            rx.vstack(
                rx.text("Visible columns (remembered for you)", size="2", weight="medium"),
                *[
                    rx.checkbox(label, checked=CallLogsState.columns.contains(key),
                                on_change=lambda v, key=key: CallLogsState.toggle_column(key, v),
                                id=f"column-{key}")
                    for key, label in logs.ALL_COLUMNS
                ],
                rx.button("Default columns", size="1", variant="ghost", on_click=CallLogsState.reset_columns),
                spacing="2",
            ),
        ),
    )


def _status_badge(status) -> rx.Component:
    return rx.match(
        status,
        ("ended", rx.badge("ended", color_scheme="green")),
        ("failed", rx.badge("failed", color_scheme="red")),
        ("in-progress", rx.badge("in progress", color_scheme="blue")),
        ("ringing", rx.badge("ringing", color_scheme="blue")),
        rx.badge(status, color_scheme="gray"),
    )


# Column key -> (how a cell shows the row, the sort key or "" when the column cannot be sorted).
def _cell_content(key: str, r: CallRow):
    return {
        "started": rx.text(r.started_at, size="2", min_width="8em"),
        "org": r.org_name,
        "agent": r.agent_name,
        "direction": r.direction,
        "customer": rx.text(r.customer_masked, white_space="nowrap", font_family="monospace", size="2"),
        "status": _status_badge(r.status),
        "ended_reason": rx.tooltip(rx.text(r.ended_family_label, size="2"), content=r.ended_reason),
        "duration": rx.text(r.duration, white_space="nowrap"),
        "cost": rx.text(r.cost, white_space="nowrap"),
        "test": rx.cond(r.is_test, rx.badge("test", color_scheme="amber"), ""),
        "snippet": rx.text(r.snippet, size="1", color_scheme="gray", class_name="call-snippet", min_width="12em"),
    }.get(key, "")


SORTABLE = {"started": "started", "duration": "duration", "cost": "cost", "status": "status", "org": "org"}


def _header_cell(key: str, label: str) -> rx.Component:
    sort_key = SORTABLE.get(key, "")
    if not sort_key:
        return rx.cond(CallLogsState.columns.contains(key), rx.table.column_header_cell(label))
    active = CallLogsState.sort == sort_key
    arrow = rx.cond(active, rx.cond(CallLogsState.desc, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
                    rx.icon("arrow-up-down", size=14, color=rx.color("gray", 8)))
    return rx.cond(
        CallLogsState.columns.contains(key),
        rx.table.column_header_cell(
            rx.button(label, arrow, variant="ghost", size="2", color_scheme="gray", high_contrast=True,
                      on_click=CallLogsState.sort_by(sort_key), id=f"sort-{key}", font_weight="bold",
                      aria_label=f"Sort by {label}", margin_x="-0.5em"),
            aria_sort=rx.cond(active, rx.cond(CallLogsState.desc, "descending", "ascending"), "none"),
        ),
    )


def _row(r: CallRow) -> rx.Component:
    cells = [rx.cond(CallLogsState.columns.contains(key), rx.table.cell(_cell_content(key, r)))
             for key, _ in logs.ALL_COLUMNS]
    href = "/calls/" + r.id.to_string()
    return rx.table.row(
        *cells,
        rx.table.cell(rx.link("Open", rx.icon("chevron-right", size=14), href=href, aria_label="Open call",
                              white_space="nowrap", display="flex", align_items="center")),
        _hover={"background": rx.color("gray", 2)},
    )


def _table() -> rx.Component:
    s = CallLogsState
    return rx.cond(
        s.rows.length() > 0,
        rx.vstack(
            rx.box(
                rx.table.root(
                    rx.table.header(rx.table.row(*[_header_cell(k, label) for k, label in logs.ALL_COLUMNS],
                                                 rx.table.column_header_cell(""))),
                    rx.table.body(rx.foreach(s.rows, _row)),
                    width="100%", id="calls-table", size="1",
                ),
                width="100%", overflow_x="auto",
            ),
            rx.hstack(
                rx.button(rx.icon("chevron-left", size=16), "Previous", variant="soft",
                          disabled=s.page_no <= 1, on_click=s.previous_page, id="previous-page"),
                rx.text("Page ", s.page_no, size="2", id="page-number"),
                rx.button("Next", rx.icon("chevron-right", size=16), variant="soft",
                          disabled=~s.has_more, on_click=s.next_page, id="next-page"),
                rx.spacer(),
                rx.text(f"{PAGE_SIZE} calls per page, newest first unless you sort by a column.", size="1",
                        color_scheme="gray"),
                width="100%", align="center",
            ),
            width="100%",
        ),
        rx.cond(
            s.loaded,
            rx.cond(
                s.refused,
                empty_state("Nothing searched: fix the highlighted field above, then search again."),
                rx.cond(
                    s.filtered,
                    rx.vstack(
                        empty_state("No calls match this filter. Widen the dates, clear a filter, or try other "
                                    "search words (search matches whole words in transcripts and summaries)."),
                        rx.button("Clear filters", variant="soft", on_click=CallLogsState.clear_filters),
                        align="center", width="100%", padding_bottom="1em",
                    ),
                    empty_state("No calls recorded for this organization yet. Calls appear here as Vapi reports "
                                "them; a test call from the Founder console shows up within seconds."),
                ),
            ),
            rx.center(rx.spinner(size="3"), padding="2em", width="100%"),
        ),
    )


def _export_panel() -> rx.Component:
    s = CallLogsState
    return rx.fragment(
        rx.cond(
            s.exporting,
            rx.card(
                rx.vstack(
                    rx.text("Exporting: ", s.export_counts["done"], " of ", s.export_counts["total"], " calls written",
                            size="2", id="export-progress-text"),
                    rx.progress(value=s.export_percent, max=100, width="100%", id="export-progress"),
                    spacing="2", width="100%",
                ),
                width="100%",
            ),
        ),
        rx.cond(
            s.export_url != "",
            rx.callout(
                rx.hstack(
                    rx.text("Export done: ", s.export_counts["rows"], rx.cond(s.export_rows == 1, " call", " calls"),
                            ". The download started; if it did not, ",
                            rx.link("download the CSV", href=s.export_url, id="export-link"), ". The file is "
                            "deleted after a while: export again for fresh data.", size="2", id="export-done"),
                    rx.spacer(),
                    rx.button(rx.icon("x", size=14), variant="ghost", size="1", on_click=s.dismiss_export,
                              aria_label="Dismiss"),
                    width="100%",
                ),
                icon="circle-check", color_scheme="green", width="100%",
            ),
        ),
        rx.cond(
            s.export_error != "",
            rx.callout(rx.text(s.export_error, size="2", id="export-error"),
                       icon="triangle-alert", color_scheme="red", width="100%"),
        ),
    )


@page(routes.CALL_LOGS, "Call logs", on_load=[CallLogsState.load])
def call_logs_page() -> rx.Component:
    """Find, filter and export calls."""
    s = CallLogsState
    return rx.vstack(
        page_header(
            "Call logs",
            "Every call the agents handled, newest first. Search what was said, narrow it down with the filters, "
            "and open a call to read its transcript and play its recording. Phone numbers are masked and "
            "personal details in transcripts are redacted.",
            rx.hstack(
                rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft", on_click=s.refresh,
                          disabled=s.needs_org, id="refresh-calls"),
                rx.button(rx.icon("download", size=16), "Export CSV", on_click=s.export, loading=s.exporting,
                          disabled=s.needs_org, id="export-csv"),
                spacing="2", flex_shrink="0",
            ),
        ),
        rx.cond(s.link_error != "", rx.callout(s.link_error, icon="link-2-off", color_scheme="amber", width="100%",
                                                id="link-error")),
        _filters(),
        rx.cond(
            s.needs_org,
            rx.callout("Pick an organization in the Organization list above (or in the switcher at the top) to see "
                       "its calls. Only administrators can list every organization's calls at once.",
                       icon="building-2", color_scheme="indigo", width="100%", id="needs-org"),
            rx.vstack(
                _export_panel(),
                _stats(),
                rx.hstack(
                    rx.heading("Calls in ", s.scope_label, size="4"),
                    rx.spacer(),
                    _columns_menu(),
                    width="100%", align="center", padding_top="0.5em",
                ),
                _table(),
                width="100%", spacing="3",
            ),
        ),
        width="100%",
        align="stretch",
    )


# ====================================================================== call detail


class CallDetailState(AppState):
    """One call: header facts, cost breakdown, transcript turns, summary, analysis, recording, webhook events."""

    call: CallDetail = CallDetail()
    found: bool = False
    error: str = ""

    @rx.event
    @guarded("viewer")
    def load(self):
        """Read the call id from the address (/calls/<id>) and load it."""
        staff = current_staff()
        ref = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        self.found, self.error = False, ""
        if not ref.isdigit():
            self.error = f"'{ref}' is not a call number. Open calls from the Call logs page."
            return
        # A shared link opens the call wherever it belongs for admins; others see their switcher's organization.
        org_ids = [] if _is_admin(staff.role) else ([int(self.selected_org)] if self.selected_org.isdigit() else [])
        if not org_ids and not _is_admin(staff.role):
            # Without an organization picked, look the call up for the organization it belongs to.
            org_ids = [o["id"] for o in self.org_options if o["id"].isdigit()]
            org_ids = [int(i) for i in org_ids]
        try:
            with db.read_only() as session:
                self.call = logs.get_call(session, call_id=int(ref), org_ids=org_ids, role=staff.role)
        except DomainError as exc:
            self.error = str(exc)
            self.call = CallDetail()
            return
        self.found = True


def _fact(label: str, value, mono: bool = False) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(rx.cond(value != "", value, "—"), size="2", weight="medium",
                font_family="monospace" if mono else None),
        spacing="0", min_width="10em",
    )


def _turn(t: Turn) -> rx.Component:
    return rx.cond(
        t.kind == "tool",
        rx.hstack(
            rx.text(t.at, size="1", color_scheme="gray", min_width="3.5em", font_family="monospace"),
            rx.box(
                rx.hstack(rx.icon("wrench", size=14), rx.text(t.speaker, size="1", weight="medium"), spacing="1",
                          align="center"),
                rx.text(t.text, size="1", font_family="monospace", white_space="pre-wrap"),
                background=rx.color("amber", 2), border=f"1px dashed {rx.color('amber', 7)}",
                border_radius="var(--radius-2)", padding="0.4em 0.6em", width="100%",
            ),
            width="100%", align="start", class_name="turn turn-tool",
        ),
        rx.hstack(
            rx.text(t.at, size="1", color_scheme="gray", min_width="3.5em", font_family="monospace",
                    padding_top="0.15em"),
            rx.badge(t.speaker, color_scheme=rx.match(t.role, ("assistant", "indigo"), ("customer", "gray"), "amber"),
                     min_width="4.5em", justify_content="center"),
            rx.text(t.text, size="2"),
            width="100%", align="start", class_name="turn turn-speech",
        ),
    )


def _event_row(e: EventLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.cond(AppState.is_operator,
                              rx.link(f"#{e.id}", href="/webhook-events?event=" + e.id.to_string()),
                              rx.text("#", e.id))),
        rx.table.cell(rx.code(e.kind, white_space="nowrap")),
        rx.table.cell(rx.badge(e.status, color_scheme=rx.match(e.status, ("completed", "green"),
                                                                 ("dead_letter", "red"), "amber"))),
        rx.table.cell(rx.text(e.received_at, size="1")),
    )


def _cost_row(c: CostLine) -> rx.Component:
    return rx.table.row(rx.table.cell(c.label), rx.table.cell(rx.text(c.amount, white_space="nowrap"),
                                                               text_align="right"))


def _detail_body() -> rx.Component:
    c = CallDetailState.call
    return rx.vstack(
        rx.card(
            rx.vstack(
                rx.hstack(
                    _status_badge(c.status),
                    rx.cond(c.is_test, rx.badge("test call", color_scheme="amber")),
                    rx.cond(c.ended_family_label != "", rx.text(c.ended_family_label, size="2", weight="medium")),
                    rx.cond(c.ended_reason != "", rx.code(c.ended_reason, size="1")),
                    spacing="2", align="center",
                ),
                rx.flex(
                    _fact("Organization", c.org_name),
                    _fact("Agent", c.agent_name),
                    _fact("Direction", c.direction),
                    _fact("Caller", c.customer_masked, mono=True),
                    _fact("Our number", c.phone_number_masked, mono=True),
                    _fact("Started (UTC)", c.started_at),
                    _fact("Ended (UTC)", c.ended_at),
                    _fact("Duration", c.duration),
                    _fact("Cost", c.cost),
                    spacing="5", wrap="wrap", row_gap="1em",
                ),
                spacing="3", width="100%",
            ),
            width="100%", id="call-facts",
        ),
        rx.flex(
            rx.vstack(
                rx.heading("Recording", size="4"),
                rx.cond(
                    c.recording_url != "",
                    rx.vstack(
                        rx.el.audio(src=c.recording_url, controls=True, preload="none", id="call-recording",
                                    style={"width": "100%"}),
                        rx.link("Open the recording in a new tab", href=c.recording_url, is_external=True, size="1"),
                        width="100%", spacing="1",
                    ),
                    rx.text("No recording for this call (recording was off, the call was not answered, or the link "
                            "expired under the recordings retention).", size="2", color_scheme="gray"),
                ),
                rx.heading("Summary", size="4", padding_top="0.5em"),
                rx.cond(c.summary != "", rx.text(c.summary, size="2", id="call-summary"),
                        rx.text("No summary: Vapi sends one in the end-of-call report.", size="2",
                                color_scheme="gray")),
                rx.heading("Transcript", size="4", padding_top="0.5em"),
                rx.cond(
                    c.turns.length() > 0,
                    rx.vstack(rx.foreach(c.turns, _turn), spacing="2", width="100%", id="call-transcript"),
                    rx.text("No transcript for this call.", size="2", color_scheme="gray"),
                ),
                flex="3", min_width="22em", spacing="2",
            ),
            rx.vstack(
                rx.heading("Cost breakdown", size="4"),
                rx.cond(
                    c.cost_breakdown.length() > 0,
                    rx.table.root(
                        rx.table.body(rx.foreach(c.cost_breakdown, _cost_row),
                                      rx.table.row(rx.table.row_header_cell("Total"),
                                                   rx.table.cell(rx.text(c.cost, weight="bold"),
                                                                 text_align="right"))),
                        size="1", width="100%", id="cost-breakdown",
                    ),
                    rx.text(rx.cond(c.cost != "", "No breakdown reported; total " + c.cost, "No cost reported."),
                            size="2", color_scheme="gray"),
                ),
                rx.heading("Structured analysis", size="4", padding_top="0.5em"),
                rx.cond(c.analysis_json != "",
                        rx.code_block(c.analysis_json, language="json", wrap_long_lines=True, id="call-analysis",
                                      width="100%"),
                        rx.text("No analysis reported.", size="2", color_scheme="gray")),
                rx.heading("Webhook events", size="4", padding_top="0.5em"),
                rx.text("The events Vapi sent for this call, in the order received.",
                        rx.cond(AppState.is_operator, " Open one to see its payload on the Webhooks page.", ""),
                        size="1", color_scheme="gray"),
                rx.cond(
                    c.events.length() > 0,
                    rx.box(
                        rx.table.root(
                            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h)
                                                           for h in ("Event", "Type", "Status", "Received")])),
                            rx.table.body(rx.foreach(c.events, _event_row)),
                            size="1", width="100%", id="call-events",
                        ),
                        width="100%", overflow_x="auto",
                    ),
                    rx.text("No webhook events stored for this call (events are purged after their retention).",
                            size="2", color_scheme="gray"),
                ),
                flex="2", min_width="18em", spacing="2",
            ),
            spacing="5", wrap="wrap", width="100%", align="start",
        ),
        width="100%", spacing="4",
    )


@page(routes.CALL_DETAIL, "Call", on_load=[CallDetailState.load])
def call_detail_page() -> rx.Component:
    """One call in full."""
    c = CallDetailState.call
    return rx.vstack(
        rx.link(rx.icon("arrow-left", size=14), "Back to call logs", href=CallLogsState.last_list_url,
                size="2", display="flex", align_items="center", gap="0.3em", id="back-to-list"),
        page_header(rx.cond(CallDetailState.found, "Call " + c.id.to_string(), "Call"),
                    rx.cond(c.vapi_call_id != "", "Vapi call id " + c.vapi_call_id, ""),
                    rx.button(rx.icon("refresh-cw", size=16), "Refresh", variant="soft",
                              on_click=CallDetailState.load, id="refresh-call")),
        rx.cond(
            CallDetailState.error != "",
            rx.callout(CallDetailState.error, icon="search-x", color_scheme="amber", width="100%", id="call-error"),
            rx.cond(CallDetailState.found, _detail_body(),
                    rx.center(rx.spinner(size="3"), padding="2em", width="100%")),
        ),
        width="100%", align="stretch",
    )
