"""Call logs service on a real PostgreSQL: filters, search, keyset pagination, scope, stats, preferences."""

from __future__ import annotations

import base64
import json
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from voxanne_admin import formatting
from voxanne_admin.agents.models import Agent
from voxanne_admin.appointments.models import Appointment
from voxanne_admin.calls import detail as call_detail
from voxanne_admin.calls import families, listing
from voxanne_admin.calls import stats as call_stats
from voxanne_admin.calls.filters import CallFilter
from voxanne_admin.calls.models import Call
from voxanne_admin.errors import InvalidInput, NotFound, PermissionDenied
from voxanne_admin.orgs.models import Organization
from voxanne_admin.webhooks import service as inbox
from voxanne_admin.webhooks.models import WebhookEvent

NOW = datetime.now(UTC).replace(microsecond=0)
REASONS = ["customer-ended-call", "assistant-said-end-call-phrase", "customer-did-not-answer", "voicemail",
           "pipeline-error-openai-llm-failed", "call.start.error-vapi-number", "brand-new-reason-2027", None]
WORDS = ["dentist cleaning appointment", "refill for my prescription", "billing question about invoice",
         "cancel my booking tomorrow", "insurance [INSURANCE_ID] verification"]


def make_org(session: Session, name: str, **kw) -> Organization:
    """An organization row."""
    org = Organization(name=name, slug=name.lower().replace(" ", "-"), country="US", timezone="America/New_York",
                       **kw)
    session.add(org)
    session.flush()
    return org


def make_agent(session: Session, org: Organization, role: str) -> Agent:
    """An agent row with a Vapi assistant id."""
    agent = Agent(org_id=org.id, role=role, name=f"{org.name} {role}"[:40], system_prompt="Be kind.",
                  voice_provider="openai", voice_id="alloy", model_provider="openai", model_name="gpt-4o",
                  vapi_assistant_id=f"asst-{org.id}-{role}")
    session.add(agent)
    session.flush()
    return agent


@dataclass
class World:
    orgs: list[Organization]
    agents: list[Agent]
    calls: list[Call]


@pytest.fixture
def world(session: Session) -> World:
    """Two organizations, four agents and 120 varied calls over 10 days."""
    rnd = random.Random(7)
    orgs = [make_org(session, "Alpha Dental"), make_org(session, "Beta Clinic")]
    agents = [make_agent(session, o, r) for o in orgs for r in ("inbound", "outbound")]
    calls = []
    for i in range(120):
        agent = agents[i % 4]
        reason = REASONS[i % len(REASONS)]
        started = NOW - timedelta(days=i % 10, minutes=i * 7)
        status = "ended" if reason else rnd.choice(["queued", "in-progress"])
        duration = None if reason in (None, "customer-did-not-answer") else float(rnd.randint(5, 600))
        call = Call(vapi_call_id=f"vc-{i}", org_id=agent.org_id, assistant_id=agent.vapi_assistant_id,
                    agent_id=agent.id if i % 3 else None, direction=agent.role, status=status,
                    status_rank=5 if reason else 1, ended_reason=reason, customer_number=f"+1555010{i:04d}",
                    started_at=started if status != "queued" else None, created_at=started,
                    ended_at=started + timedelta(seconds=duration or 0) if reason else None,
                    duration_s=duration, cost=Decimal(rnd.randint(0, 900)) / 1000 if reason else None,
                    is_test=i % 11 == 0, summary=f"Caller asked about {WORDS[i % 5]}.",
                    transcript=f"AI: Hello, Alpha Dental.\nUser: I need help with {WORDS[i % 5]} please.",
                    costs=[{"type": "model", "cost": 0.01}, {"type": "transport", "provider": "twilio",
                                                              "cost": 0.002}])
        session.add(call)
        calls.append(call)
    session.flush()
    for call in calls[::9]:
        if call.status == "ended":
            session.add(Appointment(org_id=call.org_id, starts_at=NOW + timedelta(days=2, hours=call.id % 50),
                                    ends_at=NOW + timedelta(days=2, hours=call.id % 50, minutes=30),
                                    contact_name="Pat", contact_phone="+15550100000", vapi_call_id=call.vapi_call_id))
    session.flush()
    for c in calls:
        session.refresh(c)
    return World(orgs, agents, calls)


