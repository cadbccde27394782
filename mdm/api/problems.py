"""Errors as RFC 9457 problem details (``application/problem+json``): one mapping for all.

`problem_response` is the app's only exception handler. It turns the hub's errors
(`mdm.errors.MdmError` and the few API-level subclasses below), Litestar's own HTTP errors
(unknown route, wrong method, invalid parameters, oversized body) and unexpected exceptions
into one response shape::

    {"type": "urn:mdm-hub:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "golden record 9 does not exist", "code": "not_found",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}

Validation problems add ``errors: [{"field": ..., "message": ...}]`` listing every failing
field. ``code`` is stable (clients branch on it); ``detail`` is for people and may change.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from mdm.api.tracing import TRACE_HEADER, trace_id_of
from mdm.errors import (
    BatchTooLargeError,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    MappingError,
    MdmError,
    NotFoundError,
    NotReadyError,
    PreconditionRequiredError,
    VersionMismatchError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:mdm-hub:problem:"

logger = logging.getLogger(__name__)


# Looked up along the error's class hierarchy, most specific first.
_STATUS_OF_ERROR: dict[type[MdmError], int] = {
    PreconditionRequiredError: 428,
    VersionMismatchError: 412,
    BatchTooLargeError: 413,
    NotReadyError: 503,
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
    else:
        logger.error("unexpected error (trace %s)", trace_id, exc_info=exc)
        status, code, detail = 500, "internal_error", "unexpected error; the log has details"
    return Response(
        content=problem(status, code, detail, trace_id, errors),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )
