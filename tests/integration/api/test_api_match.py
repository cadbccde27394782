"""Match-on-query over HTTP: the right golden record first, explained, and nothing stored."""

from __future__ import annotations

from typing import Any

from api_support import ACME_CRM, ACME_ERP, GLOBEX, assert_problem, put
from litestar.testing import TestClient
from sqlalchemy import func, select

from matching import MatchModel
from mdm.database import Base, UnitOfWork
from mdm.linkage.service import save_model

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]

URL = "/v1/match/customer"

# Shares nothing with the stored records: another name, country, identifier and phone.
UNRELATED: dict[str, Any] = {
    "legal_name": "Tanaka Precision Instruments KK",
    "identifiers": [{"scheme": "vat", "value": "FR40303265045", "country": "FR"}],
    "addresses": [
        {"type": "legal", "lines": ["12 rue de la Paix"], "city": "Lyon", "country": "FR"}
    ],
    "phones": ["+33 4 78 61 22 30"],
}


def _store_acme_and_globex(client: TestClient) -> tuple[int, int]:
    acme = put(client, "erp", "100", ACME_ERP)["golden_id"]
    globex = put(client, "erp", "200", GLOBEX)["golden_id"]
    return acme, globex


def test_a_near_duplicate_finds_its_golden_record_first(client: TestClient) -> None:
    acme, _ = _store_acme_and_globex(client)
    response = client.post(URL, json=ACME_CRM)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["entity_type"], body["model_version"]) == ("customer", 1)
    assert body["outcome"]["decision"] == "link"
    assert body["outcome"]["golden_id"] == acme
    best = body["candidates"][0]
    assert best["golden_id"] == acme
    assert best["decision"] == "link"
    assert best["probability"] >= body["thresholds"]["match"]
    assert best["cannot_link"] is False
    assert best["golden"] == {
        "golden_id": acme,
        "version": 1,
        "name": "Acme Werkzeuge GmbH",
        "account_role": "legal_entity",
    }
    assert (best["matched_record"]["source"], best["matched_record"]["source_id"]) == (
        "erp",
        "100",
    )
    assert body["candidates_scored"] >= 1
    assert body["capped_keys"] == []


def test_the_explanation_is_the_one_review_tasks_show(client: TestClient) -> None:
    _store_acme_and_globex(client)
    explanation = client.post(URL, json=ACME_CRM).json()["candidates"][0]["explanation"]
    assert explanation["left_id"] == "query"
    assert explanation["decision"] == "match"
    by_name = {c["comparison"]: c for c in explanation["comparisons"]}
    assert by_name["tax_id"]["level"] != "null"
    assert by_name["tax_id"]["weight"] > 0
    assert "tax_id" in explanation["text"]
    assert explanation["text"].endswith("-> match")


def test_a_source_id_in_the_body_is_allowed(client: TestClient) -> None:
    acme, _ = _store_acme_and_globex(client)
    response = client.post(URL, json={**ACME_CRM, "source_id": "0015A"})
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["golden_id"] == acme


def test_an_unrelated_record_gets_no_link_candidate(client: TestClient) -> None:
    _store_acme_and_globex(client)
    body = client.post(URL, json=UNRELATED).json()
    assert [c for c in body["candidates"] if c["decision"] == "link"] == []
    assert body["outcome"]["decision"] == "new"
    assert body["outcome"]["golden_id"] is None


def test_a_cannot_link_rule_bars_the_golden_record(client: TestClient) -> None:
    acme, _ = _store_acme_and_globex(client)
    # The same company as a ship-to: same name, VAT and address, but a different role.
    ship_to = {**ACME_CRM, "account_role": "ship_to"}
    body = client.post(URL, json=ship_to).json()
    [barred] = [c for c in body["candidates"] if c["golden_id"] == acme]
    assert (barred["decision"], barred["probability"], barred["cannot_link"]) == (
        "none",
        0.0,
        True,
    )
    assert "different_role" in barred["explanation"]["rules_fired"]
    assert body["outcome"]["decision"] == "new"


def test_limit_and_min_probability(client: TestClient) -> None:
    acme, _ = _store_acme_and_globex(client)
    # A ship-to of Acme: its own golden record, which a legal-entity query may never join.
    site = put(client, "erp", "300", {**ACME_ERP, "account_role": "ship_to"})["golden_id"]
    assert site != acme
    everything = client.post(URL, json=ACME_CRM).json()["candidates"]
    assert [c["golden_id"] for c in everything] == [acme, site]
    assert everything[1]["cannot_link"] is True
    first = client.post(URL, params={"limit": 1}, json=ACME_CRM).json()
    assert [c["golden_id"] for c in first["candidates"]] == [acme]
    likely = client.post(URL, params={"min_probability": 0.5}, json=ACME_CRM).json()
    assert [c["golden_id"] for c in likely["candidates"]] == [acme]
    # The outcome weighs every candidate, whatever the page shows.
    assert first["outcome"] == likely["outcome"] == {**first["outcome"], "golden_id": acme}
    for bad in ({"limit": 0}, {"limit": 101}, {"min_probability": 1.5}):
        assert_problem(client.post(URL, params=bad, json=ACME_CRM), 422, "invalid_input")


