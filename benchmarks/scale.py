"""Scale: customer records standardised, blocked, compared, scored, clustered; ours vs Splink.

Both sides read the same generated records (``mdm.synthetic.iter_flat_customers``) from a
Parquet file and each runs in its own subprocess, so peak memory (``ru_maxrss``) belongs to
one side only. Timings exclude generating and loading the records; F1 is computed by the
parent against the generator's ``entity_id``.

    .venv/bin/python benchmarks/scale.py                 # 1,000,000 records, both sides
    .venv/bin/python benchmarks/scale.py --n 100000 --sides ours
    .venv/bin/python benchmarks/scale.py --n 50000 --own-generator   # without mdm.synthetic
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LIST_COLUMNS = ("phones", "emails", "tax_ids")


# ----------------------------------------------------------------------------- records


def own_generator(n: int, seed: int):
    """A quick stand-in generator (only with --own-generator)."""
    rng = random.Random(seed)
    words = [
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Wonka",
        "Tyrell",
        "Hooli",
        "Vandelay",
        "Oceanic",
        "Nakatomi",
        "Monarch",
        "Sirius",
        "Zorg",
    ]
    made = 0
    entity = 0
    while made < n:
        entity += 1
        name = f"{rng.choice(words)} {rng.choice(words)} {entity}"
        street = f"{rng.randint(1, 400)} {rng.choice(['Main St', 'High Street', 'Mill Lane'])}"
        phone = f"+49 30 {rng.randint(1000000, 9999999)}"
        for copy in range(rng.choice([1, 1, 2, 2, 3])):
            if made >= n:
                return
            made += 1
            noisy = copy > 0 and rng.random() < 0.5
            yield {
                "id": f"r{made}",
                "entity_id": f"E{entity}",
                "source": f"s{copy}",
                "role": "legal_entity",
                "trading_name": None,
                "duns": None,
                "region": None,
                "name": name.replace("a", "e", 1) if noisy else name,
                "tax_ids": [],
                "address": street,
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
                "phones": [phone] if rng.random() < 0.7 else [],
                "emails": [],
                "website": None,
            }


def write_records(n: int, seed: int, own: bool, path: Path) -> float:
    start = time.perf_counter()
    if own:
        records = list(own_generator(n, seed))
    else:
        from mdm.synthetic import iter_flat_customers

        records = list(iter_flat_customers(n, seed=seed))
    frame = pd.DataFrame.from_records(records)
    for col in LIST_COLUMNS:
        frame[col] = frame[col].map(lambda v: list(v) if v else [])
    frame.to_parquet(path, index=False)
    return time.perf_counter() - start


def load_records(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    for col in LIST_COLUMNS:
        frame[col] = frame[col].map(lambda v: [] if v is None else list(v))
    return frame


# ----------------------------------------------------------------------------- sides


def run_ours(records: Path, out: Path) -> dict[str, Any]:
    import matching as m

    frame = load_records(records)
    stages: dict[str, float] = {}
    start = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = round(now - last, 2)
        last = now

    spec = m.default_customer_spec()
    # Every core, as Splink's DuckDB uses them.
    cores = os.cpu_count() or 1
    std = m.standardise(frame.drop(columns=["entity_id"]), spec, workers=cores)
    lap("standardise")
    blocking = m.candidate_pairs(std, spec, workers=cores)
    lap("block")
    model = m.train(std, spec, blocking=blocking)
    lap("train")
    scored = m.score(model, std, None, blocking)
    lap("compare+score")
    clustering = m.cluster(None, scored)
    lap("cluster")
    seconds = time.perf_counter() - start
    links = scored.probability >= spec.thresholds.match
    pd.DataFrame({"l": scored.left_ids[links], "r": scored.right_ids[links]}).to_parquet(
        out / "ours_links.parquet"
    )
    pd.DataFrame({"id": clustering.ids, "cluster": clustering.labels}).to_parquet(
        out / "ours_clusters.parquet"
    )
    return {
        "seconds": seconds,
        "stages": stages,
        "candidate_pairs": len(blocking),
        "capped_keys": len(blocking.capped),
        "pairs_per_rule": blocking.pairs_per_rule,
        "refused_links": len(clustering.refused),
        "weak_bridges": len(clustering.weak_bridges),
        "review_pairs": len(clustering.review),
    }


SPLINK_CLEAN = r"""
select
    id as unique_id,
    role,
    nullif(trim(regexp_replace(lower(name), '[^a-z0-9]+', ' ', 'g')), '') as name,
    nullif(trim(regexp_replace(lower(address), '[^a-z0-9]+', ' ', 'g')), '') as address,
    nullif(trim(lower(city)), '') as city,
    nullif(upper(regexp_replace(postal_code, '[^0-9A-Za-z]', '', 'g')), '') as postal_code,
    nullif(upper(trim(country)), '') as country,
    nullif(regexp_replace(phones[1], '[^0-9]', '', 'g'), '') as phone,
    nullif(lower(trim(emails[1])), '') as email,
    nullif(upper(regexp_replace(tax_ids[1].value, '[^0-9A-Za-z]', '', 'g')), '') as tax_id,
    nullif(regexp_replace(lower(website), '^(https?://)?(www\.)?', ''), '') as website
