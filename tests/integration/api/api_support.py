"""Test data and assertions shared by the API tests (tiny literal records, API clients)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from mdm.clients.service import create_client, mint_token
from mdm.database import UnitOfWork
from mdm.mapping.models import SourceInfo, SourceKind
from mdm.settings import Settings

MAX_BATCH = 5
JWT_SECRET = "a-test-secret-of-more-than-32-bytes-for-hs256"
SOURCES = [
    SourceInfo(code="erp", name="ERP", kind=SourceKind.ERP, trust_rank=1),
    SourceInfo(code="crm", name="CRM", kind=SourceKind.CRM, trust_rank=2),
    SourceInfo(code="dist", name="Distributor", kind=SourceKind.DISTRIBUTOR, trust_rank=20),
]


def new_client(uow: UnitOfWork, *scopes: str, source: str | None = None) -> tuple[str, str]:
    """Create an API client in the test's transaction; its client ID and secret."""
    with uow.begin() as session:
        client, secret = create_client(session, "test", scopes, source)
        return client.client_id, secret


def token_for(uow: UnitOfWork, settings: Settings, *scopes: str, source: str | None = None) -> str:
    """A bearer token of a new client holding ``scopes`` (minted directly, not over HTTP)."""
    client_id, _ = new_client(uow, *scopes, source=source)
    return mint_token(client_id, scopes, settings).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ACME_ERP: dict[str, Any] = {
    "legal_name": "Acme Werkzeuge GmbH",
    "identifiers": [{"scheme": "vat", "value": "DE136695976", "country": "DE"}],
    "addresses": [
        {
            "type": "legal",
            "lines": ["Hauptstraße 12"],
            "city": "Köln",
            "postal_code": "50667",
            "country": "DE",
        }
    ],
    "phones": ["0221 1234567"],
}
ACME_CRM: dict[str, Any] = {
    "legal_name": "ACME Werkzeuge Gesellschaft mit beschränkter Haftung",
    "identifiers": [{"scheme": "vat", "value": "DE 136 695 976", "country": "DE"}],
    "addresses": [
        {
            "type": "billing",
            "lines": ["Hauptstr. 12"],
            "city": "Koeln",
            "postal_code": "50667",
            "country": "DE",
        }
    ],
    "phones": ["+49 221 7654321"],
    "emails": ["einkauf@acme-werkzeuge.de"],
}
GLOBEX: dict[str, Any] = {
    "legal_name": "Globex Industrial Supplies Ltd",
    "identifiers": [{"scheme": "vat", "value": "GB980780684", "country": "GB"}],
    "addresses": [
        {
            "type": "legal",
            "lines": ["1 Dock Road"],
            "city": "Leeds",
            "postal_code": "LS1 4AP",
            "country": "GB",
        }
    ],
}


def put(
    client: TestClient, source: str, source_id: str, body: dict[str, Any], **headers: str
) -> Any:
    response = client.put(
        f"/v1/sources/{source}/records/customer/{source_id}", json=body, headers=headers
    )
    assert response.status_code in {200, 201}, response.text
    return response.json()


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is RFC 9457 problem details with the hub's stable code and a trace ID."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:mdm-hub:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["trace_id"] == response.headers["x-request-id"]
    return body
