"""The Audit log page's State: the filter (in the URL), keyset pages, one event's detail, the chain panel and
"Verify now" with progress. Every handler checks the admin role on the server."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

import reflex as rx

from voxanne_admin import db
from voxanne_admin.audit import views
from voxanne_admin.audit.query import GROUP_LABELS, AuditFilter, parse_query
from voxanne_admin.audit.views import AuditDetail, AuditRow, ChainPanel
from voxanne_admin.errors import InvalidInput
from voxanne_admin.ui import routes
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.state import AppState, actor_for, current_staff, guarded, ui_only

log = logging.getLogger(__name__)
PAGE_SIZE = 50
ANY = "any"
# Form field -> URL parameter (the parser names its errors by parameter).
FORM_PARAM = {"f_actor": "actor", "f_group": "group", "f_action": "action", "f_target_type": "target_type",
              "f_target_id": "target_id", "f_org": "org", "f_from": "from", "f_to": "to", "f_q": "q"}
PARAM_FORM = {v: k for k, v in FORM_PARAM.items()}
TEXT_FIELDS = {"f_actor", "f_action", "f_target_type", "f_target_id", "f_from", "f_to", "f_q"}
GROUP_OPTIONS = list(GROUP_LABELS.items())


class AuditLogState(AppState):
    """Filter form, current page, detail dialog, chain panel, verification."""

    f_actor: str = ""
    f_group: str = ""
    f_action: str = ""
    f_target_type: str = ""
    f_target_id: str = ""
    f_org: str = ""
    f_from: str = ""
    f_to: str = ""
    f_q: str = ""
    errors: dict[str, str] = {}
    link_error: str = ""
    loaded: bool = False
    filtered: bool = False
    query_string: str = ""

    rows: list[AuditRow] = []
    has_more: bool = False
    page_no: int = 1
    _cursors: list[str] = [""]
    _next_cursor: str = ""

    detail_open: bool = False
    detail: AuditDetail = AuditDetail()
    detail_link: str = ""

    chain: ChainPanel = ChainPanel()
    verifying: bool = False
    verify_done: int = 0
    verify_total: int = 0
    verify_result: str = ""  # "", "ok", "failed"
    verify_rows: int = 0
    verify_problems: list[str] = []

    @rx.var
    def verify_percent(self) -> int:
        """Verification progress for the bar (0-100)."""
        return 0 if self.verify_total <= 0 else min(100, int(self.verify_done * 100 / self.verify_total))

    @rx.var
    def counts(self) -> dict[str, str]:
        """Figures with thousands separators."""
        return {"sealed": f"{self.chain.sealed_through:,}", "unsealed": f"{self.chain.unsealed:,}",
                "backlog": f"{self.chain.stream_backlog:,}", "done": f"{self.verify_done:,}",
                "total": f"{self.verify_total:,}", "rows": f"{self.verify_rows:,}"}

    # ------------------------------------------------------------------ filter <-> form

    def _fill_form(self, flt: AuditFilter) -> None:
        self.f_actor, self.f_group, self.f_action = flt.actor, flt.group, flt.action
        self.f_target_type, self.f_target_id = flt.target_type, flt.target_id
        self.f_org = "" if flt.org_id is None else str(flt.org_id)
        self.f_from, self.f_to, self.f_q = flt.date_from, flt.date_to, flt.q

    def _build_filter(self) -> AuditFilter | None:
        flt, errors = parse_query({param: getattr(self, field) for field, param in FORM_PARAM.items()})
        self.errors = {PARAM_FORM.get(p, "form"): m for p, m in errors.items()}
        return None if errors else flt

    def _run(self, flt: AuditFilter) -> None:
        with db.read_only() as session:
            self.rows, self._next_cursor = views.list_rows(session, flt=flt, cursor=self._cursors[-1],
                                                           limit=PAGE_SIZE)
        self.has_more = bool(self._next_cursor)
        self.page_no = len(self._cursors)

    def _apply(self):
        flt = self._build_filter()
        if flt is None:
            return None
        self._cursors = [""]
        self.link_error = ""
        self._run(flt)
        self.loaded, self.filtered = True, flt.is_filtered
        self.query_string = urlencode(flt.to_query())
        url = routes.AUDIT_LOG + (f"?{self.query_string}" if self.query_string else "")
        return browser.set_address(url)

    def _refresh_chain(self) -> None:
        with db.read_only() as session:
            self.chain = views.chain_panel(session)

    # ------------------------------------------------------------------ events

    @rx.event
    @guarded("admin")
    def load(self):
        """Read the filter from the address bar, the first page and the chain panel."""
        self.loaded, self.detail_open = False, False
        params = {k: v for k, v in dict(self.router.url.query_parameters).items() if v != ""}
        flt, link_errors = parse_query(params)
        self._fill_form(flt)
        self._refresh_chain()
        result = self._apply()
        if link_errors:
            self.errors = {**{PARAM_FORM.get(p, "form"): m for p, m in link_errors.items()}, **self.errors}
            self.link_error = ("This link has a value the page cannot use, so that part of its filter is left out: "
                               + " ".join(link_errors.values()))
        return result

    @rx.event
    @ui_only
    def set_text(self, field: str, value: str):
        """Keep a text field as typed (applied on Enter or Apply)."""
        if field in TEXT_FIELDS:
            setattr(self, field, value)

    @rx.event
    @guarded("admin")
    def apply_form(self, form_data: dict):
        """Enter in a box, or Apply: take the typed values and search."""
        for field in TEXT_FIELDS:
            if field in form_data:
                setattr(self, field, str(form_data[field]))
        return self._apply()

    @rx.event
    @guarded("admin")
    def set_choice(self, field: str, value: str):
        """A select changed: apply at once."""
        if field not in ("f_group", "f_org"):
            return None
        setattr(self, field, "" if value == ANY else value)
        return self._apply()

    @rx.event
    @guarded("admin")
    def clear_filters(self):
        """The whole trail, newest first."""
        for field in FORM_PARAM:
            setattr(self, field, "")
        return self._apply()

    @rx.event
    @guarded("admin")
    def next_page(self):
        """The page after the last row shown (keyset)."""
        flt = self._build_filter()
        if flt is None or not self._next_cursor:
            return None
        self._cursors = [*self._cursors, self._next_cursor]
        self._run(flt)
        return browser.scroll_to("audit-table")

    @rx.event
    @guarded("admin")
    def previous_page(self):
        """Back one page, to exactly the rows shown before."""
        flt = self._build_filter()
        if flt is None or len(self._cursors) <= 1:
            return None
        self._cursors = self._cursors[:-1]
        self._run(flt)
        return browser.scroll_to("audit-table")

    @rx.event
    @guarded("admin")
    def export(self, fmt: str):
        """Download every event of the current filter (the route streams it and records the export)."""
        if fmt not in ("csv", "json"):
            return None
        flt = self._build_filter()
        if flt is None:
            return browser.toast_error("Fix the highlighted filter fields first; the export uses the filter.")
        query = urlencode(flt.to_query())
        return rx.download(url=routes.audit_export_url(query, fmt), filename=f"audit-log.{fmt}")

    @rx.event
    @guarded("admin")
    def open_detail(self, event_id: int):
        """One event's detail: the diff side by side and a link to its target."""
        with db.read_only() as session:
            detail = views.get_detail(session, event_id=int(event_id))
        if detail is None:
            return browser.toast_error("This event no longer exists (retention archived it).")
        self.detail = detail
        self.detail_link = routes.audit_target_url(detail.target_type, detail.target_id)
        self.detail_open = True
        return None

    @rx.event
    @ui_only
    def set_detail_open(self, value: bool):
        """Close the detail dialog."""
        self.detail_open = bool(value)

    @rx.event
    @guarded("admin")
    def refresh_chain(self):
        """Read the chain panel again (sealer lag, checkpoint, stream backlog)."""
        self._refresh_chain()

    @rx.event(background=True)
    @guarded("admin")
    async def verify_now(self):
        """Verify every row's MAC, every link and every checkpoint, with progress; the run is audited."""
        staff = current_staff()
        async with self:
            if self.verifying:
                return
            self.verifying, self.verify_done, self.verify_total = True, 0, 0
            self.verify_result, self.verify_problems, self.verify_rows = "", [], 0
        actor = actor_for(self, staff)
        seen = {"done": 0, "total": 0}

        def progress(done: int, total: int) -> None:
            seen["done"], seen["total"] = done, total

        task = asyncio.ensure_future(asyncio.to_thread(views.verify_and_record, actor=actor, progress=progress))
        while not task.done():
            await asyncio.sleep(0.2)
            async with self:
                self.verify_done, self.verify_total = seen["done"], seen["total"]
        try:
            report = task.result()
        except InvalidInput as exc:
            async with self:
                self.verifying, self.verify_result, self.verify_problems = False, "failed", [str(exc)]
            return
        except Exception:
            log.exception("audit verification failed to run")
            async with self:
                self.verifying, self.verify_result = False, "failed"
                self.verify_problems = ["The verification could not run (a server error); try again, or run "
                                        "`voxanne-admin audit verify` on the server."]
            return
        async with self:
            self.verifying = False
            self.verify_rows = report.rows_checked
            self.verify_done = self.verify_total = max(report.rows_checked, seen["total"])
            self.verify_result = "ok" if report.ok else "failed"
            self.verify_problems = list(report.problems[:20])
            self._refresh_chain()
