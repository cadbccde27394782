"""Who is calling: bearer tokens in, a `Caller` in the request scope, scopes checked per route.

The access policy is data on the route handlers (their resolved ``opt``), set in one table in
the app factory:

- ``opt[PUBLIC]``: no token needed (health, readiness, metrics, the schema, the token endpoint);
- ``opt[SCOPE]``: the scope a request needs; ``{source}`` stands for the path's source code.
  A route that names no scope needs ``admin``: a new endpoint is closed until someone decides
  who may call it.

`authentication_middleware` checks the token (signature, expiry, issuer, audience) and that its
client is still active — a database look-up cached for ``MDM_CLIENT_CACHE_SECONDS`` — and puts
the `Caller` in the scope; `authorize`, the app's guard, checks the route's scope. Failures are
problem responses: 401 with ``WWW-Authenticate: Bearer`` (``error="invalid_token"`` for a bad
token), 403 ``insufficient_scope``.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OAuthFlow, OAuthFlows, SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

from mdm.api.problems import send_problem
from mdm.clients.scopes import ADMIN, ANY_SOURCE_WRITE, DESCRIPTIONS, covers
from mdm.clients.service import ActiveClient, TokenClaims, find_active_client, read_token
from mdm.database import UnitOfWork
from mdm.errors import (
    AuthenticationError,
    InvalidClientError,
    InvalidTokenError,
    OAuthError,
    PermissionDeniedError,
)
from mdm.settings import Settings

PUBLIC = "public"
SCOPE = "scope"
# Routes whose answers are not filtered to a partner's segment refuse partner clients.
NOT_FOR_PARTNERS = "not_for_partners"
OAUTH2 = "oauth2"
TOKEN_PATH = "/v1/oauth/token"  # noqa: S105 - a path, not a password


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client of a request: its ID, the token's scopes, its partner source."""

    client_id: str
    scopes: frozenset[str]
    # The source system of a partner client: it sees only golden records carrying its records.
    source: str | None


def requires(scope: str) -> dict[str, Any]:
    """The options of a router whose routes need ``scope``: the check and its OpenAPI entry.

    The OpenAPI entry lists each scope that covers ``scope`` as an alternative.
    """
    alternatives = [scope]
    if scope.startswith("source:"):
        alternatives.append(ANY_SOURCE_WRITE)
    if scope != ADMIN:
        alternatives.append(ADMIN)
    return {"opt": {SCOPE: scope}, "security": [{OAUTH2: [s]} for s in alternatives]}


def security_scheme() -> SecurityScheme:
    """The OpenAPI description of the API's OAuth2 client-credentials flow."""
    return SecurityScheme(
        type="oauth2",
        description="OAuth2 client credentials: POST the client's ID and secret to "
        f"{TOKEN_PATH} and send the token as `Authorization: Bearer <token>`.",
        flows=OAuthFlows(client_credentials=OAuthFlow(token_url=TOKEN_PATH, scopes=DESCRIPTIONS)),
    )


class ClientDirectory:
    """Which clients are active, looked up in the database and trusted for ``ttl`` seconds.

    A revoked client's tokens stop working once its entry expires. Entries exist only for
    clients named by tokens this hub signed, so the cache is as large as the client list.
    """

    def __init__(
        self,
        find: Callable[[str], ActiveClient | None],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._find = find
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, ActiveClient | None]] = {}

    @classmethod
    def on(cls, uow: UnitOfWork, ttl: float) -> ClientDirectory:
        """A directory that reads the ``api_client`` table through a unit of work."""

        def find(client_id: str) -> ActiveClient | None:
            with uow.session() as session:
                return find_active_client(session, client_id)

        return cls(find, ttl)

    async def find(self, client_id: str) -> ActiveClient | None:
        """The active client with this ID, or None when it is unknown or revoked."""
        now = self._clock()
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        # The driver blocks: look up in a worker thread, not on the event loop.
        client = await anyio.to_thread.run_sync(self._find, client_id)
        if self._ttl > 0:
            self._entries[client_id] = (now + self._ttl, client)
        return client


