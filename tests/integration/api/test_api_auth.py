"""OAuth2 client credentials over HTTP: the token endpoint, bearer tokens, scopes, revocation."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import jwt
import pytest
from api_support import ACME_ERP, assert_problem, bearer, new_client, token_for
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy import select

from mdm.api.auth import ClientDirectory, authentication_middleware, authorize
from mdm.api.problems import problem_response
from mdm.audit.models import AuditEntry
from mdm.clients.service import mint_token, revoke_client
from mdm.database import UnitOfWork, utcnow
from mdm.settings import Settings

# The fixtures "client", "anonymous", "make_app" and "settings".
pytest_plugins = ["api_fixtures"]

TOKEN = "/v1/oauth/token"
RECORD = "/v1/sources/{}/records/customer/{}"


def credentials(client_id: str, secret: str, **more: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        **more,
    }


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 error body (application/json) that is also problem details."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == body["code"] == error
    assert body["error_description"] == body["detail"]
    assert body["trace_id"] == response.headers["x-request-id"]
    return body


def without_trace(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "trace_id"}


# --- the token endpoint ---------------------------------------------------------------------


def test_client_credentials_give_a_bearer_token_that_works(
    anonymous: TestClient, uow: UnitOfWork
) -> None:
    client_id, secret = new_client(uow, "golden:read")
    response = anonymous.post(TOKEN, data=credentials(client_id, secret))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 900, "golden:read")
    assert anonymous.get("/v1/golden", headers=bearer(body["access_token"])).status_code == 200


def test_http_basic_client_authentication(anonymous: TestClient, uow: UnitOfWork) -> None:
    client_id, secret = new_client(uow, "feed:read")
    grant = {"grant_type": "client_credentials"}
    response = anonymous.post(TOKEN, data=grant, headers=basic(client_id, secret))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "feed:read"
    both = anonymous.post(
        TOKEN, data=credentials(client_id, secret), headers=basic(client_id, secret)
    )
    assert_oauth_error(both, 400, "invalid_request")
    garbled = anonymous.post(TOKEN, data=grant, headers={"Authorization": "Basic !!"})
    assert_oauth_error(garbled, 401, "invalid_client")


def test_a_wrong_secret_and_an_unknown_client_answer_alike(
    anonymous: TestClient, uow: UnitOfWork
) -> None:
    client_id, secret = new_client(uow, "admin")
    wrong = anonymous.post(TOKEN, data=credentials(client_id, secret[:-1] + "x"))
    body = assert_oauth_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"] == 'Basic realm="mdm-hub"'
    unknown = anonymous.post(TOKEN, data=credentials("nobody-00000000", secret))
    assert without_trace(assert_oauth_error(unknown, 401, "invalid_client")) == without_trace(body)
    no_secret = anonymous.post(TOKEN, data={"grant_type": "client_credentials"})
    assert_oauth_error(no_secret, 401, "invalid_client")


def test_the_grant_type_must_be_client_credentials(anonymous: TestClient, uow: UnitOfWork) -> None:
    client_id, secret = new_client(uow, "admin")
    missing = credentials(client_id, secret)
    del missing["grant_type"]
    assert_oauth_error(anonymous.post(TOKEN, data=missing), 400, "invalid_request")
    password = credentials(client_id, secret, grant_type="password")
    assert_oauth_error(anonymous.post(TOKEN, data=password), 400, "unsupported_grant_type")


def test_a_form_that_repeats_a_parameter_is_an_invalid_request(
    anonymous: TestClient, uow: UnitOfWork
) -> None:
    # RFC 6749 §3.2: parameters must not repeat; it was a 422 problem, which the RFC has not.
    client_id, secret = new_client(uow, "admin")
    form = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    repeated = anonymous.post(
        TOKEN,
        content=f"{form}&client_secret=again",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = assert_oauth_error(repeated, 400, "invalid_request")
    assert "client_secret" in body["error_description"]


def test_a_client_id_the_hub_never_issues_is_an_unknown_client(
    anonymous: TestClient, uow: UnitOfWork
) -> None:
    # A NUL (U+0000) was looked up, and PostgreSQL refused it: a 500 instead of a 401.
    client_id, secret = new_client(uow, "admin")
    for garbled in (f"{client_id}\x00", "x" * 1000):
        form = anonymous.post(TOKEN, data=credentials(garbled, secret))
        assert_oauth_error(form, 401, "invalid_client")
        http_basic = anonymous.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=basic(garbled, secret)
        )
        assert_oauth_error(http_basic, 401, "invalid_client")


def test_a_requested_scope_narrows_the_token_and_unheld_ones_are_refused(
    anonymous: TestClient, uow: UnitOfWork
) -> None:
    admin_id, admin_secret = new_client(uow, "admin")
    narrowed = anonymous.post(TOKEN, data=credentials(admin_id, admin_secret, scope="golden:read"))
    token = narrowed.json()["access_token"]
    assert narrowed.json()["scope"] == "golden:read"
    response = anonymous.put(RECORD.format("erp", "100"), json=ACME_ERP, headers=bearer(token))
    assert_problem(response, 403, "insufficient_scope")

    reader_id, reader_secret = new_client(uow, "golden:read")
    for scope in ("steward", "golden:write", "golden:read admin"):
        refused = anonymous.post(TOKEN, data=credentials(reader_id, reader_secret, scope=scope))
        assert_oauth_error(refused, 400, "invalid_scope")

    writer_id, writer_secret = new_client(uow, "source:*:write")
    one = anonymous.post(
        TOKEN, data=credentials(writer_id, writer_secret, scope="source:crm:write")
    )
    assert one.json()["scope"] == "source:crm:write"


# --- bearer tokens --------------------------------------------------------------------------


def test_no_token_is_a_401_with_a_bearer_challenge(anonymous: TestClient) -> None:
    response = anonymous.get("/v1/golden")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="mdm-hub"'
    # Another scheme is no bearer token either.
    other = anonymous.get("/v1/golden", headers={"Authorization": "Basic YTpi"})
    assert_problem(other, 401, "unauthorized")


def _bad_token(case: str, client_id: str, settings: Settings) -> str:
    now = utcnow()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": client_id,
        "scope": "admin",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    if case == "expired":
        return mint_token(client_id, ["admin"], settings, now=now - timedelta(hours=1)).token
    if case == "forged":
        return jwt.encode(claims, "another-secret-of-at-least-32-bytes!!", algorithm="HS256")
    if case == "wrong audience":
        return jwt.encode({**claims, "aud": "another-api"}, settings.jwt_secret, algorithm="HS256")
    if case == "wrong issuer":
        return jwt.encode({**claims, "iss": "someone"}, settings.jwt_secret, algorithm="HS256")
    if case == "unsigned":
        return jwt.encode(claims, None, algorithm="none")
    if case == "no expiry":
        del claims["exp"]
        return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert case == "garbage"
    return "not.a.token"


@pytest.mark.parametrize(
    "case",
    ["expired", "forged", "wrong audience", "wrong issuer", "unsigned", "no expiry", "garbage"],
)
def test_a_token_that_is_not_valid_is_a_401_invalid_token(
    anonymous: TestClient, uow: UnitOfWork, settings: Settings, case: str
) -> None:
    client_id, _ = new_client(uow, "admin")
    response = anonymous.get("/v1/golden", headers=bearer(_bad_token(case, client_id, settings)))
    problem = assert_problem(response, 401, "invalid_token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="mdm-hub", error="invalid_token", error_description=')
    if case == "expired":
        assert "expired" in problem["detail"]


def test_a_revoked_client_loses_its_tokens_and_gets_no_new_ones(
    make_app: Any, uow: UnitOfWork
) -> None:
    client_id, secret = new_client(uow, "golden:read")
    with TestClient(make_app(client_cache_seconds=0)) as http:
        token = http.post(TOKEN, data=credentials(client_id, secret)).json()["access_token"]
        assert http.get("/v1/golden", headers=bearer(token)).status_code == 200
        with uow.begin() as session:
            revoke_client(session, client_id)
        problem = assert_problem(
            http.get("/v1/golden", headers=bearer(token)), 401, "invalid_token"
        )
        assert "revoked" in problem["detail"]
        again = http.post(TOKEN, data=credentials(client_id, secret))
        assert_oauth_error(again, 401, "invalid_client")


# --- scopes ---------------------------------------------------------------------------------

GET_GOLDEN = ("GET", "/v1/golden")
GET_FEED = ("GET", "/v1/feed")
GET_REVIEW = ("GET", "/v1/review")
PUT_ERP = ("PUT", RECORD.format("erp", "100"))
PUT_CRM = ("PUT", RECORD.format("crm", "0015A"))
# For each scope: a call it allows, and one it does not.
SCOPE_CASES = [
    ("golden:read", GET_GOLDEN, PUT_ERP, "source:erp:write"),
    ("feed:read", GET_FEED, GET_GOLDEN, "golden:read"),
    ("steward", GET_REVIEW, GET_FEED, "feed:read"),
    ("source:erp:write", PUT_ERP, PUT_CRM, "source:crm:write"),
    ("source:*:write", PUT_CRM, GET_REVIEW, "steward"),
    ("golden:read", ("POST", "/v1/match/customer"), GET_REVIEW, "steward"),
]


def _call(http: TestClient, call: tuple[str, str], token: str) -> Any:
    method, url = call
    body = ACME_ERP if method in {"PUT", "POST"} else None
    return http.request(method, url, json=body, headers=bearer(token))


@pytest.mark.parametrize(("scope", "allowed", "forbidden", "needed"), SCOPE_CASES)
def test_each_scope_allows_its_calls_and_no_others(
    anonymous: TestClient,
    uow: UnitOfWork,
    settings: Settings,
    scope: str,
    allowed: tuple[str, str],
    forbidden: tuple[str, str],
    needed: str,
) -> None:
    token = token_for(uow, settings, scope)
    assert _call(anonymous, allowed, token).status_code in {200, 201}
    response = _call(anonymous, forbidden, token)
    problem = assert_problem(response, 403, "insufficient_scope")
    assert needed in problem["detail"]
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="mdm-hub", error="insufficient_scope", scope="{needed}"'
    )


def test_admin_covers_every_scope(
    anonymous: TestClient, uow: UnitOfWork, settings: Settings
) -> None:
    token = token_for(uow, settings, "admin")
    for call in (GET_GOLDEN, GET_FEED, GET_REVIEW, PUT_ERP, PUT_CRM):
        assert _call(anonymous, call, token).status_code in {200, 201}, call


def test_a_route_that_names_no_scope_needs_admin(uow: UnitOfWork, settings: Settings) -> None:
    @get("/unscoped", sync_to_thread=False)
    def unscoped() -> str:
        return "ok"

    app = Litestar(
        route_handlers=[unscoped],
        middleware=[
            lambda app: authentication_middleware(
                app, settings=settings, directory=ClientDirectory.on(uow, 0)
            )
        ],
        guards=[authorize],
        exception_handlers={Exception: problem_response},
    )
    with TestClient(app) as http:
        steward = bearer(token_for(uow, settings, "steward", "golden:read", "feed:read"))
        assert_problem(http.get("/unscoped", headers=steward), 403, "insufficient_scope")
        admin = bearer(token_for(uow, settings, "admin"))
        assert http.get("/unscoped", headers=admin).text == "ok"


def test_the_actor_of_a_change_is_the_client_id(
    anonymous: TestClient, uow: UnitOfWork, settings: Settings
) -> None:
    client_id, _ = new_client(uow, "source:erp:write")
    token = mint_token(client_id, ["source:erp:write"], settings).token
    response = anonymous.put(RECORD.format("erp", "100"), json=ACME_ERP, headers=bearer(token))
    assert response.status_code == 201
    with uow.session() as session:
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert actors == {client_id}


def test_probes_metrics_and_the_schema_need_no_token(anonymous: TestClient) -> None:
    for url in ("/health", "/ready", "/metrics", "/schema/openapi.json"):
        assert anonymous.get(url).status_code == 200, url


def test_the_openapi_document_shows_the_security_scheme_and_auth_problems(
    anonymous: TestClient,
) -> None:
    schema = anonymous.get("/schema/openapi.json").json()
    flow = schema["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == TOKEN
    assert {"golden:read", "feed:read", "steward", "admin", "source:*:write"} <= set(flow["scopes"])
    read = schema["paths"]["/v1/golden/{golden_id}"]["get"]
    assert read["security"] == [{"oauth2": ["golden:read"]}, {"oauth2": ["admin"]}]
    assert {"401", "403", "429"} <= set(read["responses"])
    put = schema["paths"]["/v1/sources/{source}/records/{entity}/{source_id}"]["put"]
    assert {"oauth2": ["source:*:write"]} in put["security"]
    token = schema["paths"][TOKEN]["post"]
    assert "security" not in token
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    assert token["responses"]["401"]["content"].keys() == {"application/json"}
    assert "security" not in schema["paths"]["/health"]["get"]
