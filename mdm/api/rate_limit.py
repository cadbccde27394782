"""Rate limits per API client: a token bucket per caller, answered with 429 and ``Retry-After``.

Each client (by the client ID of its token; the token endpoint by the caller's address) has a
bucket of ``MDM_RATE_LIMIT_PER_MINUTE`` requests that refills evenly over a minute: a client
may send that many at once, then one every ``60 / limit`` seconds. Every limited response
carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the
bucket is full again) and ``RateLimit-Policy``; a refused one is a 429 problem with
``Retry-After`` (seconds until the next request is allowed).

Buckets live in the process: with several API processes each keeps its own, so a client may
get up to that many times the limit. Routes marked ``opt[UNLIMITED]`` (probes, metrics, the
schema) are never limited, so that an orchestrator's checks are never refused.

Litestar's ``RateLimitMiddleware`` was not used: it keeps a list of every request's time per
key (work that grows with the limit), counts in fixed windows and sends no ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from mdm.api.auth import Caller, route_opt
from mdm.api.problems import send_problem

UNLIMITED = "unlimited"
# Past this many buckets, full ones (idle callers) are dropped: a bucket that refilled holds
# nothing a new one would not.
_PRUNE_AT = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer to one request."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        """The ``RateLimit-*`` headers (and ``Retry-After`` when refused)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w=60",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimiter:
    """Token buckets keyed by caller: ``per_minute`` requests at once, refilled over a minute.

    >>> clock = iter([0.0, 0.0, 0.0, 30.0]).__next__
    >>> limiter = RateLimiter(2, clock=clock)
    >>> [limiter.take("erp").allowed for _ in range(3)]
    [True, True, False]
    >>> limiter.take("erp").remaining  # half a minute refilled one request
    0
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> Decision:
        """Spend one request of ``key``'s bucket, if it holds one."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.limit), now)
        bucket.tokens = min(self.limit, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        return Decision(
            allowed=allowed,
            limit=self.limit,
            remaining=int(bucket.tokens),
            reset_seconds=math.ceil((self.limit - bucket.tokens) / self._rate),
            retry_after_seconds=0 if allowed else math.ceil((1 - bucket.tokens) / self._rate),
        )

    def _prune(self, now: float) -> None:
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self._rate < self.limit
        }


def _key(scope: Scope) -> str:
    caller = scope.get("user")
    if isinstance(caller, Caller):
        return f"client:{caller.client_id}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


def rate_limit_middleware(app: ASGIApp, *, limiter: RateLimiter) -> ASGIApp:
    """ASGI middleware: spend a request of the caller's bucket, or answer 429."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or route_opt(scope).get(UNLIMITED):
            await app(scope, receive, send)
            return
        decision = limiter.take(_key(scope))
        headers = decision.headers()
        if not decision.allowed:
            refused = TooManyRequestsException(
                detail=f"more than {limiter.limit} requests a minute; retry in "
                f"{decision.retry_after_seconds} s",
                headers=headers,
            )
            await send_problem(scope, receive, send, refused)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableScopeHeaders.from_message(message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
