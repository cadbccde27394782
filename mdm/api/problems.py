"""Errors as RFC 9457 problem details (``application/problem+json``): one mapping for all.

`problem_response` is the app's only exception handler (middleware that answers before the
handler runs uses it too, through `send_problem`). It turns the hub's errors
(`mdm.errors.MdmError`), Litestar's own HTTP errors (unknown route, wrong method, invalid
parameters, oversized body, rate limit) and unexpected exceptions into one response shape::

    {"type": "urn:mdm-hub:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "golden record 9 does not exist", "code": "not_found",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}

Validation problems add ``errors: [{"field": ..., "message": ...}]`` listing every failing
field. ``code`` is stable (clients branch on it); ``detail`` is for people and may change.

Authentication problems carry ``WWW-Authenticate`` (RFC 6750: ``Bearer`` with
``error="invalid_token"`` or ``error="insufficient_scope"``). The token endpoint's errors are
the one exception in media type: RFC 6749 §5.2 prescribes ``application/json`` with ``error``
and ``error_description``, so those bodies carry both the OAuth2 members and the problem ones.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Receive, Scope, Send
from sqlalchemy.exc import DBAPIError

from mdm.api.tracing import TRACE_HEADER, trace_id_of
from mdm.errors import (
    AuthenticationError,
    BatchTooLargeError,
    ConfigurationError,
    ConflictError,
    InvalidClientError,
    InvalidInputError,
    InvalidTokenError,
    MappingError,
    MdmError,
    NotFoundError,
    NotReadyError,
    OAuthError,
    PermissionDeniedError,
    PreconditionRequiredError,
    VersionMismatchError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:mdm-hub:problem:"
REALM = "mdm-hub"

logger = logging.getLogger(__name__)


# Looked up along the error's class hierarchy, most specific first.
_STATUS_OF_ERROR: dict[type[MdmError], int] = {
    PreconditionRequiredError: 428,
    VersionMismatchError: 412,
    BatchTooLargeError: 413,
    NotReadyError: 503,
    InvalidClientError: 401,
    OAuthError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 422,
    MappingError: 500,
    ConfigurationError: 500,
    MdmError: 400,
}

# Stable codes for Litestar's own HTTP errors, by status.
_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def _status_of(error: MdmError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS_OF_ERROR:
            return _STATUS_OF_ERROR[cls]
    return 400  # pragma: no cover - MdmError itself is in the table


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - only standard statuses are raised
        return "Error"


def _field_errors(extra: Any) -> list[dict[str, str]]:
    """Litestar's validation details as ``{field, message}`` pairs."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "request")
            if field == "data":  # Litestar's name for the whole body
                field = "body"
            errors.append({"field": field, "message": str(item.get("message", "invalid"))})
    return errors


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is printable ASCII without '"' and '\\'.
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


def _challenge(error: MdmError) -> str | None:
    """The ``WWW-Authenticate`` challenge that goes with an authentication problem."""
    if isinstance(error, InvalidClientError):
        return f'Basic realm="{REALM}"'
    if isinstance(error, InvalidTokenError):
        return (
            f'Bearer realm="{REALM}", error="invalid_token", '
            f'error_description="{_quoted(str(error))}"'
        )
    if isinstance(error, AuthenticationError):
        return f'Bearer realm="{REALM}"'
    if isinstance(error, PermissionDeniedError):
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{_quoted(error.scope)}"'
    return None


def problem(
    status: int,
    code: str,
    detail: str,
    trace_id: str,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The body of a problem-details response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": _title(status),
        "status": status,
        "detail": detail,
        "code": code,
        "trace_id": trace_id,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Map any exception to a problem-details response (the app's one exception handler)."""
    trace_id = trace_id_of(request)
    headers = {TRACE_HEADER: trace_id}
    errors: list[dict[str, str]] | None = None
    if isinstance(exc, MdmError):
        status, code, detail = _status_of(exc), exc.code, str(exc)
        if isinstance(exc, InvalidInputError) and status == 422:
            errors = list(exc.errors)
        if (challenge := _challenge(exc)) is not None:
            headers["WWW-Authenticate"] = challenge
        if isinstance(exc, OAuthError):
            body = problem(status, code, detail, trace_id)
            body.update(error=code, error_description=detail)
            headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
            return Response(
                body, status_code=status, media_type="application/json", headers=headers
            )
        if status == 500:
            # Configuration details (paths, URLs) are for the operator's log, not the caller.
            logger.error("%s (trace %s)", detail, trace_id, exc_info=exc)
            detail = "the hub is misconfigured; the log names the problem"
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code = _CODE_OF_STATUS.get(status, "http_error")
        detail = exc.detail or _title(status)
        headers.update(exc.headers or {})
        if isinstance(exc, ValidationException):
            fields = _field_errors(exc.extra)
            if fields:
                # Parameters and bodies that fail their schema: the same shape as a record
                # that fails the canonical model.
                status, code, errors = 422, "invalid_input", fields
        if status >= 500:
            logger.error("HTTP %s (trace %s)", status, trace_id, exc_info=exc)
    elif isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # The database dropped the connection (a restart, a failover): the pool has let go of
        # it and of every connection as old, so sending the request again works.
        logger.warning("database connection lost (trace %s): %s", trace_id, exc.orig)
        status, code = 503, "database_unavailable"
        detail = "the connection to the database was lost; send the request again"
        headers["Retry-After"] = "1"
    else:
        logger.error("unexpected error (trace %s)", trace_id, exc_info=exc)
        status, code, detail = 500, "internal_error", "unexpected error; the log has details"
    return Response(
        content=problem(status, code, detail, trace_id, errors),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def oauth_problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The token endpoint's exception handler: a form it cannot read is ``invalid_request``.

    RFC 6749 §5.2 names that error for a request that repeats a parameter or is otherwise
    malformed, and prescribes its shape (400, ``application/json``, ``error``).
    """
    if isinstance(exc, ValidationException):
        fields = [f"{e['field']}: {e['message']}" for e in _field_errors(exc.extra)]
        exc = OAuthError(
            "invalid_request",
            "the token request is malformed (send each parameter once, as text)"
            + (f": {'; '.join(fields)}" if fields else ""),
        )
    return problem_response(request, exc)


async def send_problem(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer a request with the problem response of an error, from ASGI middleware.

    Middleware that refuses a request (authentication, rate limit) answers through this rather
    than raising, so that the middleware around it (metrics, trace ID) sees the response.
    """
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = problem_response(request, exc)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)
