"""The sample sources load through their mappings, with exactly the deliberate rejects.

The expected numbers are counted by hand from ``samples/README.md``: one ERP customer without a
name, one dist_south customer with country "EU", one ERP material with the price "189,5O",
and one CRM line cut off in the middle (not JSON at all, so it never reaches the mapping).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdm.canonical.models import EntityType
from mdm.mapping.models import EntityMapping, SourceMapping
from mdm.mapping.service import apply_mapping, load_mapping

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
DATA = SAMPLES / "data"
MAPPINGS = SAMPLES / "mappings"

# (source, entity type) -> (file, hand-counted rejected records)
FILES: dict[tuple[str, str], tuple[str, int]] = {
    ("erp", "customer"): ("erp_customers.csv", 1),
    ("erp", "product"): ("erp_materials.csv", 1),
    ("crm", "customer"): ("crm_accounts.jsonl", 0),
    ("dist_north", "customer"): ("dist_north_kunden.csv", 0),
    ("dist_north", "product"): ("dist_north_artikel.csv", 0),
    ("dist_south", "customer"): ("dist_south_customers.csv", 1),
    ("dist_south", "product"): ("dist_south_items.csv", 0),
    ("marketplace", "customer"): ("marketplace_buyers.jsonl", 0),
    ("marketplace", "product"): ("marketplace_listings.jsonl", 0),
    ("shop", "product"): ("shop_products.jsonl", 0),
}
MALFORMED_LINES = {"crm_accounts.jsonl": 1}
REJECTED_IDS = {"0000900099", "000000000090000099", "C-900099"}


def read_rows(path: Path, mapping: EntityMapping, malformed: list[str]) -> Iterator[dict[str, Any]]:
    """Read a source file as the hub's file drop does: CSV with its dialect, or JSON lines."""
    if mapping.format == "csv":
        with path.open(encoding=mapping.encoding, newline="") as handle:
            yield from csv.DictReader(handle, delimiter=mapping.delimiter)
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                malformed.append(line)


def mappings() -> dict[str, SourceMapping]:
    return {p.stem: load_mapping(p) for p in sorted(MAPPINGS.glob("*.toml"))}


def mapped(source: str, entity_type: str) -> tuple[list[Any], list[str]]:
    mapping = mappings()[source]
    entity = EntityType(entity_type)
    malformed: list[str] = []
    rows = read_rows(DATA / FILES[source, entity_type][0], mapping.entities[entity], malformed)
    return list(apply_mapping(mapping, entity, rows)), malformed


def truth_rows() -> list[dict[str, str]]:
    with (SAMPLES / "truth.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_mapping_loads_and_is_named_after_its_source() -> None:
    loaded = mappings()
    assert set(loaded) == {"erp", "crm", "dist_north", "dist_south", "marketplace", "shop"}
    for stem, mapping in loaded.items():
        assert mapping.source.code == stem


def test_every_mapped_entity_has_a_sample_file() -> None:
    declared = {(code, entity.value) for code, m in mappings().items() for entity in m.entities}
    assert declared == set(FILES)


def test_dist_north_is_latin_1_and_keeps_its_accents() -> None:
    raw = (DATA / "dist_north_kunden.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    records, _ = mapped("dist_north", "customer")
    names = {r.canonical["legal_name"] for r in records if r.ok}
    assert "Müller Präzisionswerkzeuge GmbH" in names
    assert "Société Générale d'Outillage SARL" in names


@pytest.mark.parametrize(("source", "entity_type"), sorted(FILES))
def test_sample_file_maps_with_exactly_the_deliberate_rejects(
    source: str, entity_type: str
) -> None:
    name, expected_rejects = FILES[source, entity_type]
    records, malformed = mapped(source, entity_type)
    rejected = [r for r in records if not r.ok]
    assert len(rejected) == expected_rejects, [(r.source_id, r.errors) for r in rejected]
    assert {r.source_id for r in rejected} <= REJECTED_IDS
    assert len(malformed) == MALFORMED_LINES.get(name, 0)
    assert len(records) - len(rejected) >= 5


def test_every_truth_row_points_at_a_real_record() -> None:
    known: set[tuple[str, str, str]] = set()
    for source, entity_type in FILES:
        records, _ = mapped(source, entity_type)
        known |= {(entity_type, source, r.source_id) for r in records if r.ok}
    truth = truth_rows()
    keys = [(t["entity_type"], t["source"], t["source_id"]) for t in truth]
    assert len(keys) == len(set(keys)), "a record is listed twice"
    missing = [k for k in keys if k not in known]
    assert missing == []
    # and every good record is in the truth
    assert known - set(keys) == set()


def test_truth_has_multi_source_entities_and_keeps_sites_apart() -> None:
    sources: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in truth_rows():
        sources[t["entity_type"], t["entity_key"]].add(t["source"])
    for entity_type in ("customer", "product"):
        entities = {k: v for k, v in sources.items() if k[0] == entity_type}
        multi = [k for k, v in entities.items() if len(v) >= 2]
        assert len(entities) >= 40
        assert len(multi) >= 20
    # Müller's head office, its same-name ship-to and its two plants are four entities.
    muellers = {k for _, k in sources if k.startswith("HC-MUELLER-S-")} | {"HC-MUELLER"}
    assert len(muellers) == 4


def test_the_hierarchy_disagreement_is_in_the_data() -> None:
    erp, _ = mapped("erp", "customer")
    crm, _ = mapped("crm", "customer")
    erp_bill_to = next(r.canonical for r in erp if r.source_id == "0000900010")
    crm_bill_to = next(r.canonical for r in crm if r.source_id == "0015J00000HkNDHQA3")
    assert erp_bill_to["parents"] == [{"relation": "bill_to_of", "source_id": "0000900009"}]
    assert crm_bill_to["parents"] == [{"relation": "bill_to_of", "source_id": "0015J00000HkNBzQAN"}]
    truth = {(t["source"], t["source_id"]): t["entity_key"] for t in truth_rows()}
    assert truth["erp", "0000900009"] != truth["crm", "0015J00000HkNBzQAN"]
