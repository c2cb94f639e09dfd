"""Organizations: validation messages, slugs, lifecycle, audit diffs and who may change them."""

from __future__ import annotations

import pytest

from tests.unit.factories import actor_of, audit_events, make_staff
from voxanne_admin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from voxanne_admin.orgs import service as org_service


@pytest.fixture
def admin(session):
    return make_staff(session, role="admin")


def _create(session, admin, **overrides):
    fields = {"name": "Harbor Dental Care", "slug": "harbor-dental", "country": "US",
              "timezone": "America/New_York"}
    fields.update(overrides)
    return org_service.create(session, **fields, actor=actor_of(admin), actor_role=admin.role)


def test_org_created_with_clean_values_and_audited(session, admin):
    org = _create(session, admin, name="  Harbor   Dental Care ", slug="", country=" gb ",
                  timezone="Europe/London")
    assert (org.name, org.slug, org.country, org.timezone, org.status) == (
        "Harbor Dental Care", "harbor-dental-care", "GB", "Europe/London", "active")
    (event,) = audit_events(session, "organization_created")
    assert event.org_id == org.id and event.target_id == str(org.id)
    assert event.actor_email == admin.email
    assert event.diff == {
        "country": {"before": None, "after": "GB"},
        "name": {"before": None, "after": "Harbor Dental Care"},
        "slug": {"before": None, "after": "harbor-dental-care"},
        "timezone": {"before": None, "after": "Europe/London"},
    }
    assert org_service.get_by_slug(session, slug="Harbor-Dental-Care").id == org.id


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Enter the organization's name."),
        ({"name": "   "}, "name", "Enter the organization's name."),
        ({"name": "x" * 121}, "name", "Use at most 120 characters for the name."),
        ({"slug": "-harbor"}, "slug", "lowercase letters, digits and dashes"),
        ({"slug": "harbor_dental"}, "slug", "lowercase letters, digits and dashes"),
        ({"slug": "h" * 64}, "slug", "lowercase letters, digits and dashes"),
        ({"country": "FR"}, "country", "Choose a supported country: US, GB, NG, TR."),
        ({"country": ""}, "country", "Choose a supported country"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a valid time zone, like Europe/London."),
        ({"timezone": ""}, "timezone", "Choose a valid time zone"),
    ],
)
def test_org_create_refused_with_field_message_when_invalid(session, admin, overrides, field, message):
    with pytest.raises(InvalidInput) as exc:
        _create(session, admin, **overrides)
    assert exc.value.field == field
    assert message in str(exc.value)
    assert org_service.list_organizations(session) == []
    assert audit_events(session, "organization_created") == []


def test_org_name_of_120_characters_accepted(session, admin):
    assert len(_create(session, admin, name="x" * 120).name) == 120


def test_org_create_refused_when_slug_taken(session, admin):
    _create(session, admin)
    with pytest.raises(Conflict, match="The slug 'harbor-dental' is taken"):
        _create(session, admin, name="Other Clinic", slug="Harbor-Dental")
    assert len(org_service.list_organizations(session)) == 1
    assert len(audit_events(session, "organization_created")) == 1


@pytest.mark.parametrize("role", ["viewer", "operator", None])
def test_org_changes_refused_below_admin(session, admin, role):
    org = _create(session, admin)
    actor = actor_of(make_staff(session, role=role or "viewer"))
    with pytest.raises(PermissionDenied, match="needs the admin role"):
        org_service.create(session, name="New", slug="new", country="US", timezone="America/New_York",
                           actor=actor, actor_role=role)
    with pytest.raises(PermissionDenied):
        org_service.update(session, org_id=org.id, name="Renamed", slug="harbor-dental", country="US",
                           timezone="America/New_York", actor=actor, actor_role=role)
    with pytest.raises(PermissionDenied):
        org_service.close(session, org_id=org.id, actor=actor, actor_role=role)
    assert [o.name for o in org_service.list_organizations(session)] == ["Harbor Dental Care"]
    assert org.status == "active"


