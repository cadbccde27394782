"""Hub load: generated customer records loaded end to end into PostgreSQL, against Splink.

The hub side ingests every generated customer file (map, validate, version), matches
(standardise, blocking keys, candidates by join, vectorised scoring, clustering), builds golden
records with survivorship and provenance, the cross-reference and the outbox — everything
persisted. In the same run, Splink (DuckDB) deduplicates the same records, predicting and
clustering only, persisting nothing. Each side runs in its own process. Peak memory: for
Splink, its process's peak resident memory (DuckDB's threads live in it); for the hub, the
peak of the proportional set size (PSS) summed over the hub process and its forked workers,
sampled twice a second until the load is done, before the evaluation reads every record
back. Forked workers share the parent's pages until they write to them, so the kernel's
per-process peaks (also printed: the process's plus its largest worker's, and the sum of RSS
over the tree) count shared pages twice. F1 is against the generator's
ground truth: for the hub, golden-record membership; for Splink, its clusters and links at
p >= 0.5.
Target: the whole hub load within 2x Splink's time, memory under 4 GB.

    python benchmarks/hub_load.py                      # about 1,000,000 customer records
    python benchmarks/hub_load.py --records 100000
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mdm_hub_load"
CUSTOMER_RECORDS_PER_UNIT = 3.68  # write_dataset writes about this many customer records a unit


def _descendants(pid: int) -> list[int]:
    """The process and every process below it (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:  # the task ended meanwhile
                continue
    return found


def _tree_memory_mb(pid: int) -> tuple[float, float]:
    """(PSS, RSS) summed over a process tree, in MB.

    PSS counts a page shared by n processes as 1/n in each: forked workers share most of the
    parent's pages until they write to them, so a sum of RSS counts those pages once per
    process, while the sum of PSS is what the tree really holds.
    """
    pss = rss = 0
    for member in _descendants(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:  # ended meanwhile, or no smaps_rollup on this kernel
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss / 1024, rss / 1024


class TreeMemory:
    """Samples the memory of a process and its workers; keeps the peaks.

    It runs in the benchmark's parent process, so that reading /proc twice a second takes no
    time from the process it measures.
    """

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.peak_pss_mb = 0.0
        self.peak_rss_sum_mb = 0.0
        self._pid = pid
        self._every = every
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._every):
            self.sample()

    def sample(self) -> None:
        pss, rss = _tree_memory_mb(self._pid)
        self.peak_pss_mb = max(self.peak_pss_mb, pss)
        self.peak_rss_sum_mb = max(self.peak_rss_sum_mb, rss)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self.sample()


def hub_side(data_dir: Path, out: Path, workers: int, hierarchies: bool) -> dict[str, Any]:
    from sqlalchemy import select

    from mdm import migrate
    from mdm.canonical.flatten import flatten_customer
    from mdm.database import UnitOfWork, create_engine
    from mdm.devtools import recreate_database
    from mdm.golden.models import GoldenMember
    from mdm.ingest.service import ingest_file
    from mdm.linkage.service import run_matching
    from mdm.mapping.service import load_mappings
    from mdm.outbox.service import ChangeContext, newest_seq
    from mdm.sources.models import SourceRecord, SourceSystem
    from mdm.sources.service import sync_source_systems

    recreate_database(PG_URL)
    migrate.upgrade(PG_URL)
    uow = UnitOfWork(create_engine(PG_URL))
    mappings = load_mappings([ROOT / "samples" / "mappings"])
    with uow.begin() as session:
        sync_source_systems(session, [m.source for m in mappings.values()])
    files = json.loads((data_dir / "files.json").read_text())
    stages: dict[str, float] = {}
    print("LOADING", flush=True)  # the parent samples this process's memory from now on
    started = time.perf_counter()
    records = 0
    for source, path in files:
        records += ingest_file(
            uow, mappings[source], "customer", Path(path), workers=workers
        ).counts.read
    stages["ingest"] = round(time.perf_counter() - started, 1)
    mark = time.perf_counter()
    summary = run_matching(
        uow,
        "customer",
        ChangeContext(actor="bench", cause="hub_load"),
        hierarchies=hierarchies,
        workers=workers,
    )
    stages["match_and_golden"] = round(time.perf_counter() - mark, 1)
    seconds = time.perf_counter() - started
    # The load's peak, taken before this process reads every record back for the evaluation
    # (a million canonical records and their flat frame, which the hub itself never holds).
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("LOADED", flush=True)  # the parent stops sampling
    # Wait until it has: the evaluation below reads everything back into this process.
    sys.stdin.readline()
    with uow.session() as session:
        rows = session.execute(
            select(
                SourceSystem.code,
                SourceRecord.source_id,
                SourceRecord.canonical,
                GoldenMember.golden_id,
            )
            .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
            .join(GoldenMember, GoldenMember.source_record_id == SourceRecord.id)
            .where(SourceRecord.entity_type == "customer")
        ).all()
        events = newest_seq(session)
    flat = [
        flatten_customer(f"{code}:{sid}", code, canonical or {}) for code, sid, canonical, _ in rows
    ]
    frame = pd.DataFrame.from_records(flat)
    for col in ("phones", "emails", "tax_ids"):
        frame[col] = frame[col].map(lambda v: list(v) if v else [])
    frame.to_parquet(out / "records.parquet", index=False)
    pd.DataFrame(
        {"id": [f"{c}:{s}" for c, s, _, _ in rows], "cluster": [str(g) for *_, g in rows]}
    ).to_parquet(out / "hub_clusters.parquet")
    return {
        "seconds": seconds,
        "records": records,
        "stages": stages,
        "peak_rss_mb": (own + children) / 1024,
        "peak_with_evaluation_mb": (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
        / 1024,
        "golden": summary.new_goldens,
        "review_tasks": summary.review_tasks,
        "events": events,
    }


def run_hub(command: list[str]) -> dict[str, Any] | None:
    """Run the hub side in its own process, sampling its memory from this one."""
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    if stdin is None or stdout is None or stderr is None:
        raise RuntimeError("the hub process has no pipes")
    # Its error output is drained as it comes, so a full pipe never stalls it.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(stderr), daemon=True)
    drain.start()
    memory: TreeMemory | None = None
    result: dict[str, Any] | None = None
    for line in stdout:
        if line.startswith("LOADING"):
            memory = TreeMemory(proc.pid)
        elif line.startswith("LOADED") and memory is not None:
            memory.stop()
            stdin.write("\n")
            stdin.flush()
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
    proc.wait()
    drain.join()
    if proc.returncode or result is None or memory is None:
        print(f"hub failed:\n{''.join(errors)[-3000:]}")
        return None
    # Sampled twice a second over the whole load: the process and all its workers.
    result["peak_pss_mb"] = memory.peak_pss_mb
    result["peak_rss_sum_mb"] = memory.peak_rss_sum_mb
    return result


def pair_metrics(ids: list[str], clusters: list[str], truth: dict[str, str]) -> dict[str, float]:
    from matching import evaluate_clusters

    keep = [i for i, x in enumerate(ids) if x in truth]
    ids = [ids[i] for i in keep]
    labels = pd.factorize(pd.Series([clusters[i] for i in keep]))[0]
    entity = pd.factorize(pd.Series([truth[x] for x in ids]))[0]
    frame = pd.DataFrame({"c": labels, "e": entity})
    same_c = frame.groupby("c").size()
    predicted = int((same_c * (same_c - 1) // 2).sum())
    same_ce = frame.groupby(["c", "e"]).size()
    tp = int((same_ce * (same_ce - 1) // 2).sum())
    sizes = np.bincount(entity)
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    precision = tp / predicted if predicted else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    b3 = evaluate_clusters(dict(zip(ids, labels.tolist(), strict=True)), {x: truth[x] for x in ids})
    return {"precision": precision, "recall": recall, "f1": f1, "b3_f1": b3.f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sides", default="hub,splink")
    parser.add_argument(
        "--no-hierarchies",
        action="store_true",
        help="skip deriving customer hierarchies during the match stage",
    )
    parser.add_argument("--hub-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hub_worker:
        data_dir, out = (Path(p) for p in args.hub_worker)
        print(
            "RESULT " + json.dumps(hub_side(data_dir, out, args.workers, not args.no_hierarchies))
        )
        return

    from mdm.synthetic import write_dataset

    with tempfile.TemporaryDirectory(prefix="mdm-hub-load-") as tmp:
        out = Path(tmp)
        units = max(1, round(args.records / CUSTOMER_RECORDS_PER_UNIT))
        mark = time.perf_counter()
        info = write_dataset(out / "data", customers=units, products=0, seed=11)
        (out / "files.json").write_text(
            json.dumps([[source, str(path)] for source, path in info.customer_files.items()])
        )
        with info.truth.open(encoding="utf-8") as handle:
            truth = {
                f"{r['source']}:{r['source_id']}": r["entity_key"]
                for r in csv.DictReader(handle)
                if r["entity_type"] == "customer"
            }
        print(f"generated {len(truth):,} customer records in {time.perf_counter() - mark:.1f} s")
        results: dict[str, dict[str, Any]] = {}
        if "hub" in args.sides:
            hub_run = run_hub(
                [
                    sys.executable,
                    __file__,
                    "--workers",
                    str(args.workers),
                    *(["--no-hierarchies"] if args.no_hierarchies else []),
                    "--hub-worker",
                    str(out),
                    str(out),
                ]
            )
            if hub_run is None:
                return
            results["hub"] = hub_run
            hub = pd.read_parquet(out / "hub_clusters.parquet")
            results["hub"].update(pair_metrics(hub["id"].tolist(), hub["cluster"].tolist(), truth))
        if "splink" in args.sides and (out / "records.parquet").exists():
            proc = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "scale.py"),
                    "--worker",
                    "splink",
                    "--records",
                    str(out / "records.parquet"),
                    "--out",
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(f"splink failed:\n{proc.stderr[-3000:]}")
            else:
                results["splink"] = json.loads(lines[-1][7:])
                sp = pd.read_parquet(out / "splink_clusters.parquet")
                results["splink"].update(
                    pair_metrics(sp["id"].tolist(), sp["cluster"].tolist(), truth)
                )
        print(
            f"{'side':7} {'seconds':>8} {'peak MB':>8} {'precision':>9} {'recall':>7} "
            f"{'F1':>7} {'B3 F1':>7}"
        )
        for side, r in results.items():
            peak = r.get("peak_pss_mb", r["peak_rss_mb"])
            print(
                f"{side:7} {r['seconds']:8.1f} {peak:8.0f} {r['precision']:9.4f} "
                f"{r['recall']:7.4f} {r['f1']:7.4f} {r['b3_f1']:7.4f}"
            )
        for side, r in results.items():
            shown = "peak_pss_mb" if "peak_pss_mb" in r else "peak_rss_mb"
            extra = {
                k: v
                for k, v in r.items()
                if k not in {"seconds", shown, "precision", "recall", "f1", "b3_f1"}
            }
            print(f"{side}: {json.dumps(extra)}")
        print("target: hub within 2x Splink's time, hub memory < 4 GB")


if __name__ == "__main__":
    main()
