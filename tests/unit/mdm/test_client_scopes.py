"""Scopes of API clients: which covers which, what a partner may hold, what a token is granted."""

from __future__ import annotations

import pytest

from mdm.clients.scopes import check_scopes, covers, is_scope, split_scopes
from mdm.clients.service import grant_scopes
from mdm.errors import InvalidInputError, OAuthError


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        ({"golden:read"}, "golden:read", True),
        ({"golden:read"}, "feed:read", False),
        ({"steward"}, "golden:read", False),  # nothing but admin implies another scope
        ({"admin"}, "steward", True),
        ({"admin"}, "source:erp:write", True),
        ({"source:erp:write"}, "source:erp:write", True),
        ({"source:erp:write"}, "source:crm:write", False),
        ({"source:*:write"}, "source:crm:write", True),
        ({"source:*:write"}, "golden:read", False),
        # A path's source code is compared as it is: no pattern or list slips through.
        ({"source:erp:write"}, "source:erp:write source:crm:write", False),
        ({"source:*:write"}, "source:Bad Code:write", False),
    ],
)
def test_covers(held: set[str], needed: str, allowed: bool) -> None:
    assert covers(held, needed) is allowed


def test_scope_names() -> None:
    assert all(is_scope(s) for s in ("admin", "steward", "feed:read", "source:*:write"))
    assert not any(is_scope(s) for s in ("root", "source:ERP:write", "source::write", ""))
    assert split_scopes(["golden:read  steward", "steward", ""]) == ["golden:read", "steward"]


def test_check_scopes_names_every_unknown_scope() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_scopes(["golden:read", "root", "golden:write"], None)
    assert [e["message"] for e in caught.value.errors] == [
        "'root' is not a scope",
        "'golden:write' is not a scope",
    ]
    with pytest.raises(InvalidInputError, match="at least one scope"):
        check_scopes([], None)


def test_a_partner_holds_only_its_own_write_scope_and_golden_read() -> None:
    check_scopes(["source:dist:write", "golden:read"], "dist")
    check_scopes(["golden:read"], "dist")
    for beyond in ("feed:read", "steward", "admin", "source:*:write", "source:erp:write"):
        with pytest.raises(InvalidInputError, match="partner client bound to 'dist'"):
            check_scopes(["golden:read", beyond], "dist")


def test_grant_scopes() -> None:
    assert grant_scopes(["golden:read", "feed:read"], []) == ["golden:read", "feed:read"]
    assert grant_scopes(["admin"], ["steward", "feed:read"]) == ["steward", "feed:read"]
    assert grant_scopes(["source:*:write"], ["source:erp:write"]) == ["source:erp:write"]
    with pytest.raises(OAuthError, match="does not hold") as refused:
        grant_scopes(["golden:read"], ["golden:read", "steward"])
    assert refused.value.code == "invalid_scope"
    with pytest.raises(OAuthError, match="not a scope"):
        grant_scopes(["admin"], ["everything"])
