"""The change feed and the steward review queue over HTTP."""

from __future__ import annotations

import time
from typing import Any

from api_support import ACME_ERP, GLOBEX, assert_problem, put
from litestar.testing import TestClient
from sqlalchemy import select

from mdm.database import UnitOfWork
from mdm.sources.models import SourceRecord
from mdm.stewardship.models import MatchCandidate

# The fixtures "client" and "settings".
pytest_plugins = ["api_fixtures"]


def test_feed_pages_in_order_and_resumes(client: TestClient) -> None:
    start = client.get("/v1/feed").json()["newest_seq"]
    put(client, "erp", "100", ACME_ERP)
    put(client, "erp", "200", GLOBEX)
    first = client.get("/v1/feed", params={"after": start, "limit": 3}).json()
    seqs = [e["seq"] for e in first["events"]]
    assert seqs == [start + 1, start + 2, start + 3]
    assert first["next_after"] == seqs[-1]
    rest = client.get("/v1/feed", params={"after": first["next_after"]}).json()
    assert [e["seq"] for e in rest["events"]] == [start + 4]
    assert rest["newest_seq"] == start + 4
    created = client.get(
        "/v1/feed", params={"after": start, "event_type": "golden.created"}
    ).json()["events"]
    assert [e["event_type"] for e in created] == ["golden.created", "golden.created"]
    assert created[0]["payload"]["snapshot"]["attributes"]["legal_name"] == "Acme Werkzeuge GmbH"
    both = client.get(
        "/v1/feed",
        params={"after": start, "event_type": ["golden.created", "xref.linked"]},
    ).json()
    assert len(both["events"]) == 4
    empty = client.get("/v1/feed", params={"after": start + 4}).json()
    assert (empty["events"], empty["next_after"]) == ([], start + 4)


def test_feed_rejects_unknown_filters(client: TestClient) -> None:
    response = client.get("/v1/feed", params={"event_type": ["golden.created", "golden.eaten"]})
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == ["event_type"]
    assert_problem(client.get("/v1/feed", params={"after": -1}), 422, "invalid_input")


def test_feed_long_poll_returns_at_once_with_events_and_waits_without(
    client: TestClient,
) -> None:
    put(client, "erp", "100", ACME_ERP)
    began = time.monotonic()
    page = client.get("/v1/feed", params={"wait": 5}).json()
    assert page["events"]
    assert time.monotonic() - began < 2
    began = time.monotonic()
    page = client.get("/v1/feed", params={"after": page["newest_seq"], "wait": 1}).json()
    assert page["events"] == []
    assert time.monotonic() - began >= 0.9


def _open_task(client: TestClient, uow: UnitOfWork) -> tuple[int, int, int]:
    a = put(client, "erp", "100", ACME_ERP)["golden_id"]
    b = put(client, "erp", "200", GLOBEX)["golden_id"]
    with uow.begin() as session:
        left, right = sorted(session.scalars(select(SourceRecord.id)))[:2]
        task = MatchCandidate(
            entity_type="customer",
            left_record_id=left,
            right_record_id=right,
            match_weight=1.0,
            probability=0.7,
            priority=0.6,
            explanation={"text": "name similar"},
            reason="score in the review band",
            status="open",
            version=1,
        )
        session.add(task)
        session.flush()
        return task.id, a, b


def test_review_queue_lists_and_reads_tasks(client: TestClient, uow: UnitOfWork) -> None:
    task_id, a, b = _open_task(client, uow)
    page = client.get("/v1/review", params={"entity_type": "customer"}).json()
    assert [t["task_id"] for t in page["items"]] == [task_id]
    task = page["items"][0]
    assert {task["left"]["source_id"], task["right"]["source_id"]} == {"100", "200"}
    assert {task["left"]["golden_id"], task["right"]["golden_id"]} == {a, b}
    response = client.get(f"/v1/review/{task_id}")
    assert response.headers["etag"] == '"1"'
    assert response.json()["explanation"] == {"text": "name similar"}
    assert client.get("/v1/review", params={"status": "accepted"}).json()["items"] == []
    assert_problem(client.get("/v1/review/999999"), 404, "not_found")


def test_accept_merges_with_if_match(client: TestClient, uow: UnitOfWork) -> None:
    task_id, a, b = _open_task(client, uow)
    url = f"/v1/review/{task_id}/accept"
    assert_problem(client.post(url), 428, "precondition_required")
    assert_problem(client.post(url, headers={"If-Match": '"2"'}), 412, "precondition_failed")
    response = client.post(
        url, json={"note": "same group"}, headers={"If-Match": '"1"', "X-Request-ID": "steward-1"}
    )
    assert response.status_code == 200, response.text
    decision: dict[str, Any] = response.json()
    assert decision == {
        "task_id": task_id,
        "status": "accepted",
        "version": 2,
        "golden_id": min(a, b),
    }
    assert response.headers["etag"] == '"2"'
    assert client.get(f"/v1/golden/{max(a, b)}").json()["redirected_from"] == max(a, b)
    merged = client.get("/v1/feed", params={"event_type": "golden.merged"}).json()["events"]
    assert merged[-1]["correlation_id"] == "steward-1"
    # Deciding again, even at the new version, is a conflict.
    assert_problem(client.post(url, headers={"If-Match": '"2"'}), 409, "conflict")


def test_reject_is_remembered(client: TestClient, uow: UnitOfWork) -> None:
    task_id, _, _ = _open_task(client, uow)
    response = client.post(f"/v1/review/{task_id}/reject", headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["golden_id"] is None
    assert client.get(f"/v1/review/{task_id}").json()["status"] == "rejected"


def test_feed_long_poll_answers_when_an_event_commits_while_waiting(
    client: TestClient, uow: UnitOfWork, monkeypatch: Any
) -> None:
    from mdm.api.v1 import service
    from mdm.outbox.service import ChangeContext, Event, emit

    after = client.get("/v1/feed").json()["newest_seq"]
    polls: list[int] = []
    newest = service._newest

    def commit_during_the_wait(unit_of_work: UnitOfWork) -> int:
        # Another writer commits an event while the request waits.
        if not polls:
            with unit_of_work.begin() as session:
                emit(session, [Event("golden.created", "customer", None, 1, {})], ChangeContext())
        polls.append(1)
        return newest(unit_of_work)

    monkeypatch.setattr(service, "_newest", commit_during_the_wait)
    monkeypatch.setattr(service, "FEED_POLL_SECONDS", 0.05)
    began = time.monotonic()
    page = client.get("/v1/feed", params={"after": after, "wait": 10}).json()
    assert [e["seq"] for e in page["events"]] == [after + 1]
    assert time.monotonic() - began < 5
