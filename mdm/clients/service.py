"""API clients: create, list and revoke them, check their credentials, mint and read tokens.

Secrets are 256-bit random strings shown once at creation; only their scrypt hash is stored and
they are compared in constant time. Tokens are JWTs signed with HS256 (``MDM_JWT_SECRET``)
that name the client (``sub``), the scopes granted (``scope``), the issuer and audience of this
hub, and expire after ``MDM_TOKEN_TTL_SECONDS``.

`shared_with` is the partner segment: the golden records that carry a record of one source.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from mdm.clients.models import ApiClient
from mdm.clients.scopes import check_scopes, covers, is_scope, source_of, split_scopes
from mdm.database import utcnow
from mdm.errors import (
    ConflictError,
    InvalidClientError,
    InvalidInputError,
    InvalidTokenError,
    NotFoundError,
    OAuthError,
)
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.settings import Settings
from mdm.sources.models import SourceRecord, SourceSystem
from mdm.sources.service import get_source_system

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
# The IDs `create_client` issues: a name and 8 hex digits. Anything else names no client and is
# not looked up (PostgreSQL would refuse some of it, such as NUL).
_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}-[0-9a-f]{8}")
# scrypt's cost: 16 MiB and some tens of milliseconds per check. The secrets are random 256-bit
# strings, so this guards against nothing a cheap hash would not; it is defence in depth should
# the table leak, at a price paid once per token, not per request.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_ALGORITHM = "HS256"
# Tolerated clock difference between the API processes that mint and those that check tokens.
LEEWAY_SECONDS = 10
_FAILED = "client authentication failed"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A token minted for a client, with what it grants and for how long."""

    token: str
    scopes: list[str]
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: the client and the scopes granted to it."""

    client_id: str
    scopes: frozenset[str]
    # The token stops being valid after this moment (seconds since the epoch, leeway included).
    valid_until: float = float("inf")


@dataclass(frozen=True, slots=True)
class ActiveClient:
    """What a request needs to know of a client that is not revoked."""

    client_id: str
    source: str | None


# --- secrets --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: scrypt needs 128·n·r bytes; the default cap (32 MiB) would refuse a raised cost.
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r
    )


def hash_secret(secret: str) -> str:
    """The stored form of a secret: scrypt with a random salt, its cost written alongside.

    >>> verify_secret("s3cret", hash_secret("s3cret")), verify_secret("guess", hash_secret("s3"))
    (True, False)
    """
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, 32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether a secret matches its stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = _unb64(digest)
        if scheme != "scrypt":
            return False
        candidate = _scrypt(secret, _unb64(salt), int(n), int(r), int(p), len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, expected)


@functools.cache
def _decoy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(32))


# --- clients --------------------------------------------------------------------------------


def create_client(
    session: Session, name: str, scopes: Iterable[str], source: str | None = None
) -> tuple[ApiClient, str]:
    """Register a client; returns it and its secret, which is not stored and never shown again.

    ``scopes`` may be words or space-separated lists. A ``source`` binds the client to that
    source system as a partner (see `mdm.clients.scopes.check_scopes`). Every source named,
    by the binding or by a write scope, must be registered.
    """
    if not _NAME.match(name):
        raise InvalidInputError(
            f"'{name}' is not a client name: 1-40 of a-z 0-9 . _ -, starting with a-z or 0-9",
            [{"field": "name", "message": "lower-case letters, digits, '.', '_' or '-'"}],
        )
    wanted = split_scopes(scopes)
    check_scopes(wanted, source)
    named = {code for scope in wanted if (code := source_of(scope))}
    for code in sorted(named | ({source} if source else set())):
        get_source_system(session, code)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=f"{name}-{secrets.token_hex(4)}",
        name=name,
        secret_hash=hash_secret(secret),
        scopes=wanted,
        source_code=source,
    )
    session.add(client)
    session.flush()
    return client, secret


def list_clients(session: Session, *, include_revoked: bool = False) -> list[ApiClient]:
    """Clients in the order they were created (active ones only, unless asked)."""
    query = select(ApiClient).order_by(ApiClient.id)
    if not include_revoked:
        query = query.where(ApiClient.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_client(session: Session, client_id: str) -> ApiClient:
    """Revoke a client: its tokens stop working and it gets no new ones; the row stays."""
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        raise NotFoundError(f"no API client '{client_id}'")
    if client.revoked_at is not None:
        raise ConflictError(f"API client '{client_id}' was revoked at {client.revoked_at}")
    client.revoked_at = utcnow()
    session.flush()
    return client


def find_active_client(session: Session, client_id: str) -> ActiveClient | None:
    """The client of a token, if it exists and is not revoked (one look-up by a unique key)."""
    row = session.execute(
        select(ApiClient.client_id, ApiClient.source_code).where(
            ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else ActiveClient(row.client_id, row.source_code)


def authenticate_client(session: Session, client_id: str, secret: str) -> ApiClient:
    """The active client these credentials prove; `InvalidClientError` otherwise.

    Unknown, revoked and wrong-secret answers are alike, and an unknown client still costs a
    hash check, so neither the answer nor its timing tells which client IDs exist.
    """
    client = None
    if _CLIENT_ID.fullmatch(client_id):
        client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        verify_secret(secret, _decoy_hash())
        raise InvalidClientError(_FAILED)
    if not verify_secret(secret, client.secret_hash) or client.revoked_at is not None:
        raise InvalidClientError(_FAILED)
    return client


def grant_scopes(held: Sequence[str], requested: Sequence[str]) -> list[str]:
    """The scopes a token gets: all the client holds, or the requested ones it holds.

    >>> grant_scopes(["admin"], []), grant_scopes(["source:*:write"], ["source:erp:write"])
    (['admin'], ['source:erp:write'])
    """
    if not requested:
        return list(held)
    for scope in requested:
        if not is_scope(scope):
            raise OAuthError("invalid_scope", f"'{scope}' is not a scope of this hub")
        if not covers(held, scope):
            raise OAuthError("invalid_scope", f"this client does not hold the scope '{scope}'")
    return list(requested)


# --- tokens ---------------------------------------------------------------------------------


def mint_token(
    client_id: str, scopes: Sequence[str], settings: Settings, *, now: datetime | None = None
) -> AccessToken:
    """A signed, short-lived access token for a client and the scopes granted to it."""
    issued = now or utcnow()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": client_id,
        "scope": " ".join(scopes),
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.token_ttl_seconds),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm=_ALGORITHM)
    return AccessToken(token, list(scopes), settings.token_ttl_seconds)


def read_token(token: str, settings: Settings) -> TokenClaims:
    """The claims of a token this hub signed; `InvalidTokenError` if it is not valid now."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[_ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidTokenError("the token has expired; ask for a new one") from exc
    except jwt.InvalidAudienceError as exc:
        raise InvalidTokenError("the token is meant for another audience") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidTokenError("the token is not one this hub signed, or is malformed") from exc
    scope = claims.get("scope", "")
    if not isinstance(scope, str) or not isinstance(claims["sub"], str):
        raise InvalidTokenError("the token is malformed")
    return TokenClaims(
        claims["sub"], frozenset(scope.split()), float(claims["exp"]) + LEEWAY_SECONDS
    )


# --- partner segment ------------------------------------------------------------------------


def shared_with(source: str) -> ColumnElement[bool]:
    """A filter on golden records: those that carry a record of ``source`` (a partner's own)."""
    return GoldenRecord.id.in_(
        select(GoldenMember.golden_id)
        .join(SourceRecord, SourceRecord.id == GoldenMember.source_record_id)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(SourceSystem.code == source)
    )
