"""Telephony (viewer reads, operator and up sets up, admins edit carrier rules): the step-by-step setup of the
organization in scope (country, our number, the clinic's line and carrier, forwarding codes, a verified test
call), every organization's telephony status, and the carrier forwarding rules.

state.py assembles TelephonyState from one mixin per step (country, number, line_codes, verify, rules);
the view_*.py modules draw them and page.py registers the page."""

from voxanne_admin.ui.pages.telephony.common import friendly
from voxanne_admin.ui.pages.telephony.page import telephony_page
from voxanne_admin.ui.pages.telephony.state import TelephonyState

__all__ = ["TelephonyState", "friendly", "telephony_page"]
