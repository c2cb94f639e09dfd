"""Imports every table module so SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from voxanne_admin.audit import models as audit_models
from voxanne_admin.auth import models as auth_models
from voxanne_admin.jobs import models as job_models
from voxanne_admin.orgs import models as org_models

metadata = SQLModel.metadata

__all__ = ["audit_models", "auth_models", "job_models", "metadata", "org_models"]
