"""Client secrets (scrypt hashes) and access tokens (HS256 JWTs), without a database."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from mdm.clients.service import hash_secret, mint_token, read_token, verify_secret
from mdm.database import utcnow
from mdm.errors import InvalidTokenError
from mdm.settings import Settings

SETTINGS = Settings(jwt_secret="a-unit-test-secret-of-more-than-32-bytes", token_ttl_seconds=60)


def test_a_secret_is_stored_as_a_salted_scrypt_hash() -> None:
    stored = hash_secret("s3cret")
    assert stored.split("$")[:4] == ["scrypt", "16384", "8", "1"]
    assert "s3cret" not in stored
    assert stored != hash_secret("s3cret")  # a new salt each time
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3creT", stored)


@pytest.mark.parametrize(
    "stored", ["", "plain", "md5$1$1$1$c2FsdA$ZGlnZXN0", "scrypt$x$8$1$c2FsdA$ZGlnZXN0"]
)
def test_a_hash_in_another_form_matches_nothing(stored: str) -> None:
    assert not verify_secret("anything", stored)


def test_a_token_names_its_client_scopes_issuer_audience_and_expiry() -> None:
    minted = mint_token("erp-1a2b3c4d", ["golden:read", "feed:read"], SETTINGS)
    assert minted.expires_in == 60
    claims = jwt.decode(minted.token, options={"verify_signature": False})
    assert claims["sub"] == "erp-1a2b3c4d"
    assert claims["scope"] == "golden:read feed:read"
    assert (claims["iss"], claims["aud"]) == ("mdm-hub", "mdm-hub-api")
    assert claims["exp"] - claims["iat"] == 60
    read = read_token(minted.token, SETTINGS)
    assert (read.client_id, read.scopes) == ("erp-1a2b3c4d", {"golden:read", "feed:read"})


def test_an_expired_token_is_refused_after_the_leeway() -> None:
    long_ago = utcnow() - timedelta(seconds=60 + 15)
    with pytest.raises(InvalidTokenError, match="expired"):
        read_token(mint_token("erp-1", ["admin"], SETTINGS, now=long_ago).token, SETTINGS)
    # Within the clocks' leeway (10 s) it still counts.
    recent = utcnow() - timedelta(seconds=60 + 5)
    assert read_token(mint_token("erp-1", ["admin"], SETTINGS, now=recent).token, SETTINGS)


def test_tokens_of_another_secret_issuer_or_audience_are_refused() -> None:
    token = mint_token("erp-1", ["admin"], SETTINGS).token
    for other in (
        SETTINGS.model_copy(update={"jwt_secret": "another-secret-of-more-than-32-bytes!"}),
        SETTINGS.model_copy(update={"jwt_issuer": "another-hub"}),
        SETTINGS.model_copy(update={"jwt_audience": "another-api"}),
    ):
        with pytest.raises(InvalidTokenError):
            read_token(token, other)


def test_a_token_signed_otherwise_or_missing_claims_is_refused() -> None:
    now = utcnow()
    claims = {"iss": "mdm-hub", "aud": "mdm-hub-api", "sub": "erp-1", "scope": "admin"}
    timed = {**claims, "iat": now, "exp": now + timedelta(minutes=1)}
    unsigned = jwt.encode(timed, None, algorithm="none")
    # Another algorithm (its key long enough for it, to keep PyJWT from warning).
    hs512 = jwt.encode(timed, SETTINGS.jwt_secret * 2, algorithm="HS512")
    no_expiry = jwt.encode({**claims, "iat": now}, SETTINGS.jwt_secret, algorithm="HS256")
    numeric_subject = jwt.encode({**timed, "sub": 7}, SETTINGS.jwt_secret, algorithm="HS256")
    for token in (unsigned, hs512, no_expiry, numeric_subject, "", "a.b.c"):
        with pytest.raises(InvalidTokenError):
            read_token(token, SETTINGS)


class _Clock:
    def __init__(self) -> None:
        self.now = utcnow().timestamp()

    def __call__(self) -> float:
        return self.now


def test_the_verifier_checks_a_token_once_and_stops_trusting_it_when_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mdm.api import auth

    checks: list[str] = []

    def counted(token: str, settings: Settings) -> object:
        checks.append(token)
        return read_token(token, settings)

    monkeypatch.setattr(auth, "read_token", counted)
    clock = _Clock()
    verifier = auth.TokenVerifier(SETTINGS, clock=clock)
    token = mint_token("erp-1", ["golden:read"], SETTINGS).token
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert first.scopes == frozenset({"golden:read"})
    assert len(checks) == 1  # the signature was checked once
    # Past its expiry (60 s) and the leeway, the remembered claims no longer count: the full
    # check runs again (which refuses a token expired by the real clock).
    clock.now = first.valid_until + 1
    verifier.verify(token)
    assert len(checks) == 2


def test_the_verifier_remembers_no_forgery_and_a_bounded_number_of_tokens() -> None:
    from mdm.api.auth import TokenVerifier

    verifier = TokenVerifier(SETTINGS, size=3)
    other = Settings(jwt_secret="another-secret-of-more-than-32-bytes-long")
    forged = mint_token("erp-1", ["admin"], other).token
    for _ in range(2):
        with pytest.raises(InvalidTokenError, match="not one this hub signed"):
            verifier.verify(forged)
    for n in range(5):
        verifier.verify(mint_token(f"erp-{n}", ["golden:read"], SETTINGS).token)
    assert len(verifier._valid) <= 3