from read_parquet('{path}')
"""


def run_splink(records: Path, out: Path) -> dict[str, Any]:
    import logging

    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    stages: dict[str, float] = {}
    start = last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[name] = round(now - last, 2)
        last = now

    con = duckdb.connect()
    frame = con.sql(SPLINK_CLEAN.format(path=records)).df()
    lap("clean")
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("tax_id"),
            block_on("phone"),
            block_on("email"),
            block_on("postal_code", "substr(name, 1, 4)"),
            block_on("name", "city"),
        ],
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88]).configure(
                term_frequency_adjustments=True
            ),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.88]),
            cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.ExactMatch("country"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("email"),
            cl.ExactMatch("tax_id"),
            cl.ExactMatch("website"),
            cl.ExactMatch("role"),
        ],
    )
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register(frame), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("tax_id"), block_on("phone")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postal_code"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    lap("train")
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
    lap("cluster")
    seconds = time.perf_counter() - start
    links = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r"]]
    links.columns = ["l", "r"]
    links.astype(str).to_parquet(out / "splink_links.parquet")
    cdf = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    cdf.columns = ["id", "cluster"]
    cdf.astype(str).to_parquet(out / "splink_clusters.parquet")
    return {"seconds": seconds, "stages": stages, "predicted_pairs": len(links)}


def worker(side: str, records: Path, out: Path) -> None:
    result = run_ours(records, out) if side == "ours" else run_splink(records, out)
    # ru_maxrss is in KiB on Linux: the peak of this side's process alone.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


# ----------------------------------------------------------------------------- evaluation


def evaluate(out: Path, side: str, truth: pd.Series) -> dict[str, float]:
    import matching as m

    index = pd.Index(truth.index)
    entity = pd.factorize(truth.to_numpy())[0]
    links = pd.read_parquet(out / f"{side}_links.parquet")
    a = index.get_indexer(links["l"].astype(str))
    b = index.get_indexer(links["r"].astype(str))
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    n = len(index)
    predicted = np.unique(lo * n + hi)
    tp = int((entity[predicted // n] == entity[predicted % n]).sum())
    sizes = np.bincount(entity)
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    precision = tp / len(predicted) if len(predicted) else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    clusters = pd.read_parquet(out / f"{side}_clusters.parquet")
    b3 = m.evaluate_clusters(
        dict(zip(clusters["id"].astype(str), clusters["cluster"], strict=True)),
        dict(zip(truth.index, truth.to_numpy(), strict=True)),
    )
    return {"precision": precision, "recall": recall, "f1": f1, "b3_f1": b3.f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sides", default="ours,splink")
    parser.add_argument("--own-generator", action="store_true")
    parser.add_argument("--worker", choices=("ours", "splink"))
    parser.add_argument("--records", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.records, args.out)
        return

    with tempfile.TemporaryDirectory(prefix="mdm-scale-") as tmp:
        out = Path(tmp)
        records = out / "records.parquet"
        gen = write_records(args.n, args.seed, args.own_generator, records)
        truth = pd.read_parquet(records, columns=["id", "entity_id"]).set_index("id")["entity_id"]
        truth.index = truth.index.astype(str)
        print(f"{args.n:,} records generated in {gen:.1f}s ({truth.nunique():,} true entities)")
        rows = []
        for side in args.sides.split(","):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    side,
                    "--records",
                    str(records),
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                print(f"{side} failed:\n{proc.stderr[-3000:]}")
                continue
            result = json.loads(lines[-1][len("RESULT ") :])
            result.update(evaluate(out, side, truth))
            rows.append((side, result))
        print()
        print(
            f"{'side':7} {'seconds':>8} {'peak MB':>8} {'precision':>9} {'recall':>7} "
            f"{'F1':>7} {'B3 F1':>7}"
        )
        for side, r in rows:
            print(
                f"{side:7} {r['seconds']:8.1f} {r['peak_rss_mb']:8.0f} {r['precision']:9.4f} "
                f"{r['recall']:7.4f} {r['f1']:7.4f} {r['b3_f1']:7.4f}"
            )
        for side, r in rows:
            extra = {
                k: v
                for k, v in r.items()
                if k not in {"seconds", "peak_rss_mb", "precision", "recall", "f1", "b3_f1"}
            }
            print(f"{side}: {json.dumps(extra)}")


if __name__ == "__main__":
    main()
