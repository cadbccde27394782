"""The customer hierarchy over HTTP: the four views, as-of reads, filters, redirects, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import assert_problem, put
from litestar.testing import TestClient

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]


def party(
    name: str,
    vat: str,
    street: str,
    city: str,
    postal_code: str,
    *,
    role: str = "legal_entity",
    parent: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A canonical customer; ``parent`` as (relation, ERP source ID)."""
    address_type = {"bill_to": "billing", "ship_to": "shipping"}.get(role, "legal")
    return {
        "legal_name": name,
        "account_role": role,
        "identifiers": [{"scheme": "vat", "value": vat, "country": "DE"}],
        "addresses": [
            {
                "type": address_type,
                "lines": [street],
                "city": city,
                "postal_code": postal_code,
                "country": "DE",
            }
        ],
        "parents": [] if parent is None else [{"relation": parent[0], "source_id": parent[1]}],
    }


# The ERP's group, sent parent first; W2 arrives last (after the moment `before_w2`):
#
#   H1 Keller Holding AG (legal entity)
#    └─ S1 Keller Antriebstechnik GmbH (legal entity)             subsidiary_of
#        └─ B1 Keller Antriebstechnik, Rechnungswesen (bill-to)   bill_to_of
#            ├─ W1 Keller Antriebstechnik, Werk Achim (ship-to)    ship_to_of
#            └─ W2 Keller Antriebstechnik, Lager Verden (ship-to)  ship_to_of
GROUP = {
    "H1": party("Keller Holding AG", "DE187951345", "Ballindamm 7", "Hamburg", "20095"),
    "S1": party(
        "Keller Antriebstechnik GmbH",
        "DE117673772",
        "Hafenstraße 30",
        "Bremen",
        "28217",
        parent=("subsidiary_of", "H1"),
    ),
    "B1": party(
        "Keller Antriebstechnik GmbH Rechnungswesen",
        "DE117673772",
        "Ballindamm 9",
        "Hamburg",
        "20095",
        role="bill_to",
        parent=("bill_to_of", "S1"),
    ),
    "W1": party(
        "Keller Antriebstechnik Werk Achim",
        "DE117673772",
        "Industriestraße 4",
        "Achim",
        "28832",
        role="ship_to",
        parent=("ship_to_of", "B1"),
    ),
    "W2": party(
        "Keller Antriebstechnik Lager Verden",
        "DE117673772",
        "Lindhooper Straße 88",
        "Verden",
        "27283",
        role="ship_to",
        parent=("ship_to_of", "B1"),
    ),
}


class Group:
    """The group's golden IDs by ERP source ID, and the moment before W2 arrived."""

    def __init__(self, client: TestClient) -> None:
        self.ids: dict[str, int] = {}
        for key in ("H1", "S1", "B1", "W1"):
            self.ids[key] = put(client, "erp", key, GROUP[key])["golden_id"]
        self.before_w2 = datetime.now(UTC)
        self.ids["W2"] = put(client, "erp", "W2", GROUP["W2"])["golden_id"]
        assert len(set(self.ids.values())) == 5

    def __getitem__(self, key: str) -> int:
        return self.ids[key]


@pytest.fixture
def group(client: TestClient) -> Group:
    return Group(client)


