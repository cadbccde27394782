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


class AuthenticationError(MdmError):
    """The caller has not proved who it is: no credentials came with the request (HTTP 401)."""

    code = "unauthorized"


class InvalidTokenError(AuthenticationError):
    """A bearer token that is malformed, forged, expired, for another audience or revoked (401)."""

    code = "invalid_token"


class PermissionDeniedError(MdmError):
    """The caller is known, but its scopes do not cover the request (HTTP 403)."""

    code = "insufficient_scope"

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


class OAuthError(MdmError):
    """A token request refused by the rules of OAuth2 (RFC 6749 §5.2, HTTP 400).

    ``code`` is the RFC's error code: ``invalid_request``, ``invalid_scope`` or
    ``unsupported_grant_type``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidClientError(OAuthError):
    """Client authentication failed: an unknown or revoked client, or a wrong secret (HTTP 401)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_client", message)
