"""The call-logs filter parser: URL round trip, every bad field reported at once, code-built filters checked too.
Pure: no database."""

from __future__ import annotations

import pytest

from voxanne_admin.calls.filters import CallFilter, FilterErrors, parse_query
from voxanne_admin.errors import InvalidInput


def test_filter_query_round_trip_and_validation():
    flt = CallFilter(org_ids=[3, 1], agent_id=4, direction="inbound", status="ended", ended_family="voicemail",
                     date_from="2026-11-01", date_to="2026-11-20", min_duration=0, max_duration=60,
                     min_cost="0.1", max_cost="2", test_only=True, q="refill", sort="cost", desc=False)
    query = flt.to_query()
    assert CallFilter.from_query(query) == flt.model_copy(update={"org_ids": [1, 3]})
    assert CallFilter().to_query() == {}
    for params, field in [({"org": "x"}, "org"), ({"direction": "sideways"}, "direction"), ({"status": "x"}, "status"),
                          ({"family": "nope"}, "family"), ({"from": "2026-13-01"}, "from"),
                          ({"from": "2026-11-02", "to": "2026-11-01"}, "from"), ({"dmin": "-3"}, "dmin"),
                          ({"dmin": "9", "dmax": "2"}, "dmin"), ({"cmin": "abc"}, "cmin"), ({"cmax": "NaN"}, "cmax"),
                          ({"test": "maybe"}, "test"), ({"q": "x" * 201}, "q"), ({"sort": "id"}, "sort"),
                          ({"order": "up"}, "order")]:
        with pytest.raises(InvalidInput) as err:
            CallFilter.from_query(params)
        assert err.value.field == field, params


def test_every_bad_field_is_reported_at_once_when_several_are_wrong():
    params = {"org": "x", "direction": "sideways", "from": "2026-13-01", "dmin": "abc", "cmax": "-1", "q": "refill"}
    with pytest.raises(FilterErrors) as err:
        CallFilter.from_query(params)
    assert set(err.value.errors) == {"org", "direction", "from", "dmin", "cmax"}
    assert err.value.field == "org"
    assert "whole seconds, e.g. 30 (leave empty for no limit)." in err.value.errors["dmin"]
    assert "'abc'" in err.value.errors["dmin"] and "'-1'" in err.value.errors["cmax"]


def test_parse_query_keeps_the_good_parts_when_some_are_bad():
    flt, errors = parse_query({"q": "refill", "direction": "inbound", "dmin": "abc", "dmax": "60", "cmin": "$0.10",
                               "from": "2026-11-02", "to": "2026-11-01"})
    assert set(errors) == {"dmin", "from"}
    assert (flt.q, flt.direction, flt.max_duration, flt.min_cost) == ("refill", "inbound", 60, "0.10")
    assert flt.min_duration is None and flt.date_from == "" and flt.date_to == ""  # a swapped range uses neither end


def test_parse_query_of_a_clean_form_has_no_errors():
    flt, errors = parse_query({"org": "4", "test": "1", "order": "asc", "sort": "started", "q": "  refill  "})
    assert errors == {}
    assert (flt.org_ids, flt.test_only, flt.desc, flt.q) == ([4], True, False, "refill")


@pytest.mark.parametrize(("values", "field"), [
    ({"ended_family": "nope"}, "family"), ({"date_from": "22/11/2026"}, "from"), ({"min_cost": "abc"}, "cmin"),
    ({"max_duration": -1}, "dmax"), ({"min_duration": 9, "max_duration": 2}, "dmin")])
def test_filter_built_in_code_is_checked_by_the_same_parser(values, field):
    with pytest.raises(FilterErrors) as err:
        CallFilter(**values)
    assert err.value.field == field
