"""Match quality on a real data set: the Fodors-Zagat restaurants, through the customer path.

The two guides list 533 and 331 restaurants; 112 pairs are the same restaurant (the data
set's own list of matches). Each restaurant is sent as a canonical customer (name, one
address with its city, phone), flattened as the hub flattens it, and linked across the two
files with the shipped customer spec, trained without labels. Pairs at or above the match
threshold are the links; precision, recall and F1 are over the 112 true pairs. It runs
twice: with ``country: US`` on every record, and with no country at all (many sources send
none).

The data is not part of this repository. It ships in the source package of
py_entitymatching (BSD licence), which pip can fetch from the package registry:

    pip download py_entitymatching==0.4.2 --no-deps --no-binary :all: -d /tmp/em
    tar xzf /tmp/em/py-entitymatching-0.4.2.tar.gz -C /tmp/em

(Where pip fails to prepare the package's metadata after downloading it, ``pip download -vv``
prints the archive's address on files.pythonhosted.org; fetch that with curl instead.)
    .venv/bin/python benchmarks/restaurants.py \\
        --data /tmp/em/py-entitymatching-0.4.2/py_entitymatching/datasets/end-to-end/restaurants
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

import matching as m
from mdm.canonical.flatten import flatten_customer


def customers(path: Path, source: str, country: str | None) -> pd.DataFrame:
    """One guide's restaurants as flattened canonical customers."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            canonical = {
                "source_id": row["id"],
                "legal_name": row["name"] or None,
                "addresses": [
                    {"lines": [row["addr"]], "city": row["city"] or None, "country": country}
                ],
                "phones": [row["phone"]] if row["phone"] else [],
            }
            rows.append(flatten_customer(f"{source}:{row['id']}", source, canonical))
    return pd.DataFrame(rows)


def run(data: Path, country: str | None) -> tuple[m.PairMetrics, m.BlockingMetrics]:
    """Link the two guides; the pairs found against the true ones, and the candidates'."""
    with (data / "matches_fodors_zagats.csv").open(encoding="utf-8") as handle:
        truth = {
            (f"fodors:{r['fodors_id']}", f"zagats:{r['zagats_id']}") for r in csv.DictReader(handle)
        }
    spec = m.default_customer_spec()
    left = m.standardise(customers(data / "fodors.csv", "fodors", country), spec)
    right = m.standardise(customers(data / "zagats.csv", "zagats", country), spec)
    blocking = m.candidate_pairs(left, spec, other=right)
    model = m.train(left, spec, other=right, blocking=blocking)
    scored = m.score(model, left, right, blocking)
    links = scored.probability >= spec.thresholds.match
    pairs = m.evaluate_pairs(
        zip(scored.left_ids[links], scored.right_ids[links], strict=True), truth
    )
    found = m.blocking_metrics(
        zip(scored.left_ids, scored.right_ids, strict=True), truth, blocking.total_pairs
    )
    return pairs, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the restaurants folder")
    args = parser.parse_args()
    print(
        f"{'country':8} {'precision':>9} {'recall':>7} {'F1':>7} {'TP':>4} {'FP':>4} {'FN':>4} "
        f"{'pair completeness':>18}"
    )
    for country in ("US", None):
        pairs, found = run(args.data, country)
        print(
            f"{country or '(none)':8} {pairs.precision:9.4f} {pairs.recall:7.4f} {pairs.f1:7.4f} "
            f"{pairs.true_positives:4d} {pairs.false_positives:4d} {pairs.false_negatives:4d} "
            f"{found.pair_completeness:18.4f}"
        )


if __name__ == "__main__":
    main()
