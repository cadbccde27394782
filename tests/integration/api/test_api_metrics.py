"""Prometheus metrics at /metrics: request latency, ingest and match outcomes, database gauges."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import ACME_CRM, ACME_ERP, GLOBEX, JWT_SECRET, put
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from mdm.api.app import create_app
from mdm.database import UnitOfWork, create_engine
from mdm.settings import Settings
from mdm.sources.models import SourceRecord
from mdm.stewardship.models import MatchCandidate

# The fixtures "client", "anonymous" and "make_app".
pytest_plugins = ["api_fixtures"]

PUT_ROUTE = "/v1/sources/{source}/records/{entity}/{source_id}"


def scrape(http: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_records_matches_and_read_the_database(
    client: TestClient, anonymous: TestClient, uow: UnitOfWork
) -> None:
    acme = put(client, "erp", "100", ACME_ERP)["golden_id"]  # new record, new golden record
    put(client, "erp", "100", ACME_ERP)  # unchanged
    assert put(client, "crm", "0015A", ACME_CRM)["golden_id"] == acme  # new record, linked
    batch = client.post(
        "/v1/sources/erp/records/customer",
        json={"records": [{"source_id": "200", **GLOBEX}, {"source_id": "300"}]},
    )
    assert batch.json()["rejected"] == 1  # a new record with a new golden record, a reject
    anonymous.get("/v1/golden")  # 401
    with uow.begin() as session:
        left, right = sorted(session.scalars(select(SourceRecord.id)))[:2]
        session.add(
            MatchCandidate(
                entity_type="customer",
                left_record_id=left,
                right_record_id=right,
                match_weight=1.0,
                probability=0.7,
                priority=0.6,
                explanation={},
                status="open",
                version=1,
            )
        )

    samples = scrape(anonymous)
    ingested = "mdm_ingest_records_total"
    assert value(samples, ingested, source="erp", entity_type="customer", outcome="new") == 2
    assert value(samples, ingested, source="erp", entity_type="customer", outcome="unchanged") == 1
    assert value(samples, ingested, source="erp", entity_type="customer", outcome="rejected") == 1
    assert value(samples, ingested, source="crm", entity_type="customer", outcome="new") == 1
    matched = "mdm_match_outcomes_total"
    # Three records placed in golden records, two of which were new; no review task.
    assert value(samples, matched, entity_type="customer", outcome="linked") == 3
    assert value(samples, matched, entity_type="customer", outcome="new") == 2
    assert value(samples, matched, entity_type="customer", outcome="review") == 0
    latency = "mdm_http_request_duration_seconds_count"
    assert value(samples, latency, method="PUT", route=PUT_ROUTE, status="201") == 2
    assert value(samples, latency, method="PUT", route=PUT_ROUTE, status="200") == 1
    assert value(samples, latency, method="GET", route="/v1/golden", status="401") == 1
    assert value(samples, "mdm_review_queue_depth", entity_type="customer") == 1
    assert value(samples, "mdm_review_queue_depth", entity_type="product") == 0
    newest = client.get("/v1/feed").json()["newest_seq"]
    assert value(samples, "mdm_outbox_newest_seq") == newest > 0


def test_metrics_answer_without_the_database_gauges_when_it_fails(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"  # never migrated: the gauges' queries fail
    engine = create_engine(url)
    try:
        app = create_app(Settings(database_url=url, jwt_secret=JWT_SECRET), uow=UnitOfWork(engine))
        with TestClient(app) as http:
            http.get("/health")
            samples = scrape(http)
    finally:
        engine.dispose()
    assert (
        value(
            samples,
            "mdm_http_request_duration_seconds_count",
            method="GET",
            route="/health",
            status="200",
        )
        == 1
    )
    assert not any(name == "mdm_outbox_newest_seq" for name, _ in samples)


def test_workers_sum_their_counters_in_multiprocess_mode(
    make_app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import values

    # What a worker started by `serve(workers=N)` sees: the shared folder is set before
    # prometheus_client is imported, so its metrics write there.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 1001))
    with TestClient(make_app()) as worker:
        worker.get("/health")
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 1002))
    with TestClient(make_app()) as other:
        other.get("/health")
        samples = scrape(other)
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert value(samples, "mdm_http_request_duration_seconds_count", **health) == 2
    assert list(tmp_path.iterdir())
