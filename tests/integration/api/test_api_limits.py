"""Limits: requests per client (429 with Retry-After and RateLimit headers), body size (413).

The batch limit (413 ``batch_too_large``) is tested with the batches, in test_api_records.
"""

from __future__ import annotations

from typing import Any

from api_support import ACME_ERP, assert_problem, bearer, new_client, token_for
from litestar.testing import TestClient

from mdm.database import UnitOfWork
from mdm.settings import Settings

# The fixtures "client", "make_app" and "settings".
pytest_plugins = ["api_fixtures"]


def test_each_client_has_its_own_request_budget(
    make_app: Any, uow: UnitOfWork, settings: Settings
) -> None:
    first, second = (bearer(token_for(uow, settings, "golden:read")) for _ in range(2))
    with TestClient(make_app(rate_limit_per_minute=2)) as http:
        allowed = http.get("/v1/golden", headers=first)
        assert allowed.status_code == 200
        assert allowed.headers["ratelimit-limit"] == "2"
        assert allowed.headers["ratelimit-remaining"] == "1"
        assert allowed.headers["ratelimit-policy"] == "2;w=60"
        assert http.get("/v1/golden", headers=first).headers["ratelimit-remaining"] == "0"

        refused = http.get("/v1/golden", headers=first)
        problem = assert_problem(refused, 429, "too_many_requests")
        assert "2 requests a minute" in problem["detail"]
        # One request comes back every 30 seconds at 2 a minute.
        assert 1 <= int(refused.headers["retry-after"]) <= 30
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60

        assert http.get("/v1/golden", headers=second).status_code == 200
        # Probes and metrics are never limited.
        for _ in range(3):
            assert http.get("/health").status_code == 200
            assert "ratelimit-limit" not in http.get("/metrics").headers


def test_the_token_endpoint_is_limited_by_address(make_app: Any, uow: UnitOfWork) -> None:
    client_id, secret = new_client(uow, "golden:read")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    with TestClient(make_app(rate_limit_per_minute=1)) as http:
        assert http.post("/v1/oauth/token", data=form).status_code == 200
        refused = http.post("/v1/oauth/token", data=form)
        assert_problem(refused, 429, "too_many_requests")
        assert refused.headers["retry-after"]


def test_a_body_over_the_size_limit_is_a_413_problem(
    make_app: Any, uow: UnitOfWork, settings: Settings
) -> None:
    admin = bearer(token_for(uow, settings, "admin"))
    with TestClient(make_app(max_request_bytes=2048)) as http:
        small = http.put("/v1/sources/erp/records/customer/1", json=ACME_ERP, headers=admin)
        assert small.status_code == 201
        big = {**ACME_ERP, "emails": [f"buyer{i}@acme.example" for i in range(200)]}
        response = http.put("/v1/sources/erp/records/customer/1", json=big, headers=admin)
        assert_problem(response, 413, "payload_too_large")


def test_a_malformed_body_is_a_400_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/sources/erp/records/customer",
        content=b'{"records": [',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 400, "bad_request")
