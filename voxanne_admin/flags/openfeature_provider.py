"""An OpenFeature provider over the in-process snapshot, so Python code asks flags the ecosystem's standard way:

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    api.set_provider(VoxanneProvider())
    api.get_client().get_boolean_value("lead_scoring", False, EvaluationContext(targeting_key="42"))

The targeting key is the organization's id; an `org` (slug) or `orgId` attribute works too. Our flags are
booleans: asking for another type answers the default with TYPE_MISMATCH.
"""

from __future__ import annotations

from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from voxanne_admin.flags import snapshot


def _org_id(ctx: EvaluationContext | None) -> int | None:
    if ctx is None:
        return None
    attrs = ctx.attributes or {}
    raw = ctx.targeting_key or attrs.get("orgId")
    if raw is not None and str(raw).isdigit():
        return int(str(raw))
    slug = attrs.get("org") or (raw if raw is not None else None)
    if slug:
        found = snapshot.org_by_slug(snapshot.current(), str(slug))
        return found.id if found else None
    return None


class VoxanneProvider(AbstractProvider):
    """Boolean flags from the snapshot, with our reasons as OpenFeature reasons and variants."""

    def get_metadata(self) -> Metadata:
        """The provider's name."""
        return Metadata(name="voxanne-flags")

    def get_provider_hooks(self) -> list:
        """No hooks."""
        return []

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        """Evaluate one flag for the organization in the context."""
        org_id = _org_id(evaluation_context)
        if org_id is None:
            return FlagResolutionDetails(value=default_value, reason=Reason.ERROR,
                                         error_code=ErrorCode.TARGETING_KEY_MISSING,
                                         error_message="Pass the organization id as the targeting key.")
        result = snapshot.explain(flag_key, org_id)
        if result is None:
            snap = snapshot.current()
            missing = f"flag '{flag_key}'" if flag_key not in snap.flags else f"organization {org_id}"
            return FlagResolutionDetails(value=default_value, reason=Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND,
                                         error_message=f"There is no {missing}.")
        enabled, why = result
        if why.startswith("override") or why.startswith("constraint"):
            reason = Reason.TARGETING_MATCH
        elif why.startswith("rollout"):
            reason = Reason.SPLIT
        elif why in ("disabled", "archived"):
            reason = Reason.DISABLED
        else:
            reason = Reason.UNKNOWN
        return FlagResolutionDetails(value=enabled, reason=reason, variant="on" if enabled else "off",
                                     flag_metadata={"why": why})

    def _mismatch(self, default_value: Any) -> FlagResolutionDetails[Any]:
        return FlagResolutionDetails(value=default_value, reason=Reason.ERROR, error_code=ErrorCode.TYPE_MISMATCH,
                                     error_message="Voxanne flags are booleans.")

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        """Not supported: flags are booleans."""
        return self._mismatch(default_value)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        """Not supported: flags are booleans."""
        return self._mismatch(default_value)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        """Not supported: flags are booleans."""
        return self._mismatch(default_value)

    def resolve_object_details(self, flag_key: str, default_value: Any,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[Any]:
        """Not supported: flags are booleans."""
        return self._mismatch(default_value)
