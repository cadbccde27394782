"""Values the views declare as dependencies: who acts, on which trace, at which version.

The actor of every change a request causes is the client ID of its bearer token, so the audit
log names the system or person behind each change.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Request
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter

from mdm.api.auth import Caller, caller_of
from mdm.api.tracing import trace_id_of
from mdm.errors import PreconditionRequiredError
from mdm.outbox.service import ChangeContext

# A strong or weak entity tag holding a version number: "3" or W/"3".
_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The authenticated client of the request."""
    return caller_of(request)


def provide_change_context(request: Request[Any, Any, Any]) -> ChangeContext:
    """The change context of a request: actor (client ID), cause (method, route), trace ID."""
    route = request.scope.get("path_template") or request.url.path
    return ChangeContext(
        actor=caller_of(request).client_id,
        cause=f"api {request.method} {route}"[:100],
        correlation_id=trace_id_of(request),
    )


def parse_if_match(value: str | None) -> list[int]:
    """The versions named by an ``If-Match`` header, in order.

    >>> parse_if_match('"3"')
    [3]
    >>> parse_if_match('"3", W/"5"')
    [3, 5]
    """
    if value is None or not value.strip():
        raise PreconditionRequiredError(
            'this change needs an If-Match header with the version you saw, e.g. If-Match: "3"',
            [{"field": "If-Match", "message": "required"}],
        )
    versions = []
    for tag in value.split(","):
        match = _ETAG.match(tag.strip())
        if match is None:
            raise PreconditionRequiredError(
                f"If-Match must list quoted version numbers, got {value!r}",
                [{"field": "If-Match", "message": 'expected "<version>"'}],
            )
        versions.append(int(match.group(1)))
    return versions


IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description='the version you saw, as its ETag: "3" (required for changes)',
        required=False,
        examples=[Example(summary="version 1", value='"1"')],
    ),
]


def provide_expected_version(if_match: IfMatch = None) -> int:
    """The one version a change's ``If-Match`` names (428 when missing)."""
    versions = parse_if_match(if_match)
    if len(versions) != 1:
        raise PreconditionRequiredError(
            "If-Match must name exactly one version for this change",
            [{"field": "If-Match", "message": "expected one version"}],
        )
    return versions[0]


def provide_expected_versions(if_match: IfMatch = None) -> list[int]:
    """Every version an ``If-Match`` names, in order (for changes of several resources)."""
    return parse_if_match(if_match)


def etag(version: int) -> dict[str, str]:
    """The ``ETag`` header of a resource at a version."""
    return {"ETag": f'"{version}"'}
