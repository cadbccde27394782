"""The hub's error root and its few well-named subclasses.

Services raise these; only the API layer turns them into HTTP responses (one mapping function
there), and the CLI into messages and exit codes.
"""

from __future__ import annotations


class MdmError(Exception):
    """Root of every error the hub raises on purpose."""

    code = "mdm_error"


class ConfigurationError(MdmError):
    """The hub is configured wrongly (settings, database URL)."""

    code = "configuration_error"


class MappingError(MdmError):
    """A mapping file is invalid; the message names the file and the field."""

    code = "invalid_mapping"


class NotFoundError(MdmError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class ConflictError(MdmError):
    """The change collides with another one (a stale version, a duplicate)."""

    code = "conflict"


class InvalidInputError(MdmError):
    """The input is invalid; ``errors`` lists every failing field."""

    code = "invalid_input"

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class PreconditionRequiredError(InvalidInputError):
    """A change that needs ``If-Match`` came without it (HTTP 428)."""

    code = "precondition_required"


class VersionMismatchError(ConflictError):
    """``If-Match`` names a version other than the current one (HTTP 412)."""

    code = "precondition_failed"


class BatchTooLargeError(InvalidInputError):
    """A batch holds more records than the hub accepts in one request (HTTP 413)."""

    code = "batch_too_large"


class NotReadyError(MdmError):
    """The hub cannot serve yet: database unreachable or not migrated (HTTP 503)."""

    code = "not_ready"
