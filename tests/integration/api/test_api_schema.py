"""The OpenAPI document as a property (schemathesis): every answer is one the document gives.

Schemathesis reads ``/schema/openapi.json`` from the real app and, for every operation, sends
the document's examples, the boundary values of each parameter (its coverage phase) and
requests that Hypothesis generates from the schemas, valid and invalid. Every answer must be:

- no server error: invalid input is a 4xx problem, never a 500;
- of a status code the operation documents;
- of a content type documented for that status;
- valid against the schema documented for that status and content type.

The app runs on the test's rolled-back transaction with the fixtures' source systems and
customer model and three records (so that reads and changes find something), and is called
with an admin token. Its rate limit is off so that every request reaches its handler (the
limit has its own tests, in test_api_limits). The run is deterministic: a fixed seed, Hypothesis
derandomised, no example database, no shrinking.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from api_support import ACME_CRM, ACME_ERP, GLOBEX, bearer, put, token_for
from litestar.testing import TestClient
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from mdm.database import UnitOfWork
from mdm.settings import Settings

# The fixtures "make_app" and "settings".
pytest_plugins = ["api_fixtures"]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
# Requests Hypothesis generates per operation, on top of the examples and boundary values:
# enough to reach past validation into every handler, few enough for CI (both databases in
# about half a minute).
MAX_EXAMPLES = 20
SEED = 20_241_126
# The feed's long poll holds a request up to ``wait`` seconds (0-60) when no event comes:
# generated waits are cut to one second, which still exercises the wait.
FEED = "/v1/feed"
MAX_FEED_WAIT = 1


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's from_fixture reads and rewrites ``Node._nodeid``, which pytest 9.2
    # replaced by ``Node._id``: give it the attribute (its subtests are labelled anyway).
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def admin_headers(uow: UnitOfWork, settings: Settings) -> dict[str, str]:
    return bearer(token_for(uow, settings, "admin"))


@pytest.fixture
def api_schema(make_app: Any, admin_headers: dict[str, str]) -> BaseSchema:
    """The app's OpenAPI document, read from the app, with three records in the hub."""
    app = make_app(rate_limit_per_minute=0)
    with TestClient(app) as http:
        http.headers.update(admin_headers)
        put(http, "erp", "100", ACME_ERP)
        put(http, "crm", "0015A", ACME_CRM)
        put(http, "erp", "200", GLOBEX)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    schema.config.checks.update(included_check_names=CHECKS)
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True, database="none"
    )
    schema.config.seed = SEED

    @schema.hook("map_query")
    def bound_feed_wait(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
        if context.operation.path != FEED or query is None:
            return query
        wait = query.get("wait")
        if isinstance(wait, int) and not isinstance(wait, bool) and wait > MAX_FEED_WAIT:
            return {**query, "wait": MAX_FEED_WAIT}
        return query

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_answer_is_one_the_document_gives(case: Case, admin_headers: dict[str, str]) -> None:
    # Operations that name no security requirement (probes, metrics, the token endpoint) get
    # no bearer token: the token endpoint takes its generated Authorization header (HTTP
    # Basic client credentials) as it is.
    secured = "security" in case.operation.definition.raw
    case.call_and_validate(headers=admin_headers if secured else None)
