"""Sending source records over HTTP: one, a batch, a delete; errors; trace IDs."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import ACME_CRM, ACME_ERP, GLOBEX, MAX_BATCH, assert_problem, put
from litestar.testing import TestClient
from sqlalchemy import select

from mdm.audit.models import AuditEntry
from mdm.database import UnitOfWork
from mdm.golden.models import GoldenMember
from mdm.outbox.models import OutboxEvent
from mdm.stewardship.models import MatchCandidate

URL = "/v1/sources/{}/records/customer/{}"

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]


def test_put_creates_then_changes_then_is_idempotent(client: TestClient) -> None:
    created = client.put(URL.format("erp", "100"), json=ACME_ERP)
    assert created.status_code == 201
    body = created.json()
    assert (body["status"], body["version"], body["in_review"]) == ("new", 1, False)
    assert body["golden_id"] is not None
    again = client.put(URL.format("erp", "100"), json={**ACME_ERP, "source_id": "100"})
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["version"]) == ("unchanged", 1)
    changed = put(client, "erp", "100", {**ACME_ERP, "emails": ["info@acme.example"]})
    assert (changed["status"], changed["version"]) == ("changed", 2)
    assert changed["golden_id"] == body["golden_id"]


def test_put_matches_into_the_same_golden_record(client: TestClient) -> None:
    erp = put(client, "erp", "100", ACME_ERP)
    crm = put(client, "crm", "0015A", ACME_CRM)
    globex = put(client, "erp", "200", GLOBEX)
    assert crm["golden_id"] == erp["golden_id"]
    assert globex["golden_id"] != erp["golden_id"]


def test_source_ids_may_contain_slashes(client: TestClient) -> None:
    body = put(client, "erp", "DE/100/A", ACME_ERP)
    assert body["source_id"] == "DE/100/A"
    xref = client.get("/v1/xref/erp/customer/DE/100/A")
    assert xref.status_code == 200
    assert xref.json()["golden"]["golden_id"] == body["golden_id"]


def test_invalid_record_lists_every_failing_field(client: TestClient) -> None:
    bad = {
        "legal_name": "Acme",
        "emails": ["not-an-email"],
        "addresses": [{"country": "Atlantis"}],
        "identifiers": [{"scheme": "vat"}],
    }
    problem = assert_problem(client.put(URL.format("erp", "1"), json=bad), 422, "invalid_input")
    fields = {e["field"] for e in problem["errors"]}
    assert {"emails.0", "addresses.0.country", "identifiers.0.value"} <= fields
    assert all(e["message"] for e in problem["errors"])


def test_body_source_id_must_match_the_url(client: TestClient) -> None:
    response = client.put(URL.format("erp", "1"), json={**ACME_ERP, "source_id": "2"})
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == ["source_id"]


def test_unknown_source_or_entity_is_a_problem(client: TestClient) -> None:
    assert_problem(client.put(URL.format("nope", "1"), json=ACME_ERP), 404, "not_found")
    response = client.put("/v1/sources/erp/records/vehicle/1", json=ACME_ERP)
    problem = assert_problem(response, 422, "invalid_input")
    assert problem["errors"][0]["field"] == "entity"


def test_batch_lands_valid_records_and_rejects_the_others_with_reasons(
    client: TestClient,
) -> None:
    put(client, "erp", "100", ACME_ERP)
    records: list[dict[str, Any]] = [
        {"source_id": "100", **ACME_ERP},
        {"source_id": "200", **GLOBEX},
        {"source_id": "300"},
        {"legal_name": "No ID Ltd"},
    ]
    response = client.post("/v1/sources/erp/records/customer", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["unchanged"], body["rejected"]) == (1, 1, 2)
    results = body["results"]
    assert [(r["position"], r["source_id"], r["status"]) for r in results] == [
        (0, "100", "unchanged"),
        (1, "200", "new"),
        (2, "300", "rejected"),
        (3, None, "rejected"),
    ]
    assert results[1]["golden_id"] is not None
    assert "a customer needs a name" in results[2]["errors"][0]["message"]
    assert results[3]["errors"][0]["field"] == "source_id"
    assert client.get("/v1/xref/erp/customer/200").status_code == 200


@pytest.mark.parametrize(
    ("source_id", "body", "field"),
    [
        ("1", {**ACME_ERP, "legal_name": "Acme\x00"}, "legal_name"),
        ("1", {**ACME_ERP, "notes": [{"n\x00": 1}]}, "notes.0.n\\u0000"),
        ("1", {**ACME_ERP, "employees": 2**64}, "employees"),
        ("x" * 201, ACME_ERP, "source_id"),
        ("%00", ACME_ERP, "source_id"),
    ],
)
def test_what_the_database_cannot_hold_is_a_422_problem(
    client: TestClient, source_id: str, body: dict[str, Any], field: str
) -> None:
    # PostgreSQL refuses NUL (U+0000) in text and jsonb, JSON columns hold 64-bit integers and
    # a source ID fits 200 characters: each was a 500 (a failed write) on one database or both.
    response = client.put(URL.format("erp", source_id), json=body)
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_a_batch_rejects_the_records_the_database_cannot_hold(client: TestClient) -> None:
    records: list[dict[str, Any]] = [
        {"source_id": "200", **GLOBEX},
        {"source_id": "100", **ACME_ERP, "legal_name": "Acme\x00"},
        {"source_id": "x" * 201, **ACME_ERP},
        {"source_id": "101", **ACME_ERP, "employees": -(2**63) - 1},
        {"source_id": [0] * 100},
    ]
    response = client.post("/v1/sources/erp/records/customer", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["unchanged"], body["rejected"]) == (1, 0, 4)
    # A source ID its column cannot hold is not kept: the position names the record.
    assert [(r["source_id"], [e["field"] for e in r["errors"]]) for r in body["results"]] == [
        ("200", []),
        ("100", ["legal_name"]),
        (None, ["source_id"]),
        ("101", ["employees"]),
        (None, ["source_id"]),
    ]


def test_batch_larger_than_the_limit_is_refused_whole(client: TestClient) -> None:
    records = [{"source_id": str(i), **GLOBEX} for i in range(MAX_BATCH + 1)]
    response = client.post("/v1/sources/erp/records/customer", json={"records": records})
    assert_problem(response, 413, "batch_too_large")
    assert_problem(client.get("/v1/xref/erp/customer/0"), 404, "not_found")


def test_delete_tombstones_and_retires_the_golden_record(client: TestClient) -> None:
    created = put(client, "erp", "200", GLOBEX)
    response = client.delete(URL.format("erp", "200"))
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"], body["golden_id"]) == ("deleted", 2, None)
    golden = client.get(f"/v1/golden/{created['golden_id']}").json()
    assert golden["status"] == "retired"
    again = client.delete(URL.format("erp", "200"))
    assert again.json()["status"] == "unchanged"
    assert_problem(client.delete(URL.format("erp", "never-sent")), 404, "not_found")


def test_put_reports_an_open_review_task(client: TestClient, uow: UnitOfWork) -> None:
    acme = put(client, "erp", "100", ACME_ERP)
    globex = put(client, "erp", "200", GLOBEX)
    assert acme["golden_id"] != globex["golden_id"]
    with uow.begin() as session:
        session.add(_task(*_record_ids(session)))
    body = put(client, "erp", "100", ACME_ERP)
    assert body["status"] == "unchanged"
    assert body["in_review"] is True
    assert len(body["review_task_ids"]) == 1
    # Changed, it is still in that task (the two records stay apart): the answer names it,
    # though the match itself opened nothing.
    changed = put(client, "erp", "100", {**ACME_ERP, "phones": ["+49 30 1234567"]})
    assert changed["status"] == "changed"
    assert (changed["in_review"], changed["review_task_ids"]) == (True, body["review_task_ids"])


def _record_ids(session: Any) -> tuple[int, int]:
    from mdm.sources.models import SourceRecord

    ids = sorted(session.scalars(select(SourceRecord.id)))
    return ids[0], ids[1]


def _task(left: int, right: int) -> MatchCandidate:
    return MatchCandidate(
        entity_type="customer",
        left_record_id=left,
        right_record_id=right,
        match_weight=1.0,
        probability=0.7,
        priority=0.6,
        explanation={"text": "name similar"},
        status="open",
        version=1,
    )


def test_trace_id_is_echoed_and_stamped_on_events_and_audit(
    client: TestClient, uow: UnitOfWork
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = client.put(
        URL.format("erp", "100"),
        json=ACME_ERP,
        headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert response.headers["x-request-id"] == trace
    with uow.session() as session:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.correlation_id == trace))
        events = list(events)
        assert {e.event_type for e in events} == {"golden.created", "xref.linked"}
        assert all(e.cause.startswith("api PUT /v1/sources/") for e in events)
        audits = session.scalars(select(AuditEntry).where(AuditEntry.correlation_id == trace))
        assert [a.action for a in audits] == ["create"]
    echoed = client.put(URL.format("erp", "200"), json=GLOBEX, headers={"X-Request-ID": "order-7"})
    assert echoed.headers["x-request-id"] == "order-7"
    feed = client.get("/v1/feed").json()["events"]
    assert {e["correlation_id"] for e in feed} == {trace, "order-7"}
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


def test_a_concurrent_write_of_the_same_key_is_a_conflict(
    client: TestClient, monkeypatch: Any
) -> None:
    from sqlalchemy.exc import IntegrityError

    from mdm.api.v1 import service

    def collide(*_: Any, **__: Any) -> Any:
        raise IntegrityError("INSERT INTO source_record", {}, Exception("duplicate key"))

    monkeypatch.setattr(service, "ingest_many", collide)
    response = client.put(URL.format("erp", "100"), json=ACME_ERP)
    assert_problem(response, 409, "conflict")


def test_matching_a_record_at_a_time_keeps_the_value_caches_bounded(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matching.standardisation import company_name
    from mdm.linkage import service as linkage

    put(client, "erp", "100", ACME_ERP)
    assert company_name.cache_info().currsize > 0
    monkeypatch.setattr(linkage, "SERVER_VALUE_CACHE", 0)
    put(client, "crm", "0015A", ACME_CRM)
    assert company_name.cache_info().currsize == 0


def test_each_answer_is_the_record_s_place_as_stored(
    client: TestClient, uow: UnitOfWork, sample_customers: list[tuple[str, Any]]
) -> None:
    # The answer of a new record comes from the match itself (no read on PostgreSQL): over the
    # sample customers, each answer is what the database holds right after.
    from mdm.sources.models import SourceRecord, SourceSystem

    # The distributors and the marketplace send as the one third source of these tests.
    sent = [
        (
            source if source in {"erp", "crm"} else "dist",
            f"{source}-{rec.source_id}",
            rec.canonical,
        )
        for source, rec in sample_customers
    ]
    # Then each record again, changed (a new phone number): a record in no open review task
    # is answered from its match too, one in a task from a read.
    changed = [
        (source, source_id, {**canonical, "phones": [f"+49 30 {n:07d}"]})
        for n, (source, source_id, canonical) in enumerate(sent)
    ]
    in_review = 0
    for (source, source_id, canonical), is_change in [(r, False) for r in sent] + [
        (r, True) for r in changed
    ]:
        body = put(
            client, source, source_id, {k: v for k, v in canonical.items() if k != "source_id"}
        )
        with uow.session() as session:
            record_id = session.scalar(
                select(SourceRecord.id)
                .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
                .where(SourceSystem.code == source, SourceRecord.source_id == source_id)
            )
            golden = session.scalar(
                select(GoldenMember.golden_id).where(GoldenMember.source_record_id == record_id)
            )
            tasks = sorted(
                session.scalars(
                    select(MatchCandidate.id).where(
                        MatchCandidate.status == "open",
                        (MatchCandidate.left_record_id == record_id)
                        | (MatchCandidate.right_record_id == record_id),
                    )
                )
            )
        assert (body["golden_id"], body["review_task_ids"], body["in_review"]) == (
            golden,
            tasks,
            bool(tasks),
        ), (source, source_id)
        in_review += bool(tasks)
        if is_change:
            assert body["status"] == "changed"
    assert len(sent) > 100
    assert in_review  # some answers name the review tasks the match opened


def test_a_changed_record_leaves_keeps_or_merges_its_golden_record_as_a_batch_would(
    client: TestClient,
) -> None:
    # A single record's upsert knows from its first read whether its golden record holds
    # another record; these are the three cases that knowledge decides.
    # Alone, and still matching nothing else: it keeps its golden record (no new ID).
    alone = put(client, "erp", "100", ACME_ERP)["golden_id"]
    changed = put(client, "erp", "100", {**ACME_ERP, "phones": ["+49 30 999000"]})
    assert changed["golden_id"] == alone
    # Alone, and now matching another golden record: the emptied one merges into it.
    lone = {**ACME_CRM, "identifiers": [], "legal_name": "Acme Tools Cologne"}
    lone |= {"addresses": [], "phones": []}
    crm_golden = put(client, "crm", "0015A", lone)["golden_id"]
    assert crm_golden != alone
    moved = put(client, "crm", "0015A", ACME_CRM)
    assert moved["golden_id"] == alone
    redirected = client.get(f"/v1/golden/{crm_golden}").json()
    assert (redirected["golden_id"], redirected["redirected_from"]) == (alone, crm_golden)
    # Not alone: leaving it keeps the golden record for the record that stays.
    gone = put(
        client, "crm", "0015A", {**GLOBEX, "legal_name": "Globex Industrial Supplies Limited"}
    )
    assert gone["golden_id"] != alone
    kept = client.get(f"/v1/golden/{alone}").json()
    assert (kept["status"], kept["redirected_from"]) == ("active", None)
    assert [x["source_id"] for x in kept["xref"]] == ["100"]
