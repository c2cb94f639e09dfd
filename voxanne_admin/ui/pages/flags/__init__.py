"""The Flags page: the list (`/flags`) and one flag's detail (`/flags/<key>`)."""

from voxanne_admin.ui.pages.flags.detail_view import flag_detail_page
from voxanne_admin.ui.pages.flags.list_view import flags_page

__all__ = ["flag_detail_page", "flags_page"]
