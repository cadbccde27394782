"""Ingest benchmark: load about a million generated source records into SQLite and PostgreSQL.

No matching: this measures the load path alone (read, map, validate, hash, upsert with every
version kept). Each backend runs in its own process so that peak memory is its own; peak memory
covers the parent and its mapping workers. Target: at least 20,000 records/s into PostgreSQL
and peak memory under 500 MB, whatever the file size.

    python benchmarks/ingest.py [--records 1000000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench"
# write_dataset(customers=c, products=c) writes about 6.5 source records per c.
RECORDS_PER_UNIT = 6.53


def run_backend(url: str, data_dir: Path, workers: int) -> dict[str, float]:
    from mdm import migrate
    from mdm.database import UnitOfWork, create_engine
    from mdm.devtools import recreate_database
    from mdm.ingest.service import ingest_file
    from mdm.mapping.service import load_mappings
    from mdm.sources.service import sync_source_systems

    if url.startswith("postgresql"):
        recreate_database(url)
    migrate.upgrade(url)
    uow = UnitOfWork(create_engine(url))
    mappings = load_mappings([ROOT / "samples" / "mappings"])
    with uow.begin() as session:
        sync_source_systems(session, [m.source for m in mappings.values()])
    manifest = json.loads((data_dir / "files.json").read_text())
    records = 0
    started = time.perf_counter()
    for source, entity, path in manifest:
        result = ingest_file(uow, mappings[source], entity, Path(path), workers=workers)
        records += result.counts.read
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"records": records, "seconds": seconds, "peak_mb": (own + children) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, data_dir = args.child
        print(json.dumps(run_backend(url, Path(data_dir), args.workers)))
        return

    from mdm.synthetic import write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        units = max(1, round(args.records / RECORDS_PER_UNIT))
        started = time.perf_counter()
        info = write_dataset(data_dir / "data", customers=units, products=units, seed=7)
        print(f"generated {info.rows:,} source records in {time.perf_counter() - started:.1f} s")
        files = [("customer", p) for p in info.customer_files.items()] + [
            ("product", p) for p in info.product_files.items()
        ]
        (data_dir / "files.json").write_text(
            json.dumps([[source, entity, str(path)] for entity, (source, path) in files])
        )
        print(f"{'backend':<12} {'records':>10} {'seconds':>8} {'records/s':>10} {'peak MB':>8}")
        for backend in args.backends.split(","):
            url = f"sqlite:///{tmp}/bench.db" if backend == "sqlite" else PG_URL
            out = (
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--workers",
                        str(args.workers),
                        "--child",
                        url,
                        str(data_dir),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            r = json.loads(out)
            print(
                f"{backend:<12} {int(r['records']):>10,} {r['seconds']:>8.1f} "
                f"{r['records'] / r['seconds']:>10,.0f} {r['peak_mb']:>8.0f}"
            )
        print("target: >= 20,000 records/s into PostgreSQL, peak memory < 500 MB")


if __name__ == "__main__":
    main()
