"""The scopes of API clients: what each one names, which covers which, who may hold which.

Scopes are plain strings, as OAuth2 carries them:

- ``source:<code>:write`` sends records of one source system; ``source:*:write`` of any;
- ``golden:read`` reads golden records and the cross-reference;
- ``feed:read`` reads the change feed;
- ``steward`` works the review queue and changes golden records (override, merge, unmerge);
- ``admin`` covers every scope, including endpoints that name none.

Nothing else implies anything: a steward that also reads golden records holds both scopes.
A partner client (bound to a source system) may hold only ``golden:read`` and the write scope
of its own source, so that no scope can show it data outside its segment.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from mdm.errors import InvalidInputError

ADMIN = "admin"
STEWARD = "steward"
GOLDEN_READ = "golden:read"
FEED_READ = "feed:read"
ANY_SOURCE_WRITE = "source:*:write"
# Source codes follow the mapping files' rule (mdm.mapping.models.SourceInfo.code).
_SOURCE_WRITE = re.compile(r"^source:([a-z][a-z0-9_]{1,39}|\*):write$")
_PLAIN = frozenset({ADMIN, STEWARD, GOLDEN_READ, FEED_READ})

DESCRIPTIONS = {
    "source:{source}:write": "send records of the source system named in the path",
    ANY_SOURCE_WRITE: "send records of any source system",
    GOLDEN_READ: "read golden records and the cross-reference",
    FEED_READ: "read the change feed",
    STEWARD: "work the review queue; override, merge and unmerge golden records",
    ADMIN: "everything, including endpoints that name no scope",
}


def source_write(source: str) -> str:
    """The scope that sends records of one source system.

    >>> source_write("erp")
    'source:erp:write'
    """
    return f"source:{source}:write"


def source_of(scope: str) -> str | None:
    """The source system a write scope names (None for ``source:*:write`` and other scopes).

    >>> source_of("source:erp:write"), source_of("source:*:write"), source_of("steward")
    ('erp', None, None)
    """
    match = _SOURCE_WRITE.match(scope)
    return None if match is None or match.group(1) == "*" else match.group(1)


def is_scope(scope: str) -> bool:
    """Whether a string names a scope of the hub.

    >>> is_scope("golden:read"), is_scope("source:erp:write"), is_scope("golden:write")
    (True, True, False)
    """
    return scope in _PLAIN or _SOURCE_WRITE.match(scope) is not None


def split_scopes(values: Iterable[str]) -> list[str]:
    """Scopes given as words (OAuth2's space-separated list) or repeated options, in order.

    >>> split_scopes(["golden:read feed:read", "golden:read"])
    ['golden:read', 'feed:read']
    """
    seen: dict[str, None] = {}
    for value in values:
        for scope in value.split():
            seen.setdefault(scope, None)
    return list(seen)


def covers(granted: Collection[str], needed: str) -> bool:
    """Whether scopes held allow a request that needs ``needed``.

    >>> covers({"admin"}, "steward"), covers({"source:*:write"}, "source:erp:write")
    (True, True)
    >>> covers({"source:erp:write"}, "source:crm:write"), covers({"steward"}, "golden:read")
    (False, False)
    """
    if needed in granted or ADMIN in granted:
        return True
    return ANY_SOURCE_WRITE in granted and _SOURCE_WRITE.match(needed) is not None


def check_scopes(scopes: Collection[str], source: str | None) -> None:
    """Raise `InvalidInputError` unless every scope is known and fits the client.

    A partner client (``source`` set) may hold only ``golden:read`` and the write scope of its
    own source: any other scope would show it data of other sources.

    >>> check_scopes(["golden:read", "source:dist:write"], "dist")
    >>> check_scopes(["feed:read"], "dist")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    mdm.errors.InvalidInputError: a partner client bound to 'dist' may hold only golden:read ...
    """
    if not scopes:
        raise InvalidInputError(
            "a client needs at least one scope", [{"field": "scope", "message": "required"}]
        )
    unknown = [s for s in scopes if not is_scope(s)]
    if unknown:
        raise InvalidInputError(
            f"unknown scopes {', '.join(unknown)}; known: {', '.join(DESCRIPTIONS)}",
            [{"field": "scope", "message": f"'{s}' is not a scope"} for s in unknown],
        )
    if source is None:
        return
    allowed = {GOLDEN_READ, source_write(source)}
    beyond = [s for s in scopes if s not in allowed]
    if beyond:
        raise InvalidInputError(
            f"a partner client bound to '{source}' may hold only {GOLDEN_READ} and "
            f"{source_write(source)}, not {', '.join(beyond)}",
            [{"field": "scope", "message": f"'{s}' is not for partners"} for s in beyond],
        )
