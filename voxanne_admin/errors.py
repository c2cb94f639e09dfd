"""The small error hierarchy every edge maps once (toast, HTTP status, exit code)."""


class DomainError(Exception):
    """A rule of the domain was not met; the message is shown to a person."""

    status_code = 400


class NotFound(DomainError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    status_code = 404


class Conflict(DomainError):
    """The change clashes with existing data (duplicate, stale version)."""

    status_code = 409


class InvalidInput(DomainError):
    """Input failed validation; `field` names the form field when there is one."""

    status_code = 422

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class PermissionDenied(DomainError):
    """The caller is signed in but lacks the role, or is not signed in."""

    status_code = 403


class RateLimited(DomainError):
    """Too many attempts; `retry_after_s` says when to try again."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderError(Exception):
    """A provider (Vapi, Twilio) failed; carries its code and an actionable message."""

    def __init__(self, provider: str, message: str, code: str | int | None = None, status: int | None = None):
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.status = status
