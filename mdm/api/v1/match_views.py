"""API v1 match-on-query controllers (being built)."""

from __future__ import annotations

from litestar import Controller

MATCH_CONTROLLERS: list[type[Controller]] = []