def all_ids(session: Session, flt: CallFilter, limit: int = 7) -> list[int]:
    """Walk every page of the filter."""
    ids, cursor = [], ""
    while True:
        page = listing.list_calls(session, flt=flt, cursor=cursor, limit=limit)
        ids += [r.id for r in page.rows]
        if not page.has_more:
            assert page.next_cursor == ""
            return ids
        cursor = page.next_cursor


def expected(world: World, pred, key=None, desc=True) -> list[int]:
    """The ids Python expects, in the list's default order (listed_at desc, id desc)."""
    rows = [c for c in world.calls if pred(c)]
    key = key or (lambda c: (c.listed_at, c.id))
    return [c.id for c in sorted(rows, key=key, reverse=desc)]


def test_no_filter_lists_every_call_newest_first(session, world):
    assert all_ids(session, CallFilter()) == expected(world, lambda c: True)


@pytest.mark.parametrize("name", ["org", "agent", "direction", "status", "family", "other", "dates", "duration",
                                  "cost", "test", "combined"])
def test_each_filter_returns_exactly_the_right_rows(session, world, name):
    a, b = world.orgs
    agent = world.agents[1]
    day = (NOW - timedelta(days=3)).date()
    cases = {
        "org": (CallFilter(org_ids=[b.id]), lambda c: c.org_id == b.id),
        "agent": (CallFilter(agent_id=agent.id), lambda c: c.assistant_id == agent.vapi_assistant_id),
        "direction": (CallFilter(direction="outbound"), lambda c: c.direction == "outbound"),
        "status": (CallFilter(status="ended"), lambda c: c.status == "ended"),
        "family": (CallFilter(ended_family="no-answer"), lambda c: c.ended_reason == "customer-did-not-answer"),
        "other": (CallFilter(ended_family="other"), lambda c: c.ended_reason == "brand-new-reason-2027"),
        "dates": (CallFilter(date_from=day.isoformat(), date_to=day.isoformat()),
                  lambda c: c.listed_at.astimezone(UTC).date() == day),
        "duration": (CallFilter(min_duration=100, max_duration=300),
                     lambda c: 100 <= (c.duration_s or 0) <= 300),
        "cost": (CallFilter(min_cost="0.2", max_cost="0.5"),
                 lambda c: Decimal("0.2") <= (c.cost or 0) <= Decimal("0.5")),
        "test": (CallFilter(test_only=True), lambda c: c.is_test),
        "combined": (CallFilter(org_ids=[a.id, b.id], direction="inbound", status="ended", min_duration=50),
                     lambda c: c.direction == "inbound" and c.status == "ended" and (c.duration_s or 0) >= 50),
    }
    flt, pred = cases[name]
    want = expected(world, pred)
    assert want, "the fixture must exercise this filter"
    assert all_ids(session, flt) == want
    assert listing.count_calls(session, flt=flt) == len(want)


def test_full_text_search_matches_stems_and_highlights(session, world):
    page = listing.list_calls(session, flt=CallFilter(q="prescriptions refill"), limit=200)
    want = expected(world, lambda c: "prescription" in (c.summary or ""))
    assert [r.id for r in page.rows] == want
    assert all("«" in r.snippet and "»" in r.snippet for r in page.rows)
    # websearch syntax: quoted phrase and exclusion
    ids = all_ids(session, CallFilter(q='"billing question" -dentist'))
    assert ids == expected(world, lambda c: "billing question" in (c.summary or ""))
    assert all_ids(session, CallFilter(q="zebra")) == []
    # a placeholder left by redaction is searchable as a word
    assert all_ids(session, CallFilter(q="insurance_id")) == expected(world, lambda c: "[INSURANCE_ID]" in c.summary)


@pytest.mark.parametrize("sort", ["started", "duration", "cost", "status", "org"])
@pytest.mark.parametrize("desc", [True, False])
def test_sorting_walks_every_row_once_in_order(session, world, sort, desc):
    names = {o.id: o.name for o in world.orgs}
    keys = {
        "started": lambda c: (c.listed_at, c.id),
        "duration": lambda c: (c.duration_s or 0, c.id),
        "cost": lambda c: (c.cost or 0, c.id),
        "status": lambda c: (c.status, c.listed_at, c.id),
        "org": lambda c: (names[c.org_id], c.listed_at, c.id),
    }
    ids = all_ids(session, CallFilter(sort=sort, desc=desc), limit=9)
    assert ids == expected(world, lambda c: True, key=keys[sort], desc=desc)


