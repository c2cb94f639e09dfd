"""Feature flag rules on the real database: seed, version checks, protection and change requests, kill switch,
schedules, stale flags, audit diffs."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.unit.factories import actor_of, audit_events, make_staff
from voxanne_admin import db
from voxanne_admin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voxanne_admin.flags import flows, schedules, snapshot
from voxanne_admin.flags import requests as change_requests
from voxanne_admin.flags import service as flag_service
from voxanne_admin.flags.models import FeatureFlag
from voxanne_admin.orgs import service as org_service
from voxanne_admin.timeutil import utcnow

SEEDED = {
    "advanced_analytics": (False, 0), "outbound_calling": (True, 100), "sms_campaigns": (False, 0),
    "ai_voice_cloning": (False, 0), "multi_language": (False, 0), "appointment_reminders": (True, 100),
    "call_recording": (True, 100), "knowledge_base": (True, 100), "calendar_integration": (True, 100),
    "lead_scoring": (False, 50),
}


def test_fresh_install_has_the_ten_seeded_flags(session):
    flags = flag_service.list_flags(session)
    assert {f.key: (f.enabled, f.rollout) for f in flags} == SEEDED
    assert next(f for f in flags if f.key == "outbound_calling").type == "kill_switch"


def test_change_is_audited_with_a_before_after_diff(session):
    operator = make_staff(session, role="operator")
    flag_service.update(session, key="lead_scoring", changes={"enabled": True, "rollout": 10},
                        actor=actor_of(operator), actor_role="operator")
    event = audit_events(session, "feature_flag_updated")[-1]
    assert event.target_id == "lead_scoring" and event.actor_email == operator.email
    assert event.diff["enabled"] == {"before": False, "after": True}
    assert event.diff["rollout"] == {"before": 50, "after": 10}
    timeline = flag_service.history(session, key="lead_scoring")
    assert timeline[0].action == "feature_flag_updated"


@pytest.mark.parametrize(("changes", "message"), [
    ({"rollout": 150}, "between 0 and 100"),
    ({"rollout": -1}, "between 0 and 100"),
    ({"rollout": "half"}, "whole number"),
    ({"colour": "red"}, "cannot be changed"),
])
def test_bad_changes_are_refused_with_the_reason(session, changes, message):
    with pytest.raises(InvalidInput, match=message):
        flag_service.update(session, key="lead_scoring", changes=changes, actor=actor_of(), actor_role="admin")


def test_unknown_key_and_bad_new_keys_are_refused(session):
    with pytest.raises(NotFound, match="no_such_flag"):
        flag_service.update(session, key="no_such_flag", changes={"enabled": True}, actor=actor_of(),
                            actor_role="admin")
    with pytest.raises(Conflict, match="exists already"):
        flag_service.create(session, key="lead_scoring", name="Again", type="release", actor=actor_of(),
                            actor_role="admin")
    with pytest.raises(InvalidInput, match="lower_snake_case"):
        flag_service.create(session, key="Lead-Scoring", name="Bad", type="release", actor=actor_of(),
                            actor_role="admin")
    with pytest.raises(PermissionDenied):
        flag_service.create(session, key="new_flag", name="New", type="release", actor=actor_of(),
                            actor_role="operator")


def test_stale_version_is_told_it_changed_underneath(session):
    flag = flag_service.get_by_key(session, key="lead_scoring")
    read_version = flag.version
    flag_service.update(session, key="lead_scoring", changes={"rollout": 20}, actor=actor_of(), actor_role="admin",
                        expected_version=read_version)
    with pytest.raises(Conflict, match="changed by someone else"):
        flag_service.update(session, key="lead_scoring", changes={"rollout": 30}, actor=actor_of(),
                            actor_role="admin", expected_version=read_version)
    assert flag_service.get_by_key(session, key="lead_scoring").rollout == 20


def test_two_staff_saving_at_once_one_is_refused_nothing_half_applied(clean_db):
    with db.read_only() as session:
        version = flag_service.get_by_key(session, key="lead_scoring").version
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(pct: int) -> None:
        barrier.wait()
        try:
            flows.update(key="lead_scoring", changes={"rollout": pct, "enabled": True}, actor=actor_of(),
                         actor_role="admin", expected_version=version)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(pct,)) for pct in (30, 70)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    with db.read_only() as session:
        flag = flag_service.get_by_key(session, key="lead_scoring")
        assert flag.version == version + 1 and flag.rollout in (30, 70) and flag.enabled
        assert len(audit_events(session, "feature_flag_updated")) == 1


def _protect(session, key: str) -> None:
    session.execute(sa.update(FeatureFlag).where(FeatureFlag.key == key).values(protected=True))


def test_protected_flag_needs_a_second_admin(session):
    _protect(session, "lead_scoring")
    alice, bob = make_staff(session, role="admin"), make_staff(session, role="admin")
    with pytest.raises(PermissionDenied, match="protected"):
        flag_service.update(session, key="lead_scoring", changes={"enabled": True}, actor=actor_of(alice),
                            actor_role="admin")
    request = change_requests.create(session, key="lead_scoring", changes={"enabled": True, "rollout": 10},
                                     staff_id=alice.id, actor=actor_of(alice), actor_role="admin")
    assert request.state == "in_review"
    with pytest.raises(PermissionDenied, match="cannot approve your own"):
        change_requests.approve(session, request_id=request.id, staff_id=alice.id, actor=actor_of(alice),
                                actor_role="admin")
    with pytest.raises(Conflict, match="Only an approved request"):
        change_requests.apply(session, request_id=request.id, staff_id=alice.id, actor=actor_of(alice),
                              actor_role="admin")
    change_requests.approve(session, request_id=request.id, staff_id=bob.id, actor=actor_of(bob), actor_role="admin")
    change_requests.apply(session, request_id=request.id, staff_id=alice.id, actor=actor_of(alice),
                          actor_role="admin")
    flag = flag_service.get_by_key(session, key="lead_scoring")
    assert (flag.enabled, flag.rollout) == (True, 10)
    states = [e.diff["state"]["after"] for e in audit_events(session, "feature_flag_request_applied")]
    assert states == ["applied"]


def test_editing_an_approved_request_sends_it_back_to_review(session):
    _protect(session, "lead_scoring")
    alice, bob = make_staff(session, role="admin"), make_staff(session, role="admin")
    request = change_requests.create(session, key="lead_scoring", changes={"rollout": 10}, staff_id=alice.id,
                                     actor=actor_of(alice), actor_role="admin")
    change_requests.approve(session, request_id=request.id, staff_id=bob.id, actor=actor_of(bob), actor_role="admin")
    edited = change_requests.edit(session, request_id=request.id, changes={"rollout": 90}, staff_id=alice.id,
                                  actor=actor_of(alice))
    assert edited.state == "in_review" and edited.approved_by_id is None
    with pytest.raises(Conflict):
        change_requests.apply(session, request_id=request.id, staff_id=alice.id, actor=actor_of(alice),
                              actor_role="admin")


def test_kill_switch_turns_off_without_approval_after_typing_the_key(session):
    _protect(session, "outbound_calling")
    operator = make_staff(session, role="operator")
    with pytest.raises(InvalidInput, match="Type the flag key"):
        flag_service.kill(session, key="outbound_calling", confirm_key="outbound", actor=actor_of(operator),
                          actor_role="operator")
    with pytest.raises(InvalidInput, match="not a kill switch"):
        flag_service.kill(session, key="lead_scoring", confirm_key="lead_scoring", actor=actor_of(operator),
                          actor_role="operator")
    flag_service.kill(session, key="outbound_calling", confirm_key="outbound_calling", actor=actor_of(operator),
                      actor_role="operator")
    assert flag_service.get_by_key(session, key="outbound_calling").enabled is False
    assert audit_events(session, "feature_flag_killed")[-1].actor_email == operator.email


def test_scheduled_ramp_applies_once_as_its_author_and_can_be_cancelled(session):
    operator = make_staff(session, role="operator")
    now = utcnow()
    with pytest.raises(InvalidInput, match="in the past"):
        schedules.schedule(session, key="lead_scoring", action="enable", run_at=now - timedelta(minutes=1),
                           actor=actor_of(operator), actor_role="operator")
    steps = schedules.schedule_ramp(session, key="lead_scoring", steps=[
        (now + timedelta(hours=1), 10), (now + timedelta(days=1), 50), (now + timedelta(days=2), 100)],
        actor=actor_of(operator), actor_role="operator")
    schedules.schedule(session, key="lead_scoring", action="enable", run_at=now + timedelta(minutes=30),
                       actor=actor_of(operator), actor_role="operator")
    schedules.cancel(session, schedule_id=steps[2].id, actor=actor_of(operator), actor_role="operator")
    later = now + timedelta(days=1, minutes=1)
    assert schedules.apply_due(session, now=later).startswith("3 scheduled flag changes applied")
    assert schedules.apply_due(session, now=later).startswith("0 scheduled")
    flag = flag_service.get_by_key(session, key="lead_scoring")
    assert (flag.enabled, flag.rollout) == (True, 50)
    applied = [e for e in audit_events(session, "feature_flag_updated") if "schedule_id" in (e.diff or {})]
    assert len(applied) == 3 and {e.actor_email for e in applied} == {operator.email}
    with pytest.raises(Conflict, match="already applied"):
        schedules.cancel(session, schedule_id=steps[0].id, actor=actor_of(operator), actor_role="operator")
    assert [s.status for s in schedules.list_schedules(session, key="lead_scoring")] == [
        "applied", "applied", "applied", "cancelled"]


def test_stale_by_type_lifetime_and_by_not_being_evaluated(session):
    now = utcnow()
    session.execute(sa.update(FeatureFlag).where(FeatureFlag.key == "lead_scoring")
                    .values(created_at=now - timedelta(days=41), last_evaluated_at=now))
    session.execute(sa.update(FeatureFlag).where(FeatureFlag.key == "outbound_calling")
                    .values(created_at=now - timedelta(days=400), last_evaluated_at=now))
    session.execute(sa.update(FeatureFlag).where(FeatureFlag.key == "call_recording")
                    .values(created_at=now - timedelta(days=30), last_evaluated_at=now - timedelta(days=8)))
    stale = {f.key: f.stale_reason for f in flag_service.list_flags(session, stale=True)}
    assert "40 days" in stale["lead_scoring"]
    assert "outbound_calling" not in stale  # kill switches never age out
    assert stale["call_recording"] == "not evaluated in 7 days"
    flag_service.archive(session, key="lead_scoring", archived=True, actor=actor_of(), actor_role="admin")
    assert flag_service.history(session, key="lead_scoring")[0].action == "feature_flag_archived"


def test_override_forces_one_organization_and_counts_evaluations(clean_db):
    with db.transaction() as session:
        org_service.seed_demo(session, actor=actor_of())
    with db.read_only() as session:
        orgs = org_service.list_organizations(session)
    target = orgs[0]
    flows.set_override(key="sms_campaigns", org_slug=target.slug, value="on", reason="pilot clinic",
                       actor=actor_of(), actor_role="operator")
    assert flows.evaluate_one("sms_campaigns", target.slug) == (True, "override on: pilot clinic")
    assert all(not flows.evaluate_one("sms_campaigns", o.slug)[0] for o in orgs[1:])
    assert snapshot.flush_counts() >= len(orgs)
    with db.read_only() as session:
        read = next(f for f in flag_service.list_flags(session) if f.key == "sms_campaigns")
    assert read.overrides == 1 and read.evaluation_count >= len(orgs) and read.last_evaluated != "never"
    with pytest.raises(NotFound, match="nowhere-clinic"):
        flows.evaluate_one("sms_campaigns", "nowhere-clinic")
