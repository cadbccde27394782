"""Imports every ORM model, so that ``Base.metadata`` describes the whole schema.

Alembic and the test fixtures import this module; the models stay in their domain folders.
"""

from __future__ import annotations

from mdm.audit.models import AuditEntry
from mdm.clients.models import ApiClient
from mdm.database import Base
from mdm.golden.models import GoldenMember, GoldenOverride, GoldenRecord, XrefHistory
from mdm.hierarchies.models import HierarchyClaim, HierarchyConflict, HierarchyEdge
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.linkage.models import BlockingKey, MatchFeatures, MatchModelRecord
from mdm.outbox.models import OutboxEvent, OutboxHead
from mdm.sources.models import SourceRecord, SourceRecordVersion, SourceSystem
from mdm.stewardship.models import CannotLink, MatchCandidate

metadata = Base.metadata

__all__ = [
    "ApiClient",
    "AuditEntry",
    "BlockingKey",
    "CannotLink",
    "GoldenMember",
    "GoldenOverride",
    "GoldenRecord",
    "HierarchyClaim",
    "HierarchyConflict",
    "HierarchyEdge",
    "IngestBatch",
    "MatchCandidate",
    "MatchFeatures",
    "MatchModelRecord",
    "OutboxEvent",
    "OutboxHead",
    "RejectedRecord",
    "SourceRecord",
    "SourceRecordVersion",
    "SourceSystem",
    "XrefHistory",
    "metadata",
]
