"""Organizations: create, edit, close; slugs are stable URL names."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import available_timezones

import sqlalchemy as sa
from sqlmodel import Session, select

from voxanne_admin import formatting as fmt
from voxanne_admin.audit import service as audit
from voxanne_admin.audit.service import Actor
from voxanne_admin.auth.roles import require_role
from voxanne_admin.errors import Conflict, InvalidInput, NotFound
from voxanne_admin.orgs.models import COUNTRIES, Organization, OrganizationRead
from voxanne_admin.timeutil import utcnow

PURGE_AFTER_DAYS = 30
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EDITABLE = ("name", "slug", "country", "timezone")


def slugify(name: str) -> str:
    """A URL-safe slug suggestion from a name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:63].strip("-")


def to_read(org: Organization) -> OrganizationRead:
    """Plain read model for the UI."""
    purge = org.closed_at + timedelta(days=PURGE_AFTER_DAYS) if org.closed_at else None
    return OrganizationRead(
        id=org.id or 0, name=org.name, slug=org.slug, country=org.country, timezone=org.timezone,
        status=org.status,
        closed_at=f"{fmt.day(org.closed_at)}; data purged after {fmt.day(purge)}" if org.closed_at else "",
        created_at=fmt.day(org.created_at),
    )


def _validate(name: str, slug: str, country: str, timezone: str) -> tuple[str, str, str, str]:
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Enter the organization's name.", field="name")
    if len(name) > 120:
        raise InvalidInput("Use at most 120 characters for the name.", field="name")
    slug = (slug or "").strip().lower() or slugify(name)
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            "Use 1-63 lowercase letters, digits and dashes for the slug (not starting or ending with a dash).",
            field="slug",
        )
    country = (country or "").strip().upper()
    if country not in COUNTRIES:
        raise InvalidInput(f"Choose a supported country: {', '.join(COUNTRIES)}.", field="country")
    timezone = (timezone or "").strip()
    if timezone not in available_timezones():
        raise InvalidInput("Choose a valid time zone, like Europe/London.", field="timezone")
    return name, slug, country, timezone


def get(session: Session, *, org_id: int) -> Organization:
    """The organization or NotFound."""
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound("That organization does not exist.")
    return org


def get_by_slug(session: Session, *, slug: str) -> Organization | None:
    """The organization with that slug, if any."""
    return session.exec(select(Organization).where(Organization.slug == slug.strip().lower())).first()


def list_organizations(session: Session, *, include_closed: bool = True) -> list[OrganizationRead]:
    """Organizations by name; active ones first."""
    query = select(Organization)
    if not include_closed:
        query = query.where(Organization.status == "active")
    rows = session.exec(query.order_by(Organization.status, Organization.name)).all()
    return [to_read(o) for o in rows]


def count(session: Session) -> dict[str, int]:
    """Organization counts by status."""
    rows = session.exec(select(Organization.status, sa.func.count()).group_by(Organization.status)).all()
    return {status: n for status, n in rows}


def create(
    session: Session, *, name: str, slug: str, country: str, timezone: str, actor: Actor, actor_role: str | None
) -> Organization:
    """Create an organization (admin and up)."""
    require_role(actor_role, "admin")
    name, slug, country, timezone = _validate(name, slug, country, timezone)
    if get_by_slug(session, slug=slug) is not None:
        raise Conflict(f"The slug '{slug}' is taken by another organization. Choose another.")
    org = Organization(name=name, slug=slug, country=country, timezone=timezone)
    session.add(org)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(f"The slug '{slug}' is taken by another organization. Choose another.") from None
    audit.record(session, actor=actor, action="organization_created", target_type="organization",
                 target_id=org.id, org_id=org.id,
                 diff=audit.make_diff(None, {"name": name, "slug": slug, "country": country, "timezone": timezone}))
    return org


def update(
    session: Session, *, org_id: int, name: str, slug: str, country: str, timezone: str, actor: Actor,
    actor_role: str | None,
) -> Organization:
    """Edit an organization's details (admin and up); audited with a diff."""
    require_role(actor_role, "admin")
    org = get(session, org_id=org_id)
    if org.status == "closed":
        raise Conflict("This organization is closed. Closed organizations cannot be edited.")
    name, slug, country, timezone = _validate(name, slug, country, timezone)
    other = get_by_slug(session, slug=slug)
    if other is not None and other.id != org.id:
        raise Conflict(f"The slug '{slug}' is taken by another organization. Choose another.")
    before = {k: getattr(org, k) for k in EDITABLE}
    after = {"name": name, "slug": slug, "country": country, "timezone": timezone}
    if before == after:
        return org
    for key, value in after.items():
        setattr(org, key, value)
    org.updated_at = utcnow()
    session.add(org)
    audit.record(session, actor=actor, action="organization_updated", target_type="organization",
                 target_id=org.id, org_id=org.id, diff=audit.make_diff(before, after))
    return org


def close(session: Session, *, org_id: int, actor: Actor, actor_role: str | None) -> Organization:
    """Close an organization: its data is purged 30 days after closed_at by the retention job."""
    require_role(actor_role, "admin")
    org = get(session, org_id=org_id)
    if org.status == "closed":
        raise Conflict("This organization is already closed.")
    org.status = "closed"
    org.closed_at = utcnow()
    org.updated_at = org.closed_at
    session.add(org)
    audit.record(session, actor=actor, action="organization_closed", target_type="organization",
                 target_id=org.id, org_id=org.id, diff=audit.make_diff({"status": "active"}, {"status": "closed"}))
    return org


def reopen(session: Session, *, org_id: int, actor: Actor, actor_role: str | None) -> Organization:
    """Reopen a closed organization before its data is purged."""
    require_role(actor_role, "admin")
    org = get(session, org_id=org_id)
    if org.status != "closed":
        raise Conflict("This organization is not closed.")
    org.status = "active"
    org.closed_at = None
    org.updated_at = utcnow()
    session.add(org)
    audit.record(session, actor=actor, action="organization_reopened", target_type="organization",
                 target_id=org.id, org_id=org.id, diff=audit.make_diff({"status": "closed"}, {"status": "active"}))
    return org


DEMO_ORGS = [
    ("Harbor Dental Care", "harbor-dental", "US", "America/New_York"),
    ("Camden Physio Clinic", "camden-physio", "GB", "Europe/London"),
    ("Lekki Family Clinic", "lekki-family", "NG", "Africa/Lagos"),
    ("Moda Göz Kliniği", "moda-goz", "TR", "Europe/Istanbul"),
]


def seed_demo(session: Session, *, actor: Actor) -> int:
    """Insert the demo organizations when there are none; returns how many were created."""
    if session.exec(select(Organization.id).limit(1)).first() is not None:
        return 0
    for name, slug, country, tz in DEMO_ORGS:
        create(session, name=name, slug=slug, country=country, timezone=tz, actor=actor, actor_role="founder")
    return len(DEMO_ORGS)