def read(client: TestClient, golden_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/golden/{golden_id}/hierarchy", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def shape(node: dict[str, Any]) -> tuple[int, str | None, list[Any]]:
    """A tree as (golden ID, relation, [children]) tuples, for hand-drawn comparisons."""
    return (node["golden_id"], node["relation"], [shape(c) for c in node["children"]])


def test_tree_is_the_default_view(client: TestClient, group: Group) -> None:
    body = read(client, group["H1"])
    assert (body["view"], body["golden_id"], body["redirected_from"]) == ("tree", group["H1"], None)
    assert (body["ancestors"], body["descendants"], body["rollup"]) == (None, None, None)
    w1, w2 = sorted([group["W1"], group["W2"]])
    assert shape(body["tree"]) == (
        group["H1"],
        None,
        [
            (
                group["S1"],
                "subsidiary_of",
                [(group["B1"], "bill_to_of", [(w1, "ship_to_of", []), (w2, "ship_to_of", [])])],
            )
        ],
    )
    assert body["tree"]["name"] == "Keller Holding AG"
    assert body["tree"]["children"][0]["children"][0]["role"] == "bill_to"


def test_ancestors_are_the_path_to_the_ultimate_parent(client: TestClient, group: Group) -> None:
    path = read(client, group["W1"], view="ancestors")["ancestors"]
    assert [(n["golden_id"], n["relation"], n["depth"], n["child"]) for n in path] == [
        (group["B1"], "ship_to_of", 1, group["W1"]),
        (group["S1"], "bill_to_of", 2, group["B1"]),
        (group["H1"], "subsidiary_of", 3, group["S1"]),
    ]
    assert [n["role"] for n in path] == ["bill_to", "legal_entity", "legal_entity"]
    assert path[-1]["name"] == "Keller Holding AG"
    assert read(client, group["H1"], view="ancestors")["ancestors"] == []
    by_depth = read(client, group["W1"], view="ancestors", depth=2)["ancestors"]
    assert [n["golden_id"] for n in by_depth] == [group["B1"], group["S1"]]
    one_relation = read(client, group["W1"], view="ancestors", relation="ship_to_of")
    assert [n["golden_id"] for n in one_relation["ancestors"]] == [group["B1"]]
    assert one_relation["relation"] == "ship_to_of"
    # Up from S1 by bill_to_of there is nothing: S1's parent edge is subsidiary_of.
    none_up = read(client, group["S1"], view="ancestors", relation="bill_to_of")
    assert none_up["ancestors"] == []


def test_descendants_are_everything_under_nearest_first(client: TestClient, group: Group) -> None:
    below = read(client, group["H1"], view="descendants")["descendants"]
    w1, w2 = sorted([group["W1"], group["W2"]])
    assert [(n["golden_id"], n["depth"], n["parent"]) for n in below] == [
        (group["S1"], 1, group["H1"]),
        (group["B1"], 2, group["S1"]),
        (w1, 3, group["B1"]),
        (w2, 3, group["B1"]),
    ]
    two_levels = read(client, group["H1"], view="descendants", depth=2)["descendants"]
    assert [n["golden_id"] for n in two_levels] == [group["S1"], group["B1"]]
    subsidiaries = read(client, group["H1"], view="descendants", relation="subsidiary_of")
    assert [n["golden_id"] for n in subsidiaries["descendants"]] == [group["S1"]]
    assert read(client, group["W1"], view="descendants")["descendants"] == []


def test_tree_filters_prune_branches(client: TestClient, group: Group) -> None:
    two_levels = read(client, group["H1"], view="tree", depth=2)["tree"]
    assert shape(two_levels) == (
        group["H1"],
        None,
        [(group["S1"], "subsidiary_of", [(group["B1"], "bill_to_of", [])])],
    )
    subsidiaries = read(client, group["H1"], relation="subsidiary_of")["tree"]
    assert shape(subsidiaries) == (group["H1"], None, [(group["S1"], "subsidiary_of", [])])


def test_rollup_counts_bill_tos_and_ship_tos(client: TestClient, group: Group) -> None:
    body = read(client, group["H1"], view="rollup")
    assert body["rollup"] == [
        {"role": "bill_to", "count": 1, "members": [group["B1"]]},
        {"role": "ship_to", "count": 2, "members": sorted([group["W1"], group["W2"]])},
    ]
    ship_tos = read(client, group["B1"], view="rollup", role="ship_to")["rollup"]
    assert [(r["role"], r["count"]) for r in ship_tos] == [("ship_to", 2)]
    several = read(client, group["S1"], view="rollup", role=["legal_entity", "bill_to"])
    assert [(r["role"], r["count"]) for r in several["rollup"]] == [
        ("legal_entity", 0),
        ("bill_to", 1),
    ]
    leaf = read(client, group["W1"], view="rollup")["rollup"]
    assert [r["count"] for r in leaf] == [0, 0]


def test_as_of_reads_the_hierarchy_before_an_edge_existed(client: TestClient, group: Group) -> None:
    as_of = group.before_w2.isoformat()
    body = read(client, group["H1"], view="rollup", role="ship_to", as_of=as_of)
    assert body["rollup"] == [{"role": "ship_to", "count": 1, "members": [group["W1"]]}]
    assert datetime.fromisoformat(body["as_of"]) == group.before_w2
    below = read(client, group["B1"], view="descendants", as_of=as_of)["descendants"]
    assert [n["golden_id"] for n in below] == [group["W1"]]
    # Long before anything was sent, as a date: no edges at all.
    ancient = read(client, group["W1"], view="ancestors", as_of="2000-01-01")
    assert ancient["ancestors"] == []
    assert ancient["as_of"].startswith("2000-01-01T00:00:00")
    assert shape(read(client, group["H1"], as_of="2000-01-01")["tree"]) == (group["H1"], None, [])


def test_a_merged_id_answers_with_the_survivor(client: TestClient, group: Group) -> None:
    # The CRM's own record of the bill-to became a golden record of its own; a steward
    # merges it into the ERP's. The older golden record (B1) survives.
    crm_bill_to = party(
        "Antriebstechnik Keller Buchhaltung",
        "DE185941542",
        "Am Wall 1",
        "Oldenburg",
        "26122",
        role="bill_to",
    )
    retired = put(client, "crm", "CB-1", crm_bill_to)["golden_id"]
    versions = [client.get(f"/v1/golden/{g}").json()["version"] for g in (group["B1"], retired)]
    merged = client.post(
        "/v1/golden/merge",
        json={"golden_ids": [group["B1"], retired], "reason": "same bill-to"},
        headers={"If-Match": ", ".join(f'"{v}"' for v in versions)},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["golden_id"] == group["B1"]

    response = client.get(f"/v1/golden/{retired}/hierarchy", params={"view": "ancestors"})
    assert response.status_code == 200
    body = response.json()
    assert (body["golden_id"], body["redirected_from"]) == (group["B1"], retired)
    assert [n["golden_id"] for n in body["ancestors"]] == [group["S1"], group["H1"]]
    assert (
        response.headers["content-location"] == f"/v1/golden/{group['B1']}/hierarchy?view=ancestors"
    )
    assert "content-location" not in client.get(f"/v1/golden/{group['B1']}/hierarchy").headers


def test_a_retired_golden_record_has_no_edges(client: TestClient, group: Group) -> None:
    assert client.delete("/v1/sources/erp/records/customer/W2").status_code == 200
    body = read(client, group["W2"], view="ancestors")
    assert (body["status"], body["ancestors"]) == ("retired", [])
    ship_tos = read(client, group["H1"], view="rollup", role="ship_to")["rollup"]
    assert ship_tos[0]["members"] == [group["W1"]]


def test_unknown_ids_and_products_are_404_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/golden/999999/hierarchy"), 404, "not_found")
    product = client.put("/v1/sources/erp/records/product/P-1", json={"name": "Hex nut M8"})
    assert product.status_code == 201, product.text
    problem = assert_problem(
        client.get(f"/v1/golden/{product.json()['golden_id']}/hierarchy"), 404, "not_found"
    )
    assert "customers" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"view": "sideways"}, "view"),
        ({"view": "rollup", "depth": 1}, "depth"),
        ({"view": "rollup", "relation": "ship_to_of"}, "relation"),
        ({"view": "tree", "role": "ship_to"}, "role"),
        ({"relation": "married_to"}, "relation"),
        ({"depth": 0}, "depth"),
        ({"as_of": "last tuesday"}, "as_of"),
        # In UTC this is the year 10000, past what a datetime holds.
        ({"as_of": "9999-12-31T23:00:00-02:00"}, "as_of"),
    ],
)
def test_invalid_options_are_422_problems_naming_the_field(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    golden_id = put(client, "erp", "H1", GROUP["H1"])["golden_id"]
    response = client.get(f"/v1/golden/{golden_id}/hierarchy", params=params)
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == [field]
