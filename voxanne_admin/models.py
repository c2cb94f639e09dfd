"""Imports every table module so SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from voxanne_admin.agents import models as agent_models
from voxanne_admin.appointments import models as appointment_models
from voxanne_admin.audit import models as audit_models
from voxanne_admin.audit import page_schema as audit_page_schema
from voxanne_admin.auth import models as auth_models
from voxanne_admin.calls import models as call_models
from voxanne_admin.calls import spend_models
from voxanne_admin.credentials import models as credential_models
from voxanne_admin.dr import models as dr_models
from voxanne_admin.flags import models as flag_models
from voxanne_admin.jobs import models as job_models
from voxanne_admin.messaging import models as messaging_models
from voxanne_admin.orgs import models as org_models
from voxanne_admin.sandbox import models as sandbox_models
from voxanne_admin.telephony import models as telephony_models
from voxanne_admin.webhooks import models as webhook_models

metadata = SQLModel.metadata

__all__ = [
    "agent_models", "appointment_models", "audit_models", "audit_page_schema", "auth_models",
    "call_models", "credential_models", "dr_models", "flag_models", "spend_models",
    "job_models",
    "messaging_models", "metadata", "org_models", "sandbox_models", "telephony_models", "webhook_models",
]
