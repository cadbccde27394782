"""Registering source systems and looking them up."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdm.errors import NotFoundError
from mdm.mapping.models import SourceInfo
from mdm.sources.models import SourceSystem


def sync_source_systems(session: Session, sources: Iterable[SourceInfo]) -> list[SourceSystem]:
    """Create or update the source systems that mapping files describe."""
    existing = {s.code: s for s in session.scalars(select(SourceSystem))}
    synced = []
    for info in sources:
        system = existing.get(info.code)
        if system is None:
            system = SourceSystem(code=info.code)
            session.add(system)
        system.name = info.name
        system.kind = info.kind.value
        system.trust_rank = info.trust_rank
        synced.append(system)
    session.flush()
    return synced


def get_source_system(session: Session, code: str) -> SourceSystem:
    """The source system with this code, or `NotFoundError` naming the known ones."""
    system = session.scalar(select(SourceSystem).where(SourceSystem.code == code))
    if system is None:
        known = ", ".join(session.scalars(select(SourceSystem.code).order_by(SourceSystem.code)))
        raise NotFoundError(f"unknown source system '{code}' (known: {known or 'none'})")
    return system


def list_source_systems(session: Session) -> list[SourceSystem]:
    """Every registered source system, most trusted first."""
    return list(
        session.scalars(select(SourceSystem).order_by(SourceSystem.trust_rank, SourceSystem.code))
    )