def test_a_newly_trained_model_is_used_at_once(
    client: TestClient, uow: UnitOfWork, customer_model: MatchModel
) -> None:
    _store_acme_and_globex(client)
    assert client.post(URL, json=ACME_CRM).json()["model_version"] == 1
    with uow.begin() as session:
        save_model(session, "customer", customer_model, trained_on=0)
    assert client.post(URL, json=ACME_CRM).json()["model_version"] == 2


def _row_counts(uow: UnitOfWork) -> dict[str, int]:
    with uow.session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def test_matching_stores_nothing(client: TestClient, uow: UnitOfWork) -> None:
    _store_acme_and_globex(client)
    before = _row_counts(uow)
    assert before["blocking_key"] > 0
    assert before["outbox_event"] > 0
    for record in (ACME_CRM, UNRELATED, {**ACME_CRM, "account_role": "ship_to"}):
        assert client.post(URL, json=record).status_code == 200
    assert_problem(client.post(URL, json={"legal_name": ""}), 422, "invalid_input")
    assert _row_counts(uow) == before


def test_an_invalid_record_lists_every_failing_field(client: TestClient) -> None:
    bad = {
        "legal_name": "Acme",
        "emails": ["not-an-email"],
        "addresses": [{"country": "Atlantis"}],
        "identifiers": [{"scheme": "vat"}],
    }
    problem = assert_problem(client.post(URL, json=bad), 422, "invalid_input")
    fields = {e["field"] for e in problem["errors"]}
    assert {"emails.0", "addresses.0.country", "identifiers.0.value"} <= fields
    assert all(e["message"] for e in problem["errors"])


def test_an_unknown_entity_is_a_422_problem(client: TestClient) -> None:
    problem = assert_problem(client.post("/v1/match/vehicle", json=ACME_CRM), 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == ["entity"]


def test_without_a_trained_model_the_answer_is_a_409_problem(client: TestClient) -> None:
    # The fixture trains a customer model only.
    response = client.post(
        "/v1/match/product", json={"name": "Hex nut M8", "gtin": "4006381333931"}
    )
    problem = assert_problem(response, 409, "no_match_model")
    assert "product" in problem["detail"]


def _version(found: tuple[int, MatchModel] | None) -> int:
    assert found is not None
    return found[0]


def test_a_model_found_active_a_moment_ago_is_used_without_asking_again(
    uow: UnitOfWork, customer_model: MatchModel
) -> None:
    from sqlalchemy import event, update

    from mdm.linkage import service as linkage
    from mdm.linkage.models import MatchModelRecord

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with uow.begin() as session:
        first = save_model(session, "customer", customer_model, trained_on=0)
    with uow.reading() as connection:
        event.listen(connection, "before_cursor_execute", seen)
        found = linkage.active_model_version(connection, "customer", max_age=60)
        assert _version(found) == first
        asked = len(statements)
        assert asked >= 1
        # Asked again within the age: answered from memory, no statement.
        found = linkage.active_model_version(connection, "customer", max_age=60)
        assert _version(found) == first
        assert len(statements) == asked
        event.remove(connection, "before_cursor_execute", seen)
    # Another process activates a newer model (a row, not this process's save_model): a read
    # within the age still uses the one it found; one that asks (no age, as every write
    # does) gets the new one, and so does the next read with an age.
    with uow.begin() as session:
        session.execute(update(MatchModelRecord).values(active=False))
        session.add(
            MatchModelRecord(
                entity_type="customer",
                version=first + 1,
                document=customer_model.model_dump(mode="json"),
                trained_on=0,
                active=True,
            )
        )
    with uow.reading() as connection:
        assert linkage.active_model_version(connection, "customer", max_age=60) == found
        newer = linkage.active_model_version(connection, "customer")
        assert _version(newer) == first + 1
        again = linkage.active_model_version(connection, "customer", max_age=60)
        assert _version(again) == first + 1
    # A model saved by this process is used at once, whatever the age.
    with uow.begin() as session:
        third = save_model(session, "customer", customer_model, trained_on=0)
    with uow.reading() as connection:
        latest = linkage.active_model_version(connection, "customer", max_age=60)
        assert _version(latest) == third


def test_a_model_a_write_saw_is_not_trusted_for_an_age(
    uow: UnitOfWork, customer_model: MatchModel
) -> None:
    from mdm.linkage import service as linkage

    # A write saves a model, matches with it, and rolls back: a later read with an age
    # must not use the model that never was.
    with uow.begin() as session:
        first = save_model(session, "customer", customer_model, trained_on=0)
    session = uow.session()
    with session.begin():
        save_model(session, "customer", customer_model, trained_on=0)
        assert _version(linkage.active_model_version(session, "customer")) == first + 1
        session.rollback()
    session.close()
    with uow.reading() as connection:
        found = linkage.active_model_version(connection, "customer", max_age=60)
        assert _version(found) == first
