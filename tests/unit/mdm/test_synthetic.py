"""The synthetic generator: deterministic, complete truth, loadable through the sample mappings."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from stdnum import ean, get_cc_module

from mdm import synthetic
from mdm.canonical.flatten import flatten_customer
from mdm.canonical.models import EntityType
from mdm.mapping.service import apply_mapping, load_mapping
from mdm.synthetic import (
    CUSTOMER_FILES,
    PRODUCT_FILES,
    DatasetInfo,
    iter_flat_customers,
    iter_flat_products,
    write_dataset,
)

MAPPINGS = Path(__file__).resolve().parents[3] / "samples" / "mappings"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    return write_dataset(tmp_path_factory.mktemp("a"), customers=300, products=300, seed=3)


def _read(path: Path, source: str, entity_type: EntityType) -> list[Any]:
    mapping = load_mapping(MAPPINGS / f"{source}.toml")
    entity = mapping.entities[entity_type]
    if entity.format == "csv":
        with path.open(encoding=entity.encoding, newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle, delimiter=entity.delimiter))
    else:
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
    return list(apply_mapping(mapping, entity_type, rows))


def _contents(info: DatasetInfo) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(info.out_dir.iterdir())}


def test_same_seed_gives_identical_files(dataset: DatasetInfo, tmp_path: Path) -> None:
    again = write_dataset(tmp_path, customers=300, products=300, seed=3)
    assert _contents(again) == _contents(dataset)
    assert again.records == dataset.records
    assert again.entities == dataset.entities


def test_sharded_parallel_writing_is_deterministic_and_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthetic, "_SHARD_SIZE", 100)  # 3 shards of each entity type
    in_turn = write_dataset(tmp_path / "a", customers=300, products=250, seed=5)
    monkeypatch.setattr(synthetic, "_PARALLEL_FROM", 1)
    side_by_side = write_dataset(tmp_path / "b", customers=300, products=250, seed=5)
    assert _contents(side_by_side) == _contents(in_turn)
    assert side_by_side.records_by_file == in_turn.records_by_file
    assert [p.name for p in (tmp_path / "b").iterdir() if p.name.endswith(".part")] == []
    _assert_truth_covers_every_record_once(side_by_side, expected_products=250)
    _assert_maps_without_rejects(side_by_side)


def test_different_seed_gives_different_files(dataset: DatasetInfo, tmp_path: Path) -> None:
    other = write_dataset(tmp_path, customers=300, products=300, seed=4)
    assert _contents(other) != _contents(dataset)


def test_files_map_through_the_sample_mappings_without_rejects(dataset: DatasetInfo) -> None:
    _assert_maps_without_rejects(dataset)


def _assert_maps_without_rejects(dataset: DatasetInfo) -> None:
    counted: Counter[str] = Counter()
    for entity_type, files in (
        (EntityType.CUSTOMER, dataset.customer_files),
        (EntityType.PRODUCT, dataset.product_files),
    ):
        for source, path in files.items():
            records = _read(path, source, entity_type)
            rejected = [(r.source_id, r.errors) for r in records if not r.ok]
            assert rejected == [], (source, rejected[:3])
            counted[entity_type.value] += len(records)
    assert dict(counted) == dataset.records


def test_truth_covers_every_record_once(dataset: DatasetInfo) -> None:
    _assert_truth_covers_every_record_once(dataset, expected_products=300)


def _assert_truth_covers_every_record_once(dataset: DatasetInfo, expected_products: int) -> None:
    with dataset.truth.open(encoding="utf-8", newline="") as handle:
        truth = list(csv.DictReader(handle))
    listed = Counter((t["entity_type"], t["source"], t["source_id"]) for t in truth)
    assert max(listed.values()) == 1
    records = set()
    for entity_type, files in (
        (EntityType.CUSTOMER, dataset.customer_files),
        (EntityType.PRODUCT, dataset.product_files),
    ):
        for source, path in files.items():
            records |= {
                (entity_type.value, source, r.source_id) for r in _read(path, source, entity_type)
            }
    assert set(listed) == records
    entities = {(t["entity_type"], t["entity_key"]) for t in truth}
    assert sum(1 for e in entities if e[0] == "customer") == dataset.entities["customer"]
    products = sum(1 for e in entities if e[0] == "product")
    assert products == dataset.entities["product"] == expected_products


def test_check_digits_are_mostly_valid(dataset: DatasetInfo) -> None:
    records = _read(dataset.customer_files["erp"], "erp", EntityType.CUSTOMER)
    vats = [
        i["value"]
        for r in records
        if r.canonical
        for i in r.canonical.get("identifiers", [])
        if i["scheme"] == "vat"
    ]
    assert vats
    assert all(get_cc_module(v[:2].lower(), "vat").is_valid(v) for v in vats)
    products = _read(dataset.product_files["erp"], "erp", EntityType.PRODUCT)
    gtins = [r.canonical["gtin"] for r in products if r.canonical and "gtin" in r.canonical]
    valid = sum(ean.is_valid(g) for g in gtins)
    assert 0.9 * len(gtins) < valid < len(gtins) + 1


def test_file_names_are_the_documented_ones(dataset: DatasetInfo) -> None:
    assert {p.name for p in dataset.out_dir.iterdir()} == {
        *CUSTOMER_FILES.values(),
        *PRODUCT_FILES.values(),
        "truth.csv",
    }


def test_iter_flat_customers_yields_the_requested_count_with_entity_ids() -> None:
    records = list(iter_flat_customers(3000, seed=1))
    assert len(records) == 3000
    expected_keys = set(flatten_customer("x", "erp", {"source_id": "x", "legal_name": "A"}))
    for record in records:
        assert set(record) == expected_keys | {"entity_id"}
        assert record["name"]
    clusters: dict[str, int] = defaultdict(int)
    for record in records:
        clusters[record["entity_id"]] += 1
    multi = sum(1 for size in clusters.values() if size > 1) / len(clusters)
    assert 0.3 <= multi <= 0.5
    roles = Counter(r["role"] for r in records)
    assert roles["ship_to"] > 0
    assert roles["bill_to"] > 0
    assert len({r["id"] for r in records}) == len(records)
    assert records[:50] == list(iter_flat_customers(50, seed=1))


def test_iter_flat_products_yields_the_requested_count_with_entity_ids() -> None:
    records = list(iter_flat_products(2000, seed=1))
    assert len(records) == 2000
    assert all(r["entity_id"] and r["name"] for r in records)
    sizes = Counter(r["entity_id"] for r in records)
    assert sum(1 for s in sizes.values() if s > 1) > len(sizes) * 0.3


def test_two_companies_never_share_a_web_domain() -> None:
    # With 20,000 records many companies bear the same name (in different towns); each still
    # has its own domain, which all its sites and records carry.
    owners: dict[str, set[str]] = defaultdict(set)
    for record in iter_flat_customers(20_000, seed=2):
        for text in (record["website"], *record["emails"]):
            if text and record["role"] != "person":
                domain = text.rsplit("@", 1)[-1].split("://")[-1].removeprefix("www.")
                owners[domain.strip("/").lower()].add(record["entity_id"].split("-")[0])
    free_mail = set(synthetic._MAIL_DOMAINS)
    shared = {d: o for d, o in owners.items() if len(o) > 1 and d not in free_mail}
    assert len(owners) > 1000
    assert not shared


def test_shards_hand_out_different_domains_for_the_same_name() -> None:
    first, second = synthetic._Domains(0), synthetic._Domains(1)
    got = [
        first.claim("Meyer Hydraulik", "Köln", "de"),
        first.claim("Meyer Hydraulik", "Köln", "de"),
        first.claim("Meyer Hydraulik", "Köln", "de"),
        second.claim("Meyer Hydraulik", "Köln", "de"),
        second.claim("Meyer Hydraulik", "Köln", "de"),
    ]
    assert got == [
        "meyer-hydraulik.de",
        "meyer-hydraulik-koeln.de",
        "meyer-hydraulik-koeln-2.de",
        "meyer-hydraulik-koeln1.de",
        "meyer-hydraulik-koeln1-2.de",
    ]


def test_two_people_never_share_an_e_mail_address(tmp_path: Path) -> None:
    # Many buyers share a first and last name; each still has a mailbox of their own, in the
    # flat records and in the marketplace file alike.
    owners: dict[str, set[str]] = defaultdict(set)
    for record in iter_flat_customers(20_000, seed=2):
        if record["role"] == "person":
            for email in record["emails"]:
                owners[email.lower()].add(record["entity_id"])
    info = write_dataset(tmp_path, customers=6000, products=0, seed=2)
    truth = {
        row["source_id"]: row["entity_key"]
        for row in csv.DictReader(info.truth.open(encoding="utf-8"))
        if row["source"] == "marketplace"
    }
    for line in info.customer_files["marketplace"].open(encoding="utf-8"):
        doc = json.loads(line)
        if doc.get("account_type") == "private" and doc.get("email"):
            owners[doc["email"].lower()].add(truth[doc["buyer_id"]])
    assert len(owners) > 1000
    assert not {e: o for e, o in owners.items() if len(o) > 1}
