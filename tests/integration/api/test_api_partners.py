"""Partner segmentation: a client bound to a source writes that source only and sees only the
golden records that carry one of its records; everything else reads as missing.

Writing another source answers 403 ``insufficient_scope`` whether or not that source exists
(the scope is checked before any look-up); reading a golden record or a cross-reference
outside the segment answers the very 404 a missing one does.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_support import ACME_CRM, ACME_ERP, GLOBEX, assert_problem, bearer, put, token_for
from litestar.testing import TestClient

from mdm.clients.service import create_client
from mdm.database import UnitOfWork
from mdm.errors import InvalidInputError
from mdm.settings import Settings

# The fixtures "client" (an admin) and "settings".
pytest_plugins = ["api_fixtures"]

RECORD = "/v1/sources/{}/records/customer/{}"


@pytest.fixture
def partner(uow: UnitOfWork, settings: Settings) -> dict[str, str]:
    """The headers of a distributor's client: it sends 'dist' records and reads its goldens."""
    return bearer(token_for(uow, settings, "source:dist:write", "golden:read", source="dist"))


def same_problem(hidden: Any, missing: Any, hidden_id: str, missing_id: str) -> None:
    """Two 404s read alike, but for the ID each names (and the trace ID)."""
    a = assert_problem(hidden, 404, "not_found")
    b = assert_problem(missing, 404, "not_found")
    assert a.pop("detail") == b.pop("detail").replace(missing_id, hidden_id)
    a.pop("trace_id")
    b.pop("trace_id")
    assert a == b
    assert hidden.headers.keys() - {"content-length"} == missing.headers.keys() - {"content-length"}


def test_a_partner_writes_its_own_source_only(client: TestClient, partner: dict[str, str]) -> None:
    own = client.put(RECORD.format("dist", "D-1"), json=ACME_CRM, headers=partner)
    assert own.status_code == 201, own.text
    other = client.put(RECORD.format("erp", "100"), json=ACME_ERP, headers=partner)
    assert assert_problem(other, 403, "insufficient_scope")["detail"].endswith("'source:erp:write'")
    # A source that does not exist answers the same: nothing tells which sources exist.
    unknown = client.put(RECORD.format("zzz", "100"), json=ACME_ERP, headers=partner)
    assert assert_problem(unknown, 403, "insufficient_scope")["detail"].endswith(
        "'source:zzz:write'"
    )
    batch = client.post(
        "/v1/sources/erp/records/customer", json={"records": [ACME_ERP]}, headers=partner
    )
    assert_problem(batch, 403, "insufficient_scope")
    assert_problem(
        client.delete(RECORD.format("erp", "100"), headers=partner), 403, "insufficient_scope"
    )


def test_a_partner_reads_the_golden_records_it_shares_and_no_others(
    client: TestClient, partner: dict[str, str]
) -> None:
    acme = put(client, "erp", "100", ACME_ERP)["golden_id"]
    globex = put(client, "erp", "200", GLOBEX)["golden_id"]
    shared = client.put(RECORD.format("dist", "D-1"), json=ACME_CRM, headers=partner).json()
    assert shared["golden_id"] == acme

    mine = client.get(f"/v1/golden/{acme}", headers=partner)
    assert mine.status_code == 200
    assert {x["source"] for x in mine.json()["xref"]} == {"erp", "dist"}

    missing_id = str(globex + 1000)
    same_problem(
        client.get(f"/v1/golden/{globex}", headers=partner),
        client.get(f"/v1/golden/{missing_id}", headers=partner),
        str(globex),
        missing_id,
    )
    page = client.get("/v1/golden", headers=partner).json()
    assert [g["golden_id"] for g in page["items"]] == [acme]
    assert page["next"] is None
    # The admin sees both.
    assert len(client.get("/v1/golden").json()["items"]) == 2


def test_a_partner_follows_a_merge_into_a_golden_record_it_shares(
    client: TestClient, partner: dict[str, str]
) -> None:
    acme = put(client, "erp", "100", ACME_ERP)["golden_id"]
    globex = put(client, "erp", "200", GLOBEX)["golden_id"]
    client.put(RECORD.format("dist", "D-1"), json=ACME_CRM, headers=partner)
    versions = ", ".join(
        f'"{client.get(f"/v1/golden/{g}").json()["version"]}"' for g in (acme, globex)
    )
    merged = client.post(
        "/v1/golden/merge", json={"golden_ids": [acme, globex]}, headers={"If-Match": versions}
    )
    assert merged.json()["golden_id"] == acme
    redirected = client.get(f"/v1/golden/{globex}", headers=partner).json()
    assert (redirected["golden_id"], redirected["redirected_from"]) == (acme, globex)


def test_a_partner_looks_up_cross_references_of_its_golden_records_only(
    client: TestClient, partner: dict[str, str]
) -> None:
    acme = put(client, "erp", "100", ACME_ERP)["golden_id"]
    put(client, "erp", "200", GLOBEX)
    client.put(RECORD.format("dist", "D-1"), json=ACME_CRM, headers=partner)

    own = client.get("/v1/xref/dist/customer/D-1", headers=partner).json()
    assert own["golden"]["golden_id"] == acme
    # Another source's record of a golden record the partner shares.
    erp = client.get("/v1/xref/erp/customer/100", headers=partner).json()
    assert [(x["source"], x["source_id"]) for x in erp["other_ids"]] == [("dist", "D-1")]
    # One of a golden record it does not share, and one of a source that does not exist,
    # read exactly as a record that was never sent.
    missing = client.get("/v1/xref/erp/customer/999", headers=partner)
    same_problem(client.get("/v1/xref/erp/customer/200", headers=partner), missing, "200", "999")
    same_problem(
        client.get("/v1/xref/zzz/customer/999", headers=partner),
        missing,
        "zzz record",
        "erp record",
    )


def test_a_partner_reads_neither_the_feed_nor_the_review_queue(
    client: TestClient, partner: dict[str, str]
) -> None:
    assert_problem(client.get("/v1/feed", headers=partner), 403, "insufficient_scope")
    assert_problem(client.get("/v1/review", headers=partner), 403, "insufficient_scope")


@pytest.mark.parametrize(
    "scope", ["feed:read", "steward", "admin", "source:*:write", "source:erp:write"]
)
def test_a_partner_cannot_be_given_scopes_beyond_its_segment(uow: UnitOfWork, scope: str) -> None:
    with uow.begin() as session, pytest.raises(InvalidInputError, match="partner client"):
        create_client(session, "acme-dist", ["golden:read", scope], "dist")


def test_match_and_hierarchy_reads_are_for_readers_not_partners(
    client: TestClient, partner: dict[str, str], uow: UnitOfWork, settings: Settings
) -> None:
    # Their answers list golden records a partner may not share (candidates, other nodes).
    acme = client.put(RECORD.format("dist", "D-1"), json=ACME_CRM, headers=partner).json()
    reader = bearer(token_for(uow, settings, "golden:read"))
    for path, call in (
        (f"/v1/golden/{acme['golden_id']}/hierarchy", "get"),
        ("/v1/match/customer", "post"),
    ):
        kwargs: dict[str, Any] = {"json": ACME_ERP} if call == "post" else {}
        refused = getattr(client, call)(path, headers=partner, **kwargs)
        assert (
            "partner clients cannot use this endpoint"
            in assert_problem(refused, 403, "insufficient_scope")["detail"]
        )
        allowed = getattr(client, call)(path, headers=reader, **kwargs)
        assert allowed.status_code == 200, allowed.text
