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


class ProviderError(DomainError):
    """A provider (Vapi, Twilio) failed; carries its code and an actionable message.

    A DomainError, so every edge maps it the same way: the UI toasts its message, the API answers 502 (the
    provider refused) or 503 (the provider could not be reached or had a server error), the CLI exits 3.
    `status` is the provider's own HTTP status (None when it never answered)."""

    status_code = 502

    def __init__(self, provider: str, message: str, code: str | int | None = None, status: int | None = None):
        super().__init__(message)
        self.provider = provider
        self.code = code
        self.status = status
        if status is None or status >= 500 or status == 429:
            self.status_code = 503


# Exit codes of the command line (voxanne_admin.cli): a domain rule 1, bad settings 2, a provider 3.
EXIT_DOMAIN, EXIT_SETTINGS, EXIT_PROVIDER = 1, 2, 3


def exit_code(exc: DomainError) -> int:
    """The CLI exit code for a domain error."""
    return EXIT_PROVIDER if isinstance(exc, ProviderError) else EXIT_DOMAIN
