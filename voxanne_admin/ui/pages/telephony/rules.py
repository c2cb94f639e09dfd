"""The carrier forwarding rules: the list per country, and the admin's editor (every change audited)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from voxanne_admin import db
from voxanne_admin.errors import InvalidInput
from voxanne_admin.telephony import rules as fwd_rules
from voxanne_admin.telephony.models import RuleRead
from voxanne_admin.ui.components import browser, next_sort, sort_rows
from voxanne_admin.ui.pages.telephony.common import RULE_TEXT_FIELDS, SHOWN_ERRORS, friendly
from voxanne_admin.ui.state import actor_for, current_staff, guarded, ui_only


def rule_changes(rule: RuleRead, form: dict, number_format: str, forwards_international: bool) -> dict[str, Any]:
    """The fields of the form (and the two controls outside it) that differ from the saved rule."""
    current = rule.model_dump()
    changes: dict[str, Any] = {}
    for key in RULE_TEXT_FIELDS:
        if key in form and str(form[key]).strip() != str(current.get(key, "") or ""):
            changes[key] = str(form[key]).strip()
    if number_format != rule.number_format:
        changes["number_format"] = number_format
    if forwards_international != rule.forwards_international:
        changes["forwards_international"] = forwards_international
    return changes


class RulesEditor(rx.State, mixin=True):
    """The rules table, its country filter and the rule editor (part of TelephonyState)."""

    rules: list[RuleRead] = []
    rule_filter: str = "all"
    rule_confidence: str = ""
    rule_source: str = ""
    rule_open: bool = False
    rule_id: int = 0
    rule_title: str = ""
    rule_form: dict[str, str] = {}
    rule_intl: bool = True
    rule_format: str = "international"
    rule_errors: dict[str, str] = {}
    rules_sort: str = ""

    def _rule_note(self) -> None:
        """How sure we are of the rule the setup's codes came from."""
        rule = None
        if self.setup.country and self.setup.carrier:
            with db.read_only() as session:
                rule = next((r for r in fwd_rules.list_rules(session, country=self.setup.country)
                             if r.carrier == self.setup.carrier), None)
        self.rule_confidence = rule.confidence if rule else ""
        self.rule_source = rule.source if rule else ""

    def _load_rules(self) -> None:
        with db.read_only() as session:
            rules = fwd_rules.list_rules(session, country="" if self.rule_filter == "all" else self.rule_filter)
        self.rules = sort_rows(rules, self.rules_sort)

    @rx.event
    @ui_only
    def sort_rules(self, key: str):
        """Sort the rules by a column (again: the other way round)."""
        self.rules_sort = next_sort(self.rules_sort, key)
        self.rules = sort_rows(self.rules, self.rules_sort)

    @rx.event
    @guarded("viewer")
    def set_rule_filter(self, value: str):
        """Show the rules of one country (or all)."""
        self.rule_filter = value
        self._load_rules()

    @rx.event
    @guarded("admin")
    def open_rule(self, rule_id: int):
        """Open a carrier rule in the editor."""
        rule = next((r for r in self.rules if r.id == rule_id), None)
        if rule is None:
            return browser.toast_error("That rule is not in the list any more. Refresh the page.")
        data = rule.model_dump()
        self.rule_id = rule.id
        self.rule_title = f"{rule.carrier} ({rule.country}, {rule.line_type})"
        self.rule_form = {k: str(data.get(k, "") or "") for k in RULE_TEXT_FIELDS}
        self.rule_intl = rule.forwards_international
        self.rule_format = rule.number_format
        self.rule_errors = {}
        self.rule_open = True
        return None

    @rx.event
    @ui_only
    def set_rule_open(self, value: bool):
        """Close the rule editor (Escape, Cancel)."""
        self.rule_open = value

    @rx.event
    @ui_only
    def set_rule_intl(self, value: bool):
        """Whether the carrier forwards to numbers abroad."""
        self.rule_intl = bool(value)

    @rx.event
    @ui_only
    def set_rule_format(self, value: str):
        """The number format the carrier expects in codes."""
        self.rule_format = value

    @rx.event
    @guarded("admin")
    def save_rule(self, form: dict):
        """Save the changed fields of a rule (audited with a diff)."""
        staff = current_staff()
        rule = next((r for r in self.rules if r.id == self.rule_id), None)
        if rule is None:
            self.rule_errors = {"form": "That rule is not in the list any more. Close this and refresh the page."}
            return None
        changes = rule_changes(rule, form, self.rule_format, self.rule_intl)
        self.rule_form = {k: str(form.get(k, self.rule_form.get(k, ""))) for k in RULE_TEXT_FIELDS}
        if not changes:
            self.rule_errors = {"form": "Nothing changed. Edit a field, or Cancel."}
            return None
        try:
            with db.transaction() as session:
                fwd_rules.update_rule(session, rule_id=rule.id, changes=changes, actor=actor_for(self, staff),
                                      actor_role=staff.role)
        except InvalidInput as exc:
            self.rule_errors = {exc.field if exc.field in RULE_TEXT_FIELDS else "form": str(exc)}
            return None
        except SHOWN_ERRORS as exc:
            self.rule_errors = {"form": friendly(exc)}
            return None
        self.rule_open = False
        self.rule_errors = {}
        self._load_rules()
        self._rule_note()
        return browser.toast_success(f"Rule for {rule.carrier} saved ({len(changes)} change"
                                f"{'s' if len(changes) != 1 else ''}, audited). Codes issued from now on use it.")
