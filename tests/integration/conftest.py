"""Fixtures for hub tests: a customer match model trained once on the sample sources."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session

from matching import MatchModel, standardise, train
from mdm.canonical.flatten import flatten
from mdm.canonical.models import EntityType
from mdm.ingest.readers import read_file
from mdm.ingest.service import Candidate, ingest_batch
from mdm.linkage.service import MatchSummary, match_pending, save_model, spec_for
from mdm.mapping.models import SourceInfo, SourceKind
from mdm.mapping.service import MappedRecord, apply_mapping, load_mappings
from mdm.outbox.service import ChangeContext
from mdm.sources.service import get_source_system, sync_source_systems

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _mapped_samples(entity: EntityType) -> list[tuple[str, MappedRecord]]:
    """The sample files' valid records of an entity type, mapped, with their source's code."""
    mappings = load_mappings([SAMPLES / "mappings"])
    manifest = __import__("tomllib").loads((SAMPLES / "manifest.toml").read_text())
    mapped = []
    for f in manifest["files"]:
        if f["entity"] != entity.value:
            continue
        mapping = mappings[f["source"]]
        spec = mapping.entities[entity]
        rows = (
            r.data
            for r in read_file(
                SAMPLES / f["path"], spec.format or "csv", spec.delimiter, spec.encoding
            )
            if r.data is not None
        )
        mapped.extend(
            (f["source"], rec)
            for rec in apply_mapping(mapping, entity, rows)
            if rec.ok and rec.canonical and rec.source_id
        )
    return mapped


def _sample_records(entity: EntityType) -> list[dict[str, Any]]:
    return [
        flatten(entity.value, f"{source}:{rec.source_id}", source, rec.canonical or {})
        for source, rec in _mapped_samples(entity)
    ]


@pytest.fixture(scope="session")
def sample_customers() -> list[tuple[str, MappedRecord]]:
    """The sample sources' customers, mapped: (source code, record)."""
    return _mapped_samples(EntityType.CUSTOMER)


@pytest.fixture(autouse=True)
def _fresh_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test parses the models it finds: none cached from a test that rolled back."""
    from mdm.linkage import service as linkage

    monkeypatch.setattr(linkage, "_MODELS", linkage._ModelCache())


@pytest.fixture(scope="session")
def customer_model() -> MatchModel:
    """A customer model trained without labels on the sample sources."""
    spec = spec_for("customer")
    return train(standardise(_sample_records(EntityType.CUSTOMER), spec), spec)


SOURCES = [
    SourceInfo(code="erp", name="ERP", kind=SourceKind.ERP, trust_rank=1),
    SourceInfo(code="crm", name="CRM", kind=SourceKind.CRM, trust_rank=2),
    SourceInfo(code="dist", name="Distributor", kind=SourceKind.DISTRIBUTOR, trust_rank=20),
]

Ingest = Callable[..., MatchSummary]


@pytest.fixture
def hub(session: Session, customer_model: MatchModel) -> Ingest:
    """Upsert customers into a source (canonical dicts, or None to delete) and match them."""
    sync_source_systems(session, SOURCES)
    save_model(session, "customer", customer_model, trained_on=0)

    def ingest(source: str, records: dict[str, dict[str, Any] | None]) -> MatchSummary:
        system = get_source_system(session, source)
        items = [
            Candidate(
                sid,
                None if body is None else {"source_id": sid, **body},
                None,
                deleted=body is None,
            )
            for sid, body in records.items()
        ]
        ingest_batch(session, system, "customer", items, origin="test", actor="test")
        return match_pending(session, "customer", ChangeContext(actor="test", cause="test"))

    return ingest


def dump(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def truth_rows() -> list[dict[str, str]]:
    with (SAMPLES / "truth.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
