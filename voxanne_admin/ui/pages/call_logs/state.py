"""The Call logs list's State: the filter form, the current page of calls, the statistics and the columns.

The filter lives in the URL (`CallFilter.to_query`), so a filtered view can be shared and survives a reload. The form
and a shared link are read by the same parser (`calls.filters.parse_query`), which explains every bad field at once.
Pagination is keyset: the page keeps the cursor of every page shown so far, so "Previous" is exact even while new
calls arrive.
"""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx

from voxanne_admin import db
from voxanne_admin.agents import service as agent_service
from voxanne_admin.calls import listing
from voxanne_admin.calls import stats as call_stats
from voxanne_admin.calls.filters import CallFilter, parse_query
from voxanne_admin.calls.models import STATUS_RANK, CallRow
from voxanne_admin.errors import InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import browser, summarize
from voxanne_admin.ui.state import AppState, current_staff, guarded, ui_only

PAGE_SIZE = 50
ANY = "any"  # Radix selects cannot hold "": this stands for "no filter"
STATUSES = [s for s in STATUS_RANK if s not in ("dialing", "scheduled")]
# Text fields the browser may set through `set_text` (anything else is refused).
TEXT_FIELDS = {"f_q", "f_from", "f_to", "f_min_dur", "f_max_dur", "f_min_cost", "f_max_cost"}
# Form field -> the URL parameter the parser names in its errors, for inline messages.
FORM_PARAM = {"f_q": "q", "f_from": "from", "f_to": "to", "f_min_dur": "dmin", "f_max_dur": "dmax",
              "f_min_cost": "cmin", "f_max_cost": "cmax", "f_agent": "agent", "f_org": "org",
              "f_direction": "direction", "f_status": "status", "f_family": "family", "f_test": "test"}
PARAM_FORM = {v: k for k, v in FORM_PARAM.items()}


def is_admin(role: str) -> bool:
    """Admins (and founders) may list every organization's calls at once."""
    return role in ("admin", "founder")


def form_errors(errors: dict[str, str]) -> dict[str, str]:
    """The parser's errors (by URL parameter) keyed by the form field that shows each one."""
    return {PARAM_FORM.get(param, "form"): message for param, message in errors.items()}


