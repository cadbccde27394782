"""The unit of work of a sub-command (``mdm clients …``, ``mdm hierarchy …``).

Mounted on the main command (``mdm/cli.py``), a sub-command takes the unit of work from the
main command's context object; alone (in tests, or run as its own app), it builds one from
the settings.
"""

from __future__ import annotations

from typing import Protocol

import typer

from mdm.database import UnitOfWork, create_engine
from mdm.settings import Settings


class _HasUnitOfWork(Protocol):
    def uow(self) -> UnitOfWork: ...


def unit_of_work(ctx: typer.Context) -> UnitOfWork:
    """The unit of work of the command running in ``ctx``."""
    obj = ctx.obj
    if hasattr(obj, "uow"):
        holder: _HasUnitOfWork = obj
        return holder.uow()
    return UnitOfWork(create_engine(Settings().database_url))