def test_pagination_is_stable_while_new_calls_arrive(session, world):
    flt = CallFilter()
    seen, cursor, n = [], "", 0
    while True:
        page = listing.list_calls(session, flt=flt, cursor=cursor, limit=10)
        seen += [r.id for r in page.rows]
        # new calls keep arriving between page loads (newer than everything listed)
        for _ in range(3):
            n += 1
            session.add(Call(vapi_call_id=f"new-{n}", org_id=world.orgs[0].id, status="in-progress",
                             started_at=datetime.now(UTC) + timedelta(seconds=n)))
        session.flush()
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)), "no duplicates"
    assert seen == expected(world, lambda c: True), "no gaps, same order"


def test_tampered_or_foreign_cursor_is_refused_cleanly(session, world):
    page = listing.list_calls(session, flt=CallFilter(), limit=5)
    for bad in ["garbage!", "eyJ4IjoxfQ", base64.urlsafe_b64encode(b'{"f":"x","v":[1],"id":"1; drop"}').decode()]:
        with pytest.raises(InvalidInput) as err:
            listing.list_calls(session, flt=CallFilter(), cursor=bad)
        assert err.value.field == "cursor"
    with pytest.raises(InvalidInput, match="filter changed"):
        listing.list_calls(session, flt=CallFilter(status="ended"), cursor=page.next_cursor)
    raw = json.loads(base64.urlsafe_b64decode(page.next_cursor + "=="))
    raw["v"] = [{"t": "not a time"}]
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    with pytest.raises(InvalidInput):
        listing.list_calls(session, flt=CallFilter(), cursor=forged)


def test_scope_refusals(session, world):
    a, b = world.orgs
    other = next(c for c in world.calls if c.org_id == b.id)
    with pytest.raises(NotFound):
        call_detail.get_call(session, call_id=other.id, org_ids=[a.id])
    assert call_detail.get_call(session, call_id=other.id, org_ids=[b.id]).id == other.id
    with pytest.raises(PermissionDenied):
        listing.list_calls(session, flt=CallFilter(), role="operator")
    with pytest.raises(PermissionDenied):
        call_detail.get_call(session, call_id=other.id, org_ids=[], role="viewer")
    assert listing.list_calls(session, flt=CallFilter(), role="admin").rows
    assert {r.org_id for r in listing.list_calls(session, flt=CallFilter(org_ids=[a.id]), role="viewer",
                                              limit=500).rows} == {a.id}


def test_call_detail_turns_costs_events_and_masking(session, world):
    call = world.calls[1]
    call.messages = [
        {"role": "system", "message": "You are the receptionist.", "secondsFromStart": 0},
        {"role": "bot", "message": "Hello, Alpha Dental.", "secondsFromStart": 0.5},
        {"role": "user", "message": "Book me Tuesday.", "secondsFromStart": 4.2},
        {"role": "tool_calls", "toolCalls": [{"id": "t1", "type": "function", "function": {
            "name": "book_appointment", "arguments": json.dumps({"slot_start": "2026-12-01T10:00"})}}],
         "secondsFromStart": 9},
        {"role": "tool_call_result", "name": "book_appointment", "result": "Booked.", "secondsFromStart": 10},
        {"role": "bot", "message": "You are booked.", "secondsFromStart": 71},
    ]
    call.analysis = {"summary": "x", "successEvaluation": "true"}
    call.recording_url = "https://recordings.example/r.wav"
    session.add(call)
    session.add(WebhookEvent(provider="vapi", kind="end-of-call-report", dedupe_key="d1", call_id=call.vapi_call_id,
                             payload={}, status="completed"))
    session.flush()
    detail = call_detail.get_call(session, call_id=call.id, org_ids=[call.org_id])
    assert [(t.role, t.kind, t.at) for t in detail.turns] == [
        ("assistant", "speech", "0:00"), ("customer", "speech", "0:04"), ("tool", "tool", "0:09"),
        ("tool", "tool", "0:10"), ("assistant", "speech", "1:11")]
    assert "book_appointment(slot_start=2026-12-01T10:00)" in detail.turns[2].text
    assert detail.customer_masked.startswith("***") and call.customer_number not in detail.customer_masked
    assert [c.label for c in detail.cost_breakdown] == ["model", "transport (twilio)"]
    assert [e.kind for e in inbox.call_events(session, vapi_call_id=call.vapi_call_id)] == ["end-of-call-report"]
    assert detail.recording_url.endswith("r.wav") and '"successEvaluation"' in detail.analysis_json