class TokenVerifier:
    """Checks bearer tokens, remembering the claims of each valid one until it expires.

    A client sends the same token with every request for its lifetime (15 minutes); checking
    its signature once, not on every request, saves a fifth of a look-up's time. The memory is
    per process and bounded: when full, the oldest entries go. Revocation is not the token's
    business: `ClientDirectory` answers it on every request.
    """

    def __init__(
        self,
        settings: Settings,
        size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._size = size
        self._clock = clock
        self._valid: dict[str, TokenClaims] = {}

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid token; `InvalidTokenError` otherwise."""
        claims = self._valid.get(token)
        if claims is not None and self._clock() <= claims.valid_until:
            return claims
        self._valid.pop(token, None)
        # Expired, forged or new: the full check says which.
        claims = read_token(token, self._settings)
        if len(self._valid) >= self._size:
            for oldest in list(self._valid)[: self._size // 10 + 1]:
                del self._valid[oldest]
        self._valid[token] = claims
        return claims


def bearer_token(headers: Headers) -> str:
    """The token of an ``Authorization: Bearer …`` header; `AuthenticationError` without one."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationError(
            f"this endpoint needs an access token: get one from {TOKEN_PATH} and send it as "
            "'Authorization: Bearer <token>'"
        )
    if not token.strip():
        raise InvalidTokenError("the Authorization header holds no token")
    return token.strip()


async def authenticate(
    headers: Headers, verifier: TokenVerifier, directory: ClientDirectory
) -> Caller:
    """The caller a request's bearer token proves, or an `AuthenticationError`."""
    claims = verifier.verify(bearer_token(headers))
    client = await directory.find(claims.client_id)
    if client is None:
        raise InvalidTokenError("the token's client is revoked or unknown")
    return Caller(client.client_id, claims.scopes, client.source)


def route_opt(scope: Scope) -> dict[str, Any]:
    """The resolved ``opt`` of the route a request goes to (empty before routing)."""
    handler = scope.get("route_handler")
    return handler.opt if isinstance(handler, BaseRouteHandler) else {}


def authentication_middleware(
    app: ASGIApp, *, settings: Settings, directory: ClientDirectory
) -> ASGIApp:
    """ASGI middleware: authenticate every request to a non-public route (401 otherwise)."""
    verifier = TokenVerifier(settings)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or route_opt(scope).get(PUBLIC):
            await app(scope, receive, send)
            return
        try:
            scope["user"] = await authenticate(Headers.from_scope(scope), verifier, directory)
        except AuthenticationError as exc:
            # Errors raised here would bypass the middleware outside (metrics): answer now.
            await send_problem(scope, receive, send, exc)
            return
        await app(scope, receive, send)

    return middleware


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The authenticated caller of a request (set by `authentication_middleware`)."""
    caller = connection.scope.get("user")
    if not isinstance(caller, Caller):
        raise AuthenticationError("this request carries no authenticated client")
    return caller


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The app's guard: the caller's scopes must cover the route's (``admin`` if it names none).

    The check runs before any look-up, so a 403 says nothing about whether the resource
    (a source system, a record) exists. It is a coroutine although it never waits: Litestar
    runs a plain-function guard in a worker thread, a hand-over there and back on every
    request for a check of a few microseconds.
    """
    if handler.opt.get(PUBLIC):
        return
    needed = str(handler.opt.get(SCOPE, ADMIN)).format_map(connection.path_params)
    caller = caller_of(connection)
    if not covers(caller.scopes, needed):
        raise PermissionDeniedError(f"this request needs the scope '{needed}'", needed)
    if handler.opt.get(NOT_FOR_PARTNERS) and caller.source is not None:
        raise PermissionDeniedError(
            "partner clients cannot use this endpoint: its answers are not limited to the "
            "golden records a partner shares",
            needed,
        )


def client_credentials(
    authorization: str | None, client_id: str | None, client_secret: str | None
) -> tuple[str | None, str | None]:
    """The client's ID and secret, from HTTP Basic or from the form (RFC 6749 §2.3.1).

    >>> client_credentials("Basic ZXJwLTE6czNjcmV0", None, None)
    ('erp-1', 's3cret')
    >>> client_credentials(None, "erp-1", "s3cret")
    ('erp-1', 's3cret')
    """
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return client_id, client_secret
    if client_id is not None or client_secret is not None:
        raise OAuthError(
            "invalid_request", "send the client's credentials either as HTTP Basic or in the form"
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClientError("the HTTP Basic credentials are not base64 of id:secret") from exc
    name, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClientError("the HTTP Basic credentials are not base64 of id:secret")
    # RFC 6749 has clients form-encode both parts before joining them.
    return unquote_plus(name), unquote_plus(secret)