def test_org_updated_with_diff_of_changed_fields_only(session, admin):
    org = _create(session, admin)
    org_service.update(session, org_id=org.id, name="Harbor Dental", slug="harbor-dental", country="US",
                       timezone="America/Chicago", actor=actor_of(admin), actor_role="admin")
    assert (org.name, org.timezone) == ("Harbor Dental", "America/Chicago")
    (event,) = audit_events(session, "organization_updated")
    assert event.diff == {
        "name": {"before": "Harbor Dental Care", "after": "Harbor Dental"},
        "timezone": {"before": "America/New_York", "after": "America/Chicago"},
    }


def test_org_update_writes_nothing_when_unchanged(session, admin):
    org = _create(session, admin)
    org_service.update(session, org_id=org.id, name="Harbor Dental Care", slug="harbor-dental", country="us",
                       timezone="America/New_York", actor=actor_of(admin), actor_role="admin")
    assert audit_events(session, "organization_updated") == []


def test_org_update_refused_when_slug_belongs_to_another(session, admin):
    _create(session, admin)
    other = _create(session, admin, name="Camden Physio", slug="camden-physio", country="GB",
                    timezone="Europe/London")
    with pytest.raises(Conflict, match="taken by another organization"):
        org_service.update(session, org_id=other.id, name="Camden Physio", slug="harbor-dental", country="GB",
                           timezone="Europe/London", actor=actor_of(admin), actor_role="admin")
    assert other.slug == "camden-physio"


def test_org_update_refused_when_invalid(session, admin):
    org = _create(session, admin)
    with pytest.raises(InvalidInput, match="supported country"):
        org_service.update(session, org_id=org.id, name="Harbor", slug="harbor-dental", country="FR",
                           timezone="Europe/Paris", actor=actor_of(admin), actor_role="admin")
    assert org.country == "US"


def test_org_update_refused_when_missing(session, admin):
    with pytest.raises(NotFound, match="does not exist"):
        org_service.update(session, org_id=987654, name="Ghost", slug="ghost", country="US",
                           timezone="America/New_York", actor=actor_of(admin), actor_role="admin")


def test_org_closed_then_reopened_with_audit(session, admin):
    org = _create(session, admin)

    org_service.close(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")
    assert org.status == "closed" and org.closed_at is not None
    assert org_service.to_read(org).closed_at != ""
    assert org_service.list_organizations(session, include_closed=False) == []
    assert org_service.count(session) == {"closed": 1}

    org_service.reopen(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")
    assert org.status == "active" and org.closed_at is None

    closed, = audit_events(session, "organization_closed")
    reopened, = audit_events(session, "organization_reopened")
    assert closed.diff == {"status": {"before": "active", "after": "closed"}}
    assert reopened.diff == {"status": {"before": "closed", "after": "active"}}
    assert closed.org_id == reopened.org_id == org.id


def test_org_close_refused_when_already_closed(session, admin):
    org = _create(session, admin)
    org_service.close(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")
    with pytest.raises(Conflict, match="already closed"):
        org_service.close(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")
    assert len(audit_events(session, "organization_closed")) == 1


def test_org_reopen_refused_when_not_closed(session, admin):
    org = _create(session, admin)
    with pytest.raises(Conflict, match="not closed"):
        org_service.reopen(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")


def test_org_edit_refused_when_closed(session, admin):
    org = _create(session, admin)
    org_service.close(session, org_id=org.id, actor=actor_of(admin), actor_role="admin")
    with pytest.raises(Conflict, match="Closed organizations cannot be edited"):
        org_service.update(session, org_id=org.id, name="Renamed", slug="harbor-dental", country="US",
                           timezone="America/New_York", actor=actor_of(admin), actor_role="admin")
    assert org.name == "Harbor Dental Care"


def test_demo_seed_creates_orgs_once(session):
    from voxanne_admin.audit.service import Actor

    assert org_service.seed_demo(session, actor=Actor.system("seed-demo")) == 4
    assert org_service.seed_demo(session, actor=Actor.system("seed-demo")) == 0
    assert {o.country for o in org_service.list_organizations(session)} == {"US", "GB", "NG", "TR"}
    assert len(audit_events(session, "organization_created")) == 4


@pytest.mark.parametrize(("name", "slug"), [("Harbor Dental Care!", "harbor-dental-care"), ("  --A&B--  ", "a-b")])
def test_slug_suggested_from_name(name, slug):
    assert org_service.slugify(name) == slug