def test_stats_equal_a_python_recomputation(session, world):
    a = world.orgs[0]
    for flt, pred in [(CallFilter(), lambda c: True), (CallFilter(org_ids=[a.id], direction="inbound"),
                                                       lambda c: c.org_id == a.id and c.direction == "inbound")]:
        rows = [c for c in world.calls if pred(c)]
        missed_f = set(families.MISSED_FAMILIES)
        answered = [c for c in rows if c.status == "ended" and (c.duration_s or 0) > 0
                    and families.family_of(c.ended_reason) not in missed_f]
        ended = [c for c in rows if c.status in ("ended", "failed")]
        booked_ids = set(session.exec(sa.select(Appointment.vapi_call_id)).scalars().all())
        durations = sorted(c.duration_s for c in answered)
        got = call_stats.stats(session, flt=flt)
        assert got.total == len(rows)
        assert got.answered == len(answered)
        assert got.missed == len(ended) - len(answered)
        assert got.avg_duration == formatting.duration(statistics.fmean(durations))
        p90 = statistics.quantiles(durations, n=10, method="inclusive")[-1]
        assert got.p90_duration == formatting.duration(p90)
        assert got.total_cost == formatting.money(sum((c.cost or 0) for c in rows))
        per_day: dict[str, int] = {}
        for c in rows:
            d = c.listed_at.astimezone(UTC).date().isoformat()
            per_day[d] = per_day.get(d, 0) + 1
        assert {d.day: d.calls for d in got.per_day} == per_day
        fams: dict[str, int] = {}
        for c in rows:
            label = families.family_label(c.ended_reason)
            fams[label] = fams.get(label, 0) + 1
        assert {r.label: r.calls for r in got.reasons} == fams
        booked = [c for c in rows if c.vapi_call_id in booked_ids]
        assert got.booked == len(booked) and booked
        assert got.booking_conversion == f"{len(booked) / len(answered):.0%}"


def test_today_by_org(session, world):
    today = [c for c in world.calls if c.listed_at.astimezone(UTC).date() == datetime.now(UTC).date()]
    got = {o.org_id: o for o in call_stats.today_by_org(session)}
    for org in world.orgs:
        assert got[org.id].calls == len([c for c in today if c.org_id == org.id])


def test_column_preferences(session):
    from tests.unit.factories import make_staff

    staff = make_staff(session)
    assert listing.get_columns(session, staff_id=staff.id) == listing.DEFAULT_COLUMNS
    assert listing.set_columns(session, staff_id=staff.id, columns=["cost", "started"]) == ["started", "cost"]
    assert listing.get_columns(session, staff_id=staff.id) == ["started", "cost"]
    with pytest.raises(InvalidInput):
        listing.set_columns(session, staff_id=staff.id, columns=[])
    with pytest.raises(InvalidInput):
        listing.set_columns(session, staff_id=staff.id, columns=["password"])


def test_stored_family_column_matches_family_of(session, world):
    from pathlib import Path

    from voxanne_admin.calls import models

    migration = Path(__file__).resolve().parents[2] / "migrations/versions/20261122_0005_call_logs.py"
    namespace: dict = {}
    exec(compile(migration.read_text(), str(migration), "exec"), namespace)  # noqa: S102
    assert namespace["ENDED_FAMILY_SQL"] == models.ENDED_FAMILY_SQL == families.family_case_sql()
    reasons = [None, "customer-ended-call", "call.start.error-x", "twilio-failed-to-connect-call", "twilio-foo",
               "call.in-progress.error-sip-outbound", "call.in-progress.error-other", "pipeline-error-x",
               "assistant-request-returned-nothing", "voicemail", "new-thing"]
    for i, reason in enumerate(reasons):
        session.add(Call(vapi_call_id=f"fam-{i}", ended_reason=reason, status="ended"))
    session.flush()
    got = dict(session.execute(sa.select(Call.ended_reason, Call.ended_family).where(
        Call.vapi_call_id.like("fam-%"))).all())
    assert got == {r: families.family_of(r) for r in reasons}


