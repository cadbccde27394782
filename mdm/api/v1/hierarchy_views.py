"""API v1 hierarchy controllers (being built)."""

from __future__ import annotations

from litestar import Controller

HIERARCHY_CONTROLLERS: list[type[Controller]] = []
