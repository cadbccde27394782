"""Trace IDs: taken from the caller (W3C ``traceparent`` or ``X-Request-ID``) or generated.

The ID is echoed in the ``X-Request-ID`` response header, stamped on problem responses, and
passed to the services as `ChangeContext.correlation_id`, so the audit entries and outbox
events a request causes carry it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

TRACE_HEADER = "X-Request-ID"
_STATE_KEY = "mdm_trace_id"
# version "-" trace-id "-" parent-id "-" flags; an all-zero trace-id is invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# What we echo must be safe in a header, a log line and the 100-character correlation column.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,100}$")


def trace_id_from_headers(headers: Headers) -> str:
    """The caller's trace ID (``traceparent`` first, then ``X-Request-ID``), else a new one.

    >>> from litestar.datastructures import Headers
    >>> trace_id_from_headers(
    ...     Headers({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    ... )
    '4bf92f3577b34da6a3ce929d0e0e4736'
    >>> trace_id_from_headers(Headers({"x-request-id": "order-42"}))
    'order-42'
    """
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    request_id = headers.get(TRACE_HEADER, "").strip()
    if _REQUEST_ID.match(request_id):
        return request_id
    return uuid.uuid4().hex


def _trace_id_of_scope(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    trace_id = state.get(_STATE_KEY)
    if not isinstance(trace_id, str):
        trace_id = trace_id_from_headers(Headers.from_scope(scope))
        state[_STATE_KEY] = trace_id
    return trace_id


def trace_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The trace ID of a request (derived once, then kept in the request's scope)."""
    return _trace_id_of_scope(connection.scope)


def trace_id_middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware that fixes the request's trace ID and echoes it in the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        trace_id = _trace_id_of_scope(scope)

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[TRACE_HEADER] = trace_id
            await send(message)

        await app(scope, receive, send_with_trace_id)

    return middleware
