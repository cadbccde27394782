"""Imports every ORM model, so that ``Base.metadata`` describes the whole schema.

Alembic and the test fixtures import this module; the models stay in their domain folders.
"""

from __future__ import annotations

from mdm.database import Base
from mdm.ingest.models import IngestBatch, RejectedRecord
from mdm.sources.models import SourceRecord, SourceRecordVersion, SourceSystem

metadata = Base.metadata

__all__ = [
    "IngestBatch",
    "RejectedRecord",
    "SourceRecord",
    "SourceRecordVersion",
    "SourceSystem",
    "metadata",
]
