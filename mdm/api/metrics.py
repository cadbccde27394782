"""Prometheus metrics at ``GET /metrics``: latency, ingest and match outcomes, database gauges.

- ``mdm_http_request_duration_seconds`` (histogram): by method, route template and status;
- ``mdm_ingest_records_total``: records sent over the API, by source, entity type and outcome
  (new, changed, unchanged, deleted, rejected);
- ``mdm_match_outcomes_total``: what matching did with them, by entity type and outcome:
  ``linked`` counts records placed in a golden record (an existing or a new one), ``new`` the
  golden records created, ``review`` the steward review tasks opened;
- ``mdm_review_queue_depth``: open steward review tasks, by entity type;
- ``mdm_outbox_newest_seq``: the newest change-feed sequence number.

The two gauges are counted by the database when scraped (an index range and the outbox's
newest key), so every API process reports the same values. The counters and the histogram
are kept by each process; with several uvicorn workers `mdm.api.server.serve` points
``PROMETHEUS_MULTIPROC_DIR`` at a directory they share, and a scrape of any worker sums them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from mdm.canonical.models import EntityType
from mdm.database import UnitOfWork
from mdm.linkage.service import MatchSummary
from mdm.outbox.service import newest_seq
from mdm.stewardship.models import MatchCandidate

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Up to a minute: the feed's long poll waits that long.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

logger = logging.getLogger(__name__)


class _DatabaseGauges:
    """A collector that counts the review queue and reads the outbox head when scraped."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def collect(self) -> Iterator[Metric]:
        try:
            with self._uow.session() as session:
                rows = session.execute(
                    select(MatchCandidate.entity_type, func.count())
                    .where(MatchCandidate.status == "open")
                    .group_by(MatchCandidate.entity_type)
                )
                open_tasks: dict[str, int] = dict(rows.all())
                newest = newest_seq(session)
        except SQLAlchemyError:
            # A scrape still reports the process's own metrics when the database is away;
            # /ready says why.
            logger.warning("metrics: the database does not answer", exc_info=True)
            return
        depth = GaugeMetricFamily(
            "mdm_review_queue_depth", "Open steward review tasks.", labels=["entity_type"]
        )
        for entity in EntityType:
            depth.add_metric([entity.value], open_tasks.get(entity.value, 0))
        yield depth
        yield GaugeMetricFamily(
            "mdm_outbox_newest_seq", "The newest change-feed sequence number.", value=newest
        )


class ApiMetrics:
    """The metrics of one app, in a registry of its own.

    Apps built side by side (tests) and the process's default registry never clash.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "mdm_http_request_duration_seconds",
            "Time to answer an API request.",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingested = Counter(
            "mdm_ingest_records",
            "Records sent over the API, by outcome.",
            ["source", "entity_type", "outcome"],
            registry=self.registry,
        )
        self.matched = Counter(
            "mdm_match_outcomes",
            "What matching did with records sent over the API.",
            ["entity_type", "outcome"],
            registry=self.registry,
        )
        self._database = _DatabaseGauges(uow)
        self.registry.register(self._database)

    def observe_ingest(self, source: str, entity_type: str, outcomes: Iterable[str]) -> None:
        """Count the outcome of each record of a request (new, changed, unchanged, …)."""
        for outcome in outcomes:
            self.ingested.labels(source, entity_type, outcome).inc()

    def observe_match(self, summary: MatchSummary) -> None:
        """Count what a match run did: records linked, golden records created, reviews opened."""
        for outcome, count in (
            ("linked", summary.linked),
            ("review", summary.review_tasks),
            ("new", summary.new_goldens),
        ):
            if count:
                self.matched.labels(summary.entity_type, outcome).inc(count)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Every metric and its media type, in the format the scraper accepts (text by default).

        In multiprocess mode the counters are summed over the workers.
        """
        encode, media_type = choose_encoder(accept or "")
        if MULTIPROCESS_ENV not in os.environ:
            return encode(self.registry), media_type
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._database)
        return encode(registry), media_type


def metrics_middleware(app: ASGIApp, *, metrics: ApiMetrics) -> ASGIApp:
    """ASGI middleware: time every routed request, labelled by its route template and status.

    Labels come from the route template, never the path, so that their number stays that of
    the routes; unknown paths (404 before routing) are not timed.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_timed)
        finally:
            route: Any = scope.get("path_template") or "unrouted"
            metrics.latency.labels(scope["method"], str(route), str(status)).observe(
                time.perf_counter() - began
            )

    return middleware


@dataclass
class _ExpositionOperation(Operation):
    """The scrape's OpenAPI entry: its one answer is text, in either format it negotiates.

    Litestar would document a JSON string (and a JSON 400 for the header), as for any handler.
    """

    def __post_init__(self) -> None:
        text = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
        self.responses = {
            "200": OpenAPIResponse(
                description="the metrics in Prometheus's text format, or in OpenMetrics when "
                "the Accept header asks for application/openmetrics-text",
                content={"text/plain": text, "application/openmetrics-text": text},
            )
        }


class MetricsController(Controller):
    """The Prometheus scrape endpoint (not versioned, not authenticated, not rate limited)."""

    path = "/metrics"
    tags = ("operations",)

    @get(
        "/",
        sync_to_thread=True,
        summary="Prometheus metrics",
        operation_class=_ExpositionOperation,
    )
    def metrics(
        self,
        metrics: NamedDependency[ApiMetrics],
        accept: Annotated[str | None, HeaderParameter(name="Accept", required=False)] = None,
    ) -> Response[bytes]:
        """Latency, ingest and match counters, review-queue depth and the newest outbox seq."""
        body, media_type = metrics.exposition(accept)
        # Given as a header, the media type is sent as prometheus_client spells it (Litestar
        # would append a second charset to a text/ media type).
        return Response(body, headers={"content-type": media_type})
