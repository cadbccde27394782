"""Golden-record quality on the sample sources: F1 of golden membership against the truth.

Loads the samples into a fresh SQLite file (or the database in MDM_DATABASE_URL when
``--database-url`` is given), then compares each golden record's members with
``samples/truth.csv``: pairwise precision, recall and F1, and B-cubed cluster F1, for customers
and for products.

    python benchmarks/samples_quality.py
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from matching import evaluate_clusters, evaluate_pairs, pairs_from_clusters
from mdm.database import UnitOfWork, create_engine
from mdm.golden.models import GoldenMember
from mdm.sources.models import SourceRecord, SourceSystem

ROOT = Path(__file__).resolve().parent.parent


def load(url: str) -> float:
    if url.startswith("postgresql"):
        from mdm.devtools import recreate_database

        recreate_database(url)
    started = time.perf_counter()
    for args in (["db", "upgrade"], ["load-samples", "--samples-dir", str(ROOT / "samples")]):
        subprocess.run(
            [sys.executable, "-m", "mdm.cli", "--database-url", url, *args],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    return time.perf_counter() - started


def evaluate(url: str) -> None:
    truth: dict[str, dict[str, str]] = {"customer": {}, "product": {}}
    with (ROOT / "samples" / "truth.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            truth[row["entity_type"]][f"{row['source']}:{row['source_id']}"] = row["entity_key"]
    uow = UnitOfWork(create_engine(url))
    with uow.session() as session:
        rows = session.execute(
            select(
                SourceRecord.entity_type,
                SourceSystem.code,
                SourceRecord.source_id,
                GoldenMember.golden_id,
            )
            .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
            .join(GoldenMember, GoldenMember.source_record_id == SourceRecord.id)
        ).all()
    predicted: dict[str, dict[str, int]] = {"customer": {}, "product": {}}
    for entity, code, source_id, golden_id in rows:
        predicted[entity][f"{code}:{source_id}"] = golden_id
    print(
        f"{'entity':<10} {'records':>7} {'goldens':>7} {'entities':>8} {'precision':>9} "
        f"{'recall':>7} {'F1':>7} {'B3 F1':>7}"
    )
    for entity in ("customer", "product"):
        keys = [k for k in truth[entity] if k in predicted[entity]]
        t = {k: truth[entity][k] for k in keys}
        p = {k: predicted[entity][k] for k in keys}
        pairs = evaluate_pairs(pairs_from_clusters(p), pairs_from_clusters(t))
        clusters = evaluate_clusters(p, t)
        print(
            f"{entity:<10} {len(keys):>7} {len(set(p.values())):>7} {len(set(t.values())):>8} "
            f"{pairs.precision:>9.4f} {pairs.recall:>7.4f} {pairs.f1:>7.4f} {clusters.f1:>7.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/samples.db"
        seconds = load(url)
        print(f"loaded and matched the samples in {seconds:.1f} s ({url.split('://')[0]})")
        evaluate(url)


if __name__ == "__main__":
    main()
