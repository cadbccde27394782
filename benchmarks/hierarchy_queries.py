"""Hierarchy benchmark: reads over 100,000 legal entities and 1,000,000 bill-to / ship-to accounts.

Golden records and edges are written straight into PostgreSQL in bulk (COPY through
`mdm.database.bulk_insert`), not through ingest and matching: this measures the hierarchy
reads. Legal entities form groups of 1 to 90 (a root with subsidiaries up to three levels
deep); every legal entity has 2 bill-tos with 4 ship-tos each, so a group's subtree holds at
most 990 nodes. The reads are the hub's own service functions (`descendants`, `ancestors`,
`rollup`), each one recursive query. Target: p99 at most 20 ms for a subtree of up to 1,000
nodes.

    python benchmarks/hierarchy_queries.py [--legal-entities 100000] [--queries 1000] [--url URL]
    python benchmarks/hierarchy_queries.py --skip-build  # measure again, on the database built
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench_hierarchy"
BILL_TOS_PER_ENTITY = 2
SHIP_TOS_PER_BILL_TO = 4
MAX_GROUP = 90
CHUNK_ENTITIES = 10_000


def _group_sizes(total: int, rng: random.Random) -> list[int]:
    """Sizes of corporate groups: mostly single companies, a long tail up to MAX_GROUP."""
    sizes: list[int] = []
    left = total
    while left > 0:
        size = min(left, 1 if rng.random() < 0.5 else int(rng.paretovariate(1.2)) % MAX_GROUP + 1)
        sizes.append(size)
        left -= size
    return sizes


def build(url: str, legal_entities: int, seed: int) -> dict[str, Any]:
    """Create the database and fill it; returns the timing and the nodes to query."""
    from mdm import migrate
    from mdm.database import UnitOfWork, bulk_insert, create_engine, insert_returning_ids, table_of
    from mdm.database import utcnow as now_utc
    from mdm.devtools import recreate_database
    from mdm.golden.models import GoldenRecord
    from mdm.hierarchies.models import HierarchyEdge

    recreate_database(url)
    migrate.upgrade(url)
    engine = create_engine(url)
    uow = UnitOfWork(engine)
    rng = random.Random(seed)
    sizes = _group_sizes(legal_entities, rng)
    goldens, edges = table_of(GoldenRecord), table_of(HierarchyEdge)
    roots: list[tuple[int, int]] = []  # (root golden ID, group size)
    ship_tos: list[int] = []
    entities: list[int] = []
    counts = {"legal_entity": 0, "bill_to": 0, "ship_to": 0, "edges": 0}
    started = time.perf_counter()
    now = now_utc()

    def golden_rows(role: str, n: int) -> list[dict[str, Any]]:
        return [
            {
                "entity_type": "customer",
                "status": "active",
                "merged_into_id": None,
                "version": 1,
                "attributes": {"account_role": role, "legal_name": f"{role} {i}"},
                "provenance": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]

    def edge_row(child: int, parent: int, relation: str) -> dict[str, Any]:
        return {
            "child_golden_id": child,
            "parent_golden_id": parent,
            "relation": relation,
            "status": "active",
            "origin": "derived",
            "source_code": "erp",
            "version": 1,
            "valid_from": now,
            "valid_to": None,
            "actor": "benchmark",
            "reason": "",
        }

    position = 0
    while position < len(sizes):
        chunk: list[int] = []
        while position < len(sizes) and sum(chunk) < CHUNK_ENTITIES:
            chunk.append(sizes[position])
            position += 1
        n_le = sum(chunk)
        with uow.begin() as session:
            le_ids = insert_returning_ids(session, goldens, golden_rows("legal_entity", n_le))
            bt_ids = insert_returning_ids(
                session, goldens, golden_rows("bill_to", n_le * BILL_TOS_PER_ENTITY)
            )
            st_ids = insert_returning_ids(
                session,
                goldens,
                golden_rows("ship_to", n_le * BILL_TOS_PER_ENTITY * SHIP_TOS_PER_BILL_TO),
            )
            rows: list[dict[str, Any]] = []
            offset = 0
            for size in chunk:
                group = le_ids[offset : offset + size]
                offset += size
                roots.append((group[0], size))
                levels: dict[int, int] = {group[0]: 0}
                for member in group[1:]:
                    # A subsidiary hangs under an earlier member at most two levels deep.
                    parent = rng.choice([m for m in group[: group.index(member)] if levels[m] < 3])
                    levels[member] = levels[parent] + 1
                    rows.append(edge_row(member, parent, "subsidiary_of"))
            for i, le in enumerate(le_ids):
                for b in range(BILL_TOS_PER_ENTITY):
                    bt = bt_ids[i * BILL_TOS_PER_ENTITY + b]
                    rows.append(edge_row(bt, le, "bill_to_of"))
                    first = (i * BILL_TOS_PER_ENTITY + b) * SHIP_TOS_PER_BILL_TO
                    rows.extend(
                        edge_row(st, bt, "ship_to_of")
                        for st in st_ids[first : first + SHIP_TOS_PER_BILL_TO]
                    )
            bulk_insert(session, edges, rows)
            counts["legal_entity"] += len(le_ids)
            counts["bill_to"] += len(bt_ids)
            counts["ship_to"] += len(st_ids)
            counts["edges"] += len(rows)
            entities.extend(le_ids)
            ship_tos.extend(rng.sample(st_ids, min(len(st_ids), 2000)))
    # What autovacuum would do after a load: statistics, and the visibility map that lets the
    # recursive step read the covering index alone.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE golden_record")
        conn.exec_driver_sql("VACUUM ANALYZE hierarchy_edge")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "counts": counts,
        "roots": roots,
        "entities": entities,
        "ship_tos": ship_tos,
    }


def existing(url: str, seed: int) -> dict[str, Any]:
    """The nodes to query in a database an earlier run built (``--skip-build``)."""
    from sqlalchemy import text

    from mdm.database import create_engine

    rng = random.Random(seed)
    engine = create_engine(url)
    with engine.connect() as conn:
        sizes = conn.execute(
            text(
                "WITH RECURSIVE up(member, root) AS ("
                " SELECT id, id FROM golden_record"
                " WHERE attributes->>'account_role' = 'legal_entity'"
                " AND NOT EXISTS (SELECT 1 FROM hierarchy_edge e"
                " WHERE e.child_golden_id = golden_record.id"
                " AND e.valid_to IS NULL)"
                " UNION ALL SELECT e.child_golden_id, up.root FROM up JOIN hierarchy_edge e"
                " ON e.parent_golden_id = up.member AND e.relation = 'subsidiary_of'"
                " AND e.valid_to IS NULL)"
                " SELECT root, count(*) FROM up GROUP BY root"
            )
        ).all()
        entities = [
            int(r)
            for (r,) in conn.execute(
                text(
                    "SELECT id FROM golden_record"
                    " WHERE attributes->>'account_role' = 'legal_entity'"
                )
            )
        ]
        ship_tos = [
            int(r)
            for (r,) in conn.execute(
                text(
                    "SELECT id FROM golden_record WHERE attributes->>'account_role' = 'ship_to'"
                    " ORDER BY random() LIMIT 20000"
                )
            )
        ]
    engine.dispose()
    rng.shuffle(ship_tos)
    return {
        "roots": [(int(r), int(n)) for r, n in sizes],
        "entities": entities,
        "ship_tos": ship_tos,
    }


def _percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def _time(nodes: Sequence[int], query: Callable[[int], int]) -> tuple[list[float], list[int]]:
    times: list[float] = []
    sizes: list[int] = []
    for node in nodes:
        started = time.perf_counter()
        sizes.append(query(node))
        times.append((time.perf_counter() - started) * 1000)
    return times, sizes


def measure(url: str, built: dict[str, Any], queries: int, seed: int) -> None:
    """Time the reads over random nodes and print p50 / p99 / max and subtree sizes."""
    from mdm.database import UnitOfWork, create_engine
    from mdm.hierarchies.service import (
        _params,
        _select_nodes,
        _walk_cte,
        ancestors,
        descendants,
        rollup,
    )

    rng = random.Random(seed + 1)
    engine = create_engine(url)
    uow = UnitOfWork(engine)
    big_roots = [r for r, size in built["roots"] if size >= 60]
    cases: list[tuple[str, list[int], Callable[[Any, int], int]]] = [
        (
            "descendants (random legal entity)",
            rng.sample(built["entities"], queries),
            lambda s, n: len(descendants(s, n)),
        ),
        (
            "descendants (group root, 660-990 nodes)",
            [rng.choice(big_roots) for _ in range(queries)],
            lambda s, n: len(descendants(s, n)),
        ),
        (
            "ancestors (random ship-to)",
            rng.sample(built["ship_tos"], min(queries, len(built["ship_tos"]))),
            lambda s, n: len(ancestors(s, n)),
        ),
        (
            "roll-up of ship-tos (group root, 660-990 nodes)",
            [rng.choice(big_roots) for _ in range(queries)],
            lambda s, n: rollup(s, n).count,
        ),
    ]
    with uow.session() as session:
        # Warm the pool and the plan cache once.
        descendants(session, big_roots[0])
        for name, nodes, query in cases:
            times, sizes = _time(nodes, lambda n, q=query: q(session, n))  # type: ignore[misc]
            session.expunge_all()
            p50, p99, worst = _percentiles(times)
            print(
                f"{name:<48} n={len(nodes):>5}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                f"max {worst:6.2f} ms  result size {min(sizes)}-{max(sizes)}"
            )
        walk = _walk_cte(up=False, by_relation=False, dated=False)
        compiled = _select_nodes(walk, up=False, names=False).compile(dialect=engine.dialect)
        # The database's own share: the execution time PostgreSQL reports, without the
        # round trip and the rows' conversion to Python objects.
        server: list[float] = []
        for node in [rng.choice(big_roots) for _ in range(min(queries, 300))]:
            plan = session.connection().exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}",
                compiled.construct_params(_params(node)),
            )
            server.append(float(plan.scalar_one()[0]["Execution Time"]))
        p50, p99, worst = _percentiles(server)
        print(
            f"{'descendants (group root), database time only':<48} n={len(server):>5}  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:6.2f} ms"
        )
        params = compiled.construct_params(_params(big_roots[0]))
        print("\nEXPLAIN (ANALYZE, BUFFERS) of one group's descendants, as `descendants` runs it:")
        plan = session.connection().exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", params
        )
        for (line,) in plan:
            print("   ", line)
    engine.dispose()


def main() -> None:
    """Build the hierarchy and measure the reads."""
    # Run as a script, this file's folder comes first on the path and its name would hide the
    # `hierarchy` library.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--legal-entities", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--url", default=PG_URL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--skip-build", action="store_true", help="Measure a database an earlier run built."
    )
    args = parser.parse_args()
    if args.skip_build:
        measure(args.url, existing(args.url, args.seed), args.queries, args.seed)
        return
    built = build(args.url, args.legal_entities, args.seed)
    c = built["counts"]
    print(
        f"built {c['legal_entity']:,} legal entities, {c['bill_to']:,} bill-tos, "
        f"{c['ship_to']:,} ship-tos, {c['edges']:,} edges in {built['seconds']:.1f} s "
        f"({len(built['roots']):,} groups, largest {max(s for _, s in built['roots'])})"
    )
    measure(args.url, built, args.queries, args.seed)


if __name__ == "__main__":
    main()