class CallLogsState(AppState):
    """The filter form, the current page of calls and the statistics over the filter."""

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

    # The last list address, so the detail page's "Back" returns to the same filtered view.
    last_list_url: str = rx.LocalStorage(routes.CALL_LOGS, name="vx_calls_back", sync=True)

    @rx.var
    def figures(self) -> dict[str, str]:
        """The statistics' counts with thousands separators."""
        return {"total": f"{self.total:,}", "answered": f"{self.answered:,}", "missed": f"{self.missed:,}",
                "booked": f"{self.booked:,}"}

    @rx.var
    def reasons_height(self) -> int:
        """Tall enough for every ended-reason label."""
        return max(200, 30 * len(self.reasons) + 40)

    @rx.var
    def per_day_summary(self) -> str:
        """The calls-per-day chart in words (its text alternative)."""
        return summarize(self.per_day, "day", "calls", "calls")

    @rx.var
    def reasons_summary(self) -> str:
        """The ended-reasons chart in words (its text alternative)."""
        return "; ".join(f"{r['label']}: {int(r['calls']):,}" for r in self.reasons) or "No data."

    @rx.var
    def scope_label(self) -> str:
        """Which organization the page shows, in words."""
        for option in self.org_options:
            if option["id"] == self.f_org:
                return option["name"]
        return "all organizations"

    # ------------------------------------------------------------------ filter <-> form

    def _fill_form(self, flt: CallFilter) -> None:
        self.f_org = str(flt.org_ids[0]) if flt.org_ids else ""
        self.f_agent = str(flt.agent_id) if flt.agent_id else ""
        self.f_direction, self.f_status, self.f_family = flt.direction, flt.status, flt.ended_family
        self.f_from, self.f_to = flt.date_from, flt.date_to
        self.f_min_dur = "" if flt.min_duration is None else str(flt.min_duration)
        self.f_max_dur = "" if flt.max_duration is None else str(flt.max_duration)
        self.f_min_cost, self.f_max_cost = flt.min_cost, flt.max_cost
        self.f_test, self.f_q = flt.test_only, flt.q
        self.sort, self.desc = flt.sort, flt.desc

    def _form_query(self) -> dict[str, str]:
        """The form as the URL parameters a shared link would carry (the parser reads both the same way)."""
        return {"org": self.f_org if self.f_org.isdigit() else "",
                "agent": self.f_agent if self.f_agent.isdigit() else "",
                "direction": self.f_direction, "status": self.f_status, "family": self.f_family,
                "from": self.f_from, "to": self.f_to, "dmin": self.f_min_dur, "dmax": self.f_max_dur,
                "cmin": self.f_min_cost, "cmax": self.f_max_cost, "test": "1" if self.f_test else "",
                "q": self.f_q, "sort": self.sort, "order": "desc" if self.desc else "asc"}

    def _build_filter(self) -> CallFilter | None:
        """The form as a CallFilter, or None with a message next to each bad field."""
        flt, errors = parse_query(self._form_query())
        self.errors = form_errors(errors)
        return None if errors else flt

    def _list_url(self, flt: CallFilter) -> str:
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

    def _run(self, flt: CallFilter, *, with_stats: bool) -> None:
        role = current_staff().role
        with db.read_only() as session:
            result = listing.list_calls(session, flt=flt, cursor=self._cursors[-1], limit=PAGE_SIZE, role=role)
            figures = call_stats.stats(session, flt=flt, role=role) if with_stats else None
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
        if not self.f_org and not is_admin(current_staff().role):
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
        return browser.set_address(url)

    @rx.event
    @guarded("viewer")
    def load(self):
        """Read the filter from the address bar (or the switcher), columns, agents, then the first page."""
        staff = current_staff()
        self.errors, self.link_error, self.loaded = {}, "", False
        params = {k: v for k, v in dict(self.router.url.query_parameters).items() if v != ""}
        # Only the bad parts of a link are left out; the rest of its filter is kept.
        flt, link_errors = parse_query(params)
        self._fill_form(flt)
        if flt.org_ids:
            # A shared link names its organization: the switcher follows it.
            self.selected_org = self.f_org
        else:
            self.f_org = self.selected_org if self.selected_org.isdigit() else ""
        with db.read_only() as session:
            self.columns = listing.get_columns(session, staff_id=staff.id)
        self._load_agents()
        result = self._apply()
        self.errors = {**form_errors(link_errors), **self.errors}  # the link's bad parts stay explained
        if link_errors:
            self.link_error = ("This link has a value the page cannot use, so that part of its filter is left out: "
                               + " ".join(link_errors.values()))
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

    def _run_page(self, flt: CallFilter):
        try:
            self._run(flt, with_stats=False)
        except InvalidInput as exc:
            if exc.field != "cursor":
                raise
            # A cursor from before a change (or from an older server version): start again at page 1.
            self._cursors = [""]
            self._run(flt, with_stats=False)
            return browser.toast_info("The list changed; showing the first page again.")
        return browser.scroll_to("calls-table")

    @rx.event
    @guarded("viewer")
    def toggle_column(self, key: str, checked: bool):
        """Show or hide a column; remembered for this staff member."""
        staff = current_staff()
        wanted = set(self.columns) | {key} if checked else set(self.columns) - {key}
        columns = [k for k, _ in listing.ALL_COLUMNS if k in wanted]
        if not columns:
            return browser.toast_error("Keep at least one column visible.")
        with db.transaction() as session:
            listing.set_columns(session, staff_id=staff.id, columns=columns)
        self.columns = columns
        return None

    @rx.event
    @guarded("viewer")
    def reset_columns(self):
        """Back to the default columns."""
        staff = current_staff()
        with db.transaction() as session:
            listing.set_columns(session, staff_id=staff.id, columns=list(listing.DEFAULT_COLUMNS))
        self.columns = list(listing.DEFAULT_COLUMNS)
