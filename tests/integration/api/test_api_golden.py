"""Golden records over HTTP: read with provenance and xref, redirects, pages, steward changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from api_support import ACME_CRM, ACME_ERP, GLOBEX, assert_problem, put
from litestar.testing import TestClient

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]


def test_read_golden_with_provenance_xref_and_etag(client: TestClient) -> None:
    gid = put(client, "erp", "100", ACME_ERP)["golden_id"]
    put(client, "crm", "0015A", ACME_CRM)
    response = client.get(f"/v1/golden/{gid}")
    assert response.status_code == 200
    golden = response.json()
    assert response.headers["etag"] == f'"{golden["version"]}"'
    assert golden["attributes"]["legal_name"] == "Acme Werkzeuge GmbH"
    assert golden["provenance"]["legal_name"]["source"] == "erp"
    assert {(x["source"], x["source_id"]) for x in golden["xref"]} == {
        ("erp", "100"),
        ("crm", "0015A"),
    }
    assert golden["redirected_from"] is None
    # RFC 3339 moments carry their offset, also where the database keeps none (SQLite).
    assert datetime.fromisoformat(golden["updated_at"]).utcoffset() is not None
    assert all(
        datetime.fromisoformat(x["linked_at"]).utcoffset() is not None for x in golden["xref"]
    )


def test_unknown_golden_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/golden/999999"), 404, "not_found")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/golden/0", "golden_id"),
        (f"/v1/golden/{2**63}", "golden_id"),
        (f"/v1/golden/{2**63}/hierarchy", "golden_id"),
        (f"/v1/review/{2**63}", "task_id"),
        (f"/v1/review?offset={2**63}", "offset"),
        (f"/v1/feed?after={2**63}", "after"),
        ("/v1/golden?after=%C3%A9", "after"),
    ],
)
def test_numbers_no_bigint_holds_and_foreign_cursors_are_422_problems(
    client: TestClient, url: str, field: str
) -> None:
    # IDs and sequence numbers are BIGINT: the drivers refused larger ones (a 500); a cursor
    # that is not ASCII failed to decode with an error the service did not expect.
    problem = assert_problem(client.get(url), 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == [field]


def _merge(client: TestClient, *ids: int) -> tuple[int, dict[str, str]]:
    versions = ", ".join(f'"{client.get(f"/v1/golden/{g}").json()["version"]}"' for g in ids)
    response = client.post(
        "/v1/golden/merge",
        json={"golden_ids": list(ids), "reason": "same company"},
        headers={"If-Match": versions},
    )
    assert response.status_code == 200, response.text
    return response.json()["golden_id"], dict(response.headers)


def test_merge_then_the_merged_id_answers_with_the_survivor(client: TestClient) -> None:
    a = put(client, "erp", "100", ACME_ERP)["golden_id"]
    b = put(client, "erp", "200", GLOBEX)["golden_id"]
    survivor, headers = _merge(client, b, a)
    assert survivor == min(a, b)
    assert headers["etag"] == f'"{client.get(f"/v1/golden/{survivor}").json()["version"]}"'
    retired = max(a, b)
    response = client.get(f"/v1/golden/{retired}")
    assert response.status_code == 200
    body = response.json()
    assert (body["golden_id"], body["redirected_from"]) == (survivor, retired)
    assert response.headers["content-location"] == f"/v1/golden/{survivor}"
    assert len(body["xref"]) == 2
    # A change aimed at the merged ID says where to go instead.
    problem = assert_problem(
        client.post(
            f"/v1/golden/{retired}/override",
            json={"attribute": "website", "value": "x.example"},
            headers={"If-Match": '"1"'},
        ),
        409,
        "conflict",
    )
    assert str(survivor) in problem["detail"]


def test_merge_needs_one_version_per_id(client: TestClient) -> None:
    a = put(client, "erp", "100", ACME_ERP)["golden_id"]
    b = put(client, "erp", "200", GLOBEX)["golden_id"]
    body = {"golden_ids": [a, b]}
    assert_problem(client.post("/v1/golden/merge", json=body), 428, "precondition_required")
    response = client.post("/v1/golden/merge", json=body, headers={"If-Match": '"1"'})
    assert_problem(response, 428, "precondition_required")
    response = client.post("/v1/golden/merge", json=body, headers={"If-Match": '"1", "9"'})
    assert_problem(response, 412, "precondition_failed")
    response = client.post(
        "/v1/golden/merge", json={"golden_ids": [a]}, headers={"If-Match": '"1"'}
    )
    problem = assert_problem(response, 422, "invalid_input")
    assert problem["errors"][0]["field"] == "golden_ids"


def test_list_pages_with_a_cursor(client: TestClient) -> None:
    ids = [
        put(client, "erp", sid, {"legal_name": name})["golden_id"]
        for sid, name in [("1", "Alpha Trading"), ("2", "Beta Mining"), ("3", "Gamma Foods")]
    ]
    first = client.get("/v1/golden", params={"limit": 2, "entity_type": "customer"}).json()
    assert [g["golden_id"] for g in first["items"]] == ids[:2]
    assert first["next"]
    second = client.get("/v1/golden", params={"limit": 2, "after": first["next"]}).json()
    assert [g["golden_id"] for g in second["items"]] == ids[2:]
    assert second["next"] is None
    assert client.get("/v1/golden", params={"status": "merged"}).json()["items"] == []
    assert_problem(client.get("/v1/golden", params={"after": "bogus"}), 422, "invalid_input")
    problem = assert_problem(
        client.get("/v1/golden", params={"limit": 0, "status": "gone"}), 422, "invalid_input"
    )
    assert {e["field"] for e in problem["errors"]} == {"limit", "status"}


def test_xref_gives_the_golden_record_and_the_other_ids(client: TestClient) -> None:
    gid = put(client, "erp", "100", ACME_ERP)["golden_id"]
    put(client, "crm", "0015A", ACME_CRM)
    body = client.get("/v1/xref/crm/customer/0015A").json()
    assert body["golden"]["golden_id"] == gid
    assert [(x["source"], x["source_id"]) for x in body["other_ids"]] == [("erp", "100")]
    assert_problem(client.get("/v1/xref/crm/customer/nope"), 404, "not_found")
    assert_problem(client.get("/v1/xref/nosuch/customer/1"), 404, "not_found")


def test_override_and_unpin_with_if_match(client: TestClient) -> None:
    gid = put(client, "erp", "100", ACME_ERP)["golden_id"]
    url = f"/v1/golden/{gid}/override"
    body = {"attribute": "legal_name", "value": "ACME Werkzeuge GmbH & Co.", "reason": "registry"}
    assert_problem(client.post(url, json=body), 428, "precondition_required")
    assert_problem(
        client.post(url, json=body, headers={"If-Match": '"7"'}), 412, "precondition_failed"
    )
    assert_problem(
        client.post(url, json=body, headers={"If-Match": "1"}), 428, "precondition_required"
    )
    response = client.post(url, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    golden = response.json()
    assert golden["attributes"]["legal_name"] == "ACME Werkzeuge GmbH & Co."
    assert golden["provenance"]["legal_name"]["rule"] == "override"
    assert response.headers["etag"] == '"2"'
    stale = client.delete(f"/v1/golden/{gid}/override/legal_name", headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition_failed")
    missing = client.delete(f"/v1/golden/{gid}/override/website", headers={"If-Match": '"2"'})
    assert_problem(missing, 404, "not_found")
    unpinned = client.delete(f"/v1/golden/{gid}/override/legal_name", headers={"If-Match": '"2"'})
    assert unpinned.status_code == 200
    assert unpinned.json()["attributes"]["legal_name"] == "Acme Werkzeuge GmbH"
    assert unpinned.headers["etag"] == '"3"'


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/{}/override", {"attribute": "legal_name", "value": "Acme\x00"}, "value"),
        ("/{}/override", {"attribute": "tags", "value": [1, 2**64]}, "value.1"),
        ("/{}/override", {"attribute": "legal_name", "value": "A", "reason": "\x00"}, "reason"),
        ("/{}/unmerge", {"source": "erp", "source_id": "100\x00"}, "source_id"),
        ("/merge", {"golden_ids": [1, 2**63]}, "golden_ids.1"),
    ],
)
def test_steward_changes_the_database_cannot_hold_are_422_problems(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    gid = put(client, "erp", "100", ACME_ERP)["golden_id"]
    versions = '"1", "1"' if path == "/merge" else '"1"'
    response = client.post(
        "/v1/golden" + path.format(gid), json=body, headers={"If-Match": versions}
    )
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_unmerge_splits_a_record_off(client: TestClient) -> None:
    gid = put(client, "erp", "100", ACME_ERP)["golden_id"]
    assert put(client, "crm", "0015A", ACME_CRM)["golden_id"] == gid
    version = client.get(f"/v1/golden/{gid}").json()["version"]
    url = f"/v1/golden/{gid}/unmerge"
    body = {"source": "crm", "source_id": "0015A", "reason": "another legal entity"}
    assert_problem(client.post(url, json=body), 428, "precondition_required")
    response = client.post(url, json=body, headers={"If-Match": f'"{version}"'})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["unmerged_from"] == gid
    assert result["golden_id"] != gid
    assert response.headers["etag"] == f'"{result["version"]}"'
    assert (
        client.get("/v1/xref/crm/customer/0015A").json()["golden"]["golden_id"]
        == result["golden_id"]
    )
    again = client.post(url, json=body, headers={"If-Match": f'"{result["version"]}"'})
    assert_problem(again, 409, "conflict")
