"""The API's access pieces without a server: the rate limiter, the client directory's cache,
and client credentials from HTTP Basic or the form."""

from __future__ import annotations

import base64

import anyio
import pytest

from mdm.api.auth import ClientDirectory, client_credentials
from mdm.api.rate_limit import RateLimiter
from mdm.clients.service import ActiveClient
from mdm.errors import InvalidClientError, OAuthError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_evenly() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # one request every 10 seconds
    decisions = [limiter.take("erp") for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 6 + [False]
    assert [d.remaining for d in decisions] == [5, 4, 3, 2, 1, 0, 0]
    refused = decisions[-1]
    assert (refused.retry_after_seconds, refused.reset_seconds) == (10, 60)
    assert refused.headers() == {
        "RateLimit-Limit": "6",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "6;w=60",
        "Retry-After": "10",
    }
    assert "Retry-After" not in decisions[0].headers()
    clock.now = 9.0
    assert limiter.take("erp").retry_after_seconds == 1
    clock.now = 25.0  # 2.5 requests refilled
    assert [limiter.take("erp").allowed for _ in range(3)] == [True, True, False]
    assert limiter.take("crm").remaining == 5  # every caller has its own bucket
    clock.now = 1000.0
    assert limiter.take("erp").remaining == 5  # a bucket never holds more than the limit


def test_full_buckets_are_dropped_when_there_are_many(monkeypatch: pytest.MonkeyPatch) -> None:
    from mdm.api import rate_limit

    monkeypatch.setattr(rate_limit, "_PRUNE_AT", 3)
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    for key in ("a", "b", "c"):
        limiter.take(key)
    clock.now = 0.5  # "a", "b" and "c" have not refilled yet
    limiter.take("d")
    assert len(limiter._buckets) == 4
    clock.now = 120.0  # all refilled: they are dropped when the next new caller comes
    limiter.take("e")
    assert list(limiter._buckets) == ["e"]


def test_the_client_directory_trusts_a_look_up_for_its_ttl() -> None:
    clock = Clock()
    answers = {"erp-1": ActiveClient("erp-1", None)}
    calls: list[str] = []

    def find(client_id: str) -> ActiveClient | None:
        calls.append(client_id)
        return answers.get(client_id)

    directory = ClientDirectory(find, ttl=5, clock=clock)

    async def look_ups() -> list[ActiveClient | None]:
        found = [await directory.find("erp-1"), await directory.find("erp-1")]
        del answers["erp-1"]  # revoked
        clock.now = 4.9
        found.append(await directory.find("erp-1"))
        clock.now = 5.1
        found.append(await directory.find("erp-1"))
        found.append(await directory.find("erp-1"))
        return found

    found = anyio.run(look_ups)
    assert [c is not None for c in found] == [True, True, True, False, False]
    assert calls == ["erp-1", "erp-1"]  # the revocation is remembered too


def test_client_credentials_come_from_basic_or_the_form_never_both() -> None:
    encoded = base64.b64encode(b"erp-1:s3cr%3At").decode()
    # RFC 6749 §2.3.1: the parts are form-encoded before base64.
    assert client_credentials(f"Basic {encoded}", None, None) == ("erp-1", "s3cr:t")
    assert client_credentials(None, "erp-1", "s3cret") == ("erp-1", "s3cret")
    assert client_credentials("Bearer x", "erp-1", "s3cret") == ("erp-1", "s3cret")
    with pytest.raises(OAuthError, match="either"):
        client_credentials(f"Basic {encoded}", "erp-1", None)
    no_colon = base64.b64encode(b"erp-1").decode()
    for header in ("Basic !!!", f"Basic {no_colon}"):
        with pytest.raises(InvalidClientError):
            client_credentials(header, None, None)
