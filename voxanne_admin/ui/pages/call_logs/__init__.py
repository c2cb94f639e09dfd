"""The Call logs pages: the list (`list_page`, its State in `state`, the filter form in `filters`, the CSV export
sub-state in `export`) and the call detail (`detail_page`)."""