def test_stats_from_the_rollup_match_the_live_figures(session, world):
    a = world.orgs[0]
    filters = [CallFilter(), CallFilter(org_ids=[a.id], direction="inbound"), CallFilter(status="ended"),
               CallFilter(ended_family="customer-ended", test_only=False),
               CallFilter(date_from=(NOW - timedelta(days=5)).date().isoformat()),
               CallFilter(agent_id=world.agents[2].id)]
    live = [call_stats.stats(session, flt=f) for f in filters]
    assert call_stats.refresh_stats(session, days_back=None) > 0
    for flt, exact in zip(filters, live, strict=True):
        rolled = call_stats.stats(session, flt=flt)
        assert rolled.model_dump(exclude={"p90_duration"}) == exact.model_dump(exclude={"p90_duration"}), flt
        # p90 is read from duration buckets: within one bucket (at most 30 s below 5 minutes) of exact
        to_s = lambda t: sum(int(x) * 60 ** i for i, x in enumerate(reversed(t.split(":"))))  # noqa: E731
        assert abs(to_s(rolled.p90_duration) - to_s(exact.p90_duration)) <= 60, (rolled, exact)
    # a call arriving today is counted live on top of the rollup
    session.add(Call(vapi_call_id="late", org_id=a.id, status="ended", ended_reason="customer-ended-call",
                     started_at=datetime.now(UTC), duration_s=30, direction="inbound", cost=Decimal("1")))
    session.flush()
    assert call_stats.stats(session, flt=CallFilter()).total == live[0].total + 1
    # the incremental refresh keeps the same figures
    call_stats.refresh_stats(session, days_back=2)
    assert call_stats.stats(session, flt=CallFilter()).total == live[0].total + 1


def test_agent_options_in_scope(session, world):
    a = world.orgs[0]
    options = listing.agent_options(session, org_ids=[a.id])
    assert [o.id for o in options] == [ag.id for ag in world.agents if ag.org_id == a.id]
    assert options[0].label == "Alpha Dental: Alpha Dental inbound (inbound)"
    assert len(listing.agent_options(session, org_ids=[])) >= 4


@pytest.mark.parametrize(("few", "budget"), [(1, 1), (10_000, 1), (1, 10_000), (1, 40)])
def test_search_gives_the_same_pages_through_every_plan(session, world, monkeypatch, few, budget):
    # budget 10,000: the newest calls hold every match; budget 1: the GIN probe decides (few 1: common; 10,000: rare)
    monkeypatch.setattr(listing, "FEW_MATCHES", few)
    monkeypatch.setattr(listing, "RECENT_BUDGET", budget)
    for q in ["refill", "appointment -cancel", '"billing question"', "refill invoice"]:
        want = expected(world, lambda c, q=q: _matches(c, q))
        assert all_ids(session, CallFilter(q=q), limit=6) == want, q
        assert listing.count_calls(session, flt=CallFilter(q=q)) == len(want)
    refills = expected(world, lambda c: _matches(c, "refill"))
    assert call_stats.stats(session, flt=CallFilter(q="refill")).total == len(refills)


def _matches(call, q: str) -> bool:
    text = f"{call.summary} {call.transcript}".lower()
    if q == "refill":
        return "refill" in text
    if q == "appointment -cancel":
        return "appointment" in text and "cancel" not in text
    if q == '"billing question"':
        return "billing question" in text
    return "refill" in text and "invoice" in text


def test_search_of_only_excluded_words_is_refused(session, world):
    with pytest.raises(InvalidInput) as err:
        listing.list_calls(session, flt=CallFilter(q="-refill"))
    assert err.value.field == "q"
    # stop words only: nothing to find, answered at once
    assert listing.list_calls(session, flt=CallFilter(q="the and")).rows == []
