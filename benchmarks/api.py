"""API benchmark: the HTTP API under concurrent load over 1,000,000 golden records in PostgreSQL.

What is measured. The hub's API served as a user runs it (``mdm serve --workers 2``: uvicorn
with two processes, each building the app from ``MDM_*`` settings) over a PostgreSQL database
holding ``--goldens`` golden customer records. One scenario at a time, ``--concurrency``
clients with keep-alive connections send requests back to back for ``--seconds`` (after a
short warm-up that is not counted):

- ``golden``: ``GET /v1/golden/{id}`` of a random golden record (with its provenance and
  cross-reference);
- ``xref``: ``GET /v1/xref/{source}/customer/{source_id}`` of a random source record;
- ``match``: ``POST /v1/match/customer``, match-on-query with a perturbed copy (a typo in the
  name, sometimes no phone or no identifier) of a random stored record; "not available" when
  the server has no such route;
- ``upsert``: ``PUT /v1/sources/{source}/records/customer/{source_id}``, one record stored and
  matched in one transaction (shared with the other ``PUT``s that reach the same server process
  at the same moment: the server's group commit, ``mdm/api/coalesce.py``): half of them new
  records (a perturbed copy of a stored record under a new source ID, so they mostly join an
  existing golden record), half changes of stored records (a new phone number; each stored
  record is changed once at most).

For each it prints the requests, the errors by status, the throughput and the p50 / p99 / max
latency seen by the client, and the target: look-ups p99 <= 10 ms, upsert-and-match and
match-on-query p99 <= 50 ms (on a 2-core machine). Latencies are of successful requests;
errors are counted apart. Next to them, from the server's own request-duration histogram
(``GET /metrics``, when it has one): the mean time inside the app and the share of requests
it answered within the target, which tells the server's time from the wire's and the client's.
Below the table, how the clients' connections were spread over the server's processes (read
from /proc on Linux, `connections_per_process`): the server hands each to the worker holding
the fewest, so 8 on 2 should read 4/4; an uneven split puts more requests in one process's
queue. And how many MB the machine read from disk during each measured run, and how much WAL
PostgreSQL wrote per request, with the checkpoints begun during the run (after a checkpoint a
page's first change writes the whole page, so a write costs more WAL, and its commit waits
longer, right after one; the settings that decide this are printed first, `write_settings`).

Before the scenarios, where autovacuum is off (as on the CI machines), it does what autovacuum
would have done after earlier runs (``VACUUM ANALYZE``, `refresh_statistics`): their dead rows
cleared, the statistics of tables they grew refreshed. Then it prints PostgreSQL's
``shared_buffers`` next to the size of the tables the scenarios read, and reads those tables
into the buffer cache (``pg_prewarm``; not with ``--no-prewarm``), as a server that has been up
a while holds them (`warm_cache`).

The load generator is one asyncio process on uvloop with a minimal keep-alive HTTP/1.1 client
(`_Connection`), light but not free: it shares the machine's cores with the server processes
and PostgreSQL, and the CPU time it used is printed next to the figures. On a busy machine the
figures are noisy; compare runs, not single numbers.

How the database is seeded (minutes, not the half hour of a full ingest and match). Customers
come from `mdm.synthetic.iter_flat_customers`, turned into canonical records and validated as a
``PUT`` body is. The records of one generated entity (its ground truth) form one golden record:
the seed is the hub's state after a perfect match, so ``--goldens`` is exactly the number of
golden records (about 1.6 source records each). Worker processes (``--build-workers``) compute
every row the hub itself would write, with the hub's own functions:

- ``source_record`` and ``source_record_version`` (content hash and JSON as ingest computes
  them: `mdm.ingest.service.Candidate`), already matched (``matched_version = version``);
- ``golden_record`` (attributes and provenance from the survivorship rules, `survive`, as
  `recompute` stores them), ``golden_member`` and ``xref_history`` (link reason ``new`` for a
  single record, ``auto`` for a group, as the match stage links them);
- ``match_features`` and ``blocking_key`` (`matching.standardise` of the flattened records and
  `matching.blocking_keys`, stored as the match stage's ``_store_features`` stores them);
- a trained model (`mdm.linkage.service.train_model`), trained on the records stored once
  there are 50,000 of them (about 65,000), as the match stage trains on its first chunk of
  50,000.

The parent writes the rows with COPY (`mdm.database.bulk_insert`), one transaction per chunk of
20,000 golden records, with foreign-key triggers off for that session
(``session_replication_role = replica``, which needs a superuser; the rows are consistent by
construction), then sets the ID sequences and runs VACUUM ANALYZE. Audit entries and outbox
events of the seed are not written (nothing measured reads them); hierarchies are not derived.
A million golden records (1.6 million source records, 8.3 million blocking keys, 6.9 GB) take
about 15 minutes on two busy cores. ``--skip-build`` reuses the database, migrating it to the
code's head first, as an upgrade of the hub would.

Authentication: when the server has the OAuth2 token endpoint, an ``admin`` client is created
(`mdm.clients.service.create_client`) and a bearer token fetched for each scenario; the per
client rate limit is turned off (``MDM_RATE_LIMIT_PER_MINUTE=0``), which the output says.

    python benchmarks/api.py                                  # 1,000,000 golden records
    python benchmarks/api.py --goldens 100000 --seconds 10
    python benchmarks/api.py --skip-build                     # measure again, on the database built
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mdm_bench_api"
ENTITIES_PER_CHUNK = 20_000
CHUNKS_PER_WORKER = 3
# The match stage trains its first model on its first chunk of 50,000 records.
TRAINING_RECORDS = 50_000
SAMPLE_SIZE = 20_000
TOKEN_PATH = "/v1/oauth/token"
# The order rows are written in; each chunk's rows reference only rows of the same chunk.
TABLES = (
    "source_record",
    "source_record_version",
    "golden_record",
    "golden_member",
    "xref_history",
    "match_features",
    "blocking_key",
)
Rows = dict[str, list[dict[str, Any]]]  # table name -> rows to COPY
_ADDRESS_TYPE = {"legal_entity": "legal", "bill_to": "billing", "ship_to": "shipping"}


# --- seeding ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    """One chunk for a worker process: its entities and the IDs its rows start at."""

    first_record_id: int
    first_golden_id: int
    entities: list[list[dict[str, Any]]]
    systems: dict[str, tuple[int, int]]  # source code -> (source_system.id, trust_rank)
    now: datetime


def _canonical(flat: dict[str, Any]) -> dict[str, Any]:
    """A generated flat customer as the canonical body a source system would send."""
    identifiers = [{k: v for k, v in t.items() if v is not None} for t in flat["tax_ids"]]
    if flat["duns"]:
        identifiers.append({"scheme": "duns", "value": flat["duns"]})
    address = {
        "type": _ADDRESS_TYPE.get(flat["role"], "other"),
        "lines": [flat["address"]] if flat["address"] else [],
        "city": flat["city"],
        "region": flat["region"],
        "postal_code": flat["postal_code"],
        "country": flat["country"],
    }
    body = {
        "legal_name": flat["name"],
        "account_role": flat["role"],
        "identifiers": identifiers,
        "addresses": [{k: v for k, v in address.items() if v not in (None, [])}],
        "phones": flat["phones"],
        "emails": flat["emails"],
        "website": flat["website"],
    }
    return {k: v for k, v in body.items() if v not in (None, [])}


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot store {type(value).__name__}")


def peak_memory_mb() -> float:
    """This process's peak resident memory (its own, not that of the process it forked from)."""
    # ru_maxrss survives exec, so a spawned worker would report its parent's size at fork.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _prepare(job: _Job) -> tuple[Rows, float]:
    """Every row of a chunk, computed in a worker process with the hub's own functions.

    Returns the rows by table and the worker's peak memory in MB.
    """
    import orjson

    from matching import blocking_keys, standardise
    from mdm.canonical.flatten import flatten
    from mdm.canonical.models import EntityType
    from mdm.database import JsonText
    from mdm.golden.service import survivorship_for
    from mdm.golden.survivorship import Member, survive
    from mdm.ingest.service import Candidate
    from mdm.linkage.service import _frame_records, _thaw, spec_for
    from mdm.mapping.service import validate_canonical

    def json_text(value: Any) -> JsonText:
        # What recompute stores: survivorship's dataclasses and datetimes as plain JSON.
        return JsonText(
            orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
        )

    spec = spec_for("customer")
    survivorship = survivorship_for("customer")
    rows: Rows = {name: [] for name in TABLES}
    flat_views: list[dict[str, Any]] = []
    now = job.now
    record_id, golden_id = job.first_record_id, job.first_golden_id
    for group in job.entities:
        members: list[Member] = []
        # As the match stage links: "new" for a record that starts a golden record alone.
        reason = "new" if len(group) == 1 else "auto"
        for flat in group:
            source, source_id = flat["source"], flat["id"].split(":", 1)[1]
            raw = {**_canonical(flat), "source_id": source_id}
            mapped = validate_canonical(EntityType.CUSTOMER, raw)
            canonical = mapped.canonical
            if canonical is None:
                raise RuntimeError(f"generated record {flat['id']} is invalid: {mapped.errors}")
            candidate = Candidate(source_id, canonical, raw)
            system_id, trust_rank = job.systems[source]
            rows["source_record"].append(
                {
                    "id": record_id,
                    "source_system_id": system_id,
                    "entity_type": "customer",
                    "source_id": source_id,
                    "version": 1,
                    "content_hash": candidate.content_hash,
                    "canonical": candidate.canonical_json,
                    "received_at": now,
                    "deleted_at": None,
                    "last_batch_id": None,
                    "matched_version": 1,
                }
            )
            rows["source_record_version"].append(
                {
                    "source_record_id": record_id,
                    "version": 1,
                    "content_hash": candidate.content_hash,
                    "raw": candidate.raw_json,
                    "canonical": candidate.canonical_json,
                    "deleted": False,
                    "received_at": now,
                    "batch_id": None,
                }
            )
            rows["golden_member"].append(
                {
                    "source_record_id": record_id,
                    "golden_id": golden_id,
                    "link_reason": reason,
                    "probability": None,
                    "linked_at": now,
                }
            )
            rows["xref_history"].append(
                {
                    "source_record_id": record_id,
                    "golden_id": golden_id,
                    "linked_at": now,
                    "unlinked_at": None,
                    "reason": reason,
                }
            )
            members.append(Member(record_id, source, source_id, trust_rank, now, canonical))
            flat_views.append(flatten("customer", str(record_id), source, canonical))
            record_id += 1
        view = survive(members, survivorship, None, now)
        rows["golden_record"].append(
            {
                "id": golden_id,
                "entity_type": "customer",
                "status": "active",
                "merged_into_id": None,
                "version": 1,
                "attributes": json_text(view.attributes),
                "provenance": json_text(view.provenance),
                "created_at": now,
                "updated_at": now,
            }
        )
        golden_id += 1
    # Features and blocking keys exactly as the match stage's _store_features writes them.
    features = _frame_records(standardise(flat_views, spec))
    for rid, std in zip(range(job.first_record_id, record_id), features, strict=True):
        rows["match_features"].append(
            {
                "source_record_id": rid,
                "entity_type": "customer",
                "features": JsonText(orjson.dumps(std).decode()),
            }
        )
        seen: set[str] = set()
        for rule, key in blocking_keys({k: _thaw(v) for k, v in std.items()}, spec):
            text_key = f"{rule}:{key}"[:300]
            if text_key not in seen:
                seen.add(text_key)
                rows["blocking_key"].append(
                    {"entity_type": "customer", "key": text_key, "source_record_id": rid}
                )
    return rows, peak_memory_mb()


def _entities(goldens: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """The generated records grouped by their entity (the generator yields them together)."""
    from mdm.synthetic import iter_flat_customers

    group: list[dict[str, Any]] = []
    made = 0
    # Entities have 1.6 records on average; the generator is lazy, the bound only a bound.
    for flat in iter_flat_customers(goldens * 10, seed=seed):
        if group and flat["entity_id"] != group[0]["entity_id"]:
            yield group
            made += 1
            if made == goldens:
                return
            group = []
        group.append(flat)
    if group:
        yield group


def build(url: str, goldens: int, seed: int, workers: int) -> dict[str, Any]:
    """Create the database and fill it; returns timings and counts."""
    import multiprocessing

    from sqlalchemy import select, text

    from mdm import migrate
    from mdm.database import UnitOfWork, bulk_insert, create_engine, table_of, utcnow
    from mdm.devtools import recreate_database
    from mdm.golden.models import GoldenMember, GoldenRecord, XrefHistory
    from mdm.linkage.models import BlockingKey, MatchFeatures
    from mdm.linkage.service import train_model
    from mdm.mapping.service import load_mappings
    from mdm.sources.models import SourceRecord, SourceRecordVersion, SourceSystem
    from mdm.sources.service import sync_source_systems

    recreate_database(url)
    migrate.upgrade(url)
    engine = create_engine(url)
    uow = UnitOfWork(engine)
    tables = {
        table.name: table
        for table in map(
            table_of,
            (
                SourceRecord,
                SourceRecordVersion,
                GoldenRecord,
                GoldenMember,
                XrefHistory,
                MatchFeatures,
                BlockingKey,
            ),
        )
    }
    mappings = load_mappings([ROOT / "samples" / "mappings"])
    with uow.begin() as session:
        sync_source_systems(session, [m.source for m in mappings.values()])
    with uow.session() as session:
        systems = {s.code: (s.id, s.trust_rank) for s in session.scalars(select(SourceSystem))}
    now = utcnow()
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    timings: dict[str, float] = {"train": 0.0}
    trained_on = 0

    worker_peak = 0.0

    def write(done: tuple[Rows, float]) -> None:
        nonlocal worker_peak
        rows, peak = done
        worker_peak = max(worker_peak, peak)
        with uow.begin() as session:
            # The rows are consistent by construction: no per-row foreign-key triggers.
            session.execute(text("SET LOCAL session_replication_role = replica"))
            session.execute(text("SET LOCAL synchronous_commit = off"))
            for name in TABLES:
                bulk_insert(session, tables[name], rows[name])
                counts[name] += len(rows[name])
        if not trained_on and counts["source_record"] >= TRAINING_RECORDS:
            train()

    def train() -> None:
        nonlocal trained_on
        mark = time.perf_counter()
        with uow.begin() as session:
            # On every record stored so far, as the match stage trains on its first chunk.
            if train_model(session, "customer") is None:
                raise RuntimeError("too few records to train a model")
        timings["train"] = time.perf_counter() - mark
        trained_on = counts["source_record"]

    def progress() -> None:
        print(
            f"  {counts['golden_record']:>9,} golden records, {counts['source_record']:>9,} "
            f"source records  ({time.perf_counter() - started:6.0f} s)",
            flush=True,
        )

    entities = _entities(goldens, seed)
    record_id = golden_id = 1
    # Spawned, not forked: the parent holds database connections. Workers are replaced now
    # and then: the standardisers' value caches (up to 2**20 entries each) grow by about
    # 75 MB a chunk.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, max_tasks_per_child=CHUNKS_PER_WORKER
    ) as pool:
        pending: deque[Future[tuple[Rows, float]]] = deque()
        while chunk := list(islice(entities, ENTITIES_PER_CHUNK)):
            job = _Job(record_id, golden_id, chunk, systems, now)
            record_id += sum(len(group) for group in chunk)
            golden_id += len(chunk)
            pending.append(pool.submit(_prepare, job))
            if len(pending) > workers:
                write(pending.popleft().result())
                progress()
        while pending:
            write(pending.popleft().result())
            progress()
    if not trained_on:
        train()
    mark = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("source_record", "golden_record"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.exec_driver_sql("VACUUM ANALYZE")
    timings["vacuum_analyze"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    engine.dispose()
    peak_mb = {
        "parent": peak_memory_mb(),
        "worker": worker_peak,
    }
    return {"counts": dict(counts), "timings": timings, "trained_on": trained_on, "peak": peak_mb}


def database_sizes(url: str) -> tuple[int, list[tuple[str, float, int]]]:
    """The database's size in bytes and the largest tables: (name, rows, bytes incl. indexes)."""
    from sqlalchemy import text

    from mdm.database import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        total = int(conn.scalar(text("SELECT pg_database_size(current_database())")) or 0)
        tables = [
            (str(name), float(rows), int(size))
            for name, rows, size in conn.execute(
                text(
                    "SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r' AND n.nspname = 'public'"
                    " ORDER BY 3 DESC LIMIT 8"
                )
            )
        ]
    engine.dispose()
    return total, tables


# The tables the four scenarios read (with their indexes): what a server that has been up a
# while holds in memory.
HOT_TABLES = (
    "blocking_key",
    "match_features",
    "golden_member",
    "golden_record",
    "source_record",
    "source_system",
    "match_model",
    "xref_history",
)


def warm_cache(url: str, prewarm: bool) -> str:
    """Say how PostgreSQL's buffer cache compares with what the scenarios read; fill it if asked.

    A server that has run a while holds the tables its requests read in memory; a benchmark
    started after seeding, or after another run churned the cache, would measure the disk.
    With ``prewarm`` the hot tables and their indexes are read into the buffer cache
    (``pg_prewarm``, a contrib extension). When ``shared_buffers`` is smaller than them,
    requests read the rest from the OS page cache, which the OS may give back: on a virtual
    machine that reclaims idle page cache, match-on-query at a million records read 187 MB from
    disk in one 30-second run and its p99 doubled.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from mdm.database import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        buffers = int(
            conn.scalar(
                text("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
            )
            or 0
        )
        relations = [
            (str(name), int(size))
            for name, size in conn.execute(
                text(
                    "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND (c.relname = ANY(:t) OR c.oid IN ("
                    "  SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
                    "  WHERE t.relname = ANY(:t)))"
                ),
                {"t": list(HOT_TABLES)},
            )
        ]
        hot = sum(size for _, size in relations)
        line = (
            f"PostgreSQL shared_buffers {buffers / 2**20:,.0f} MB; the tables the scenarios read, "
            f"with their indexes, {hot / 2**20:,.0f} MB"
        )
        if buffers < hot:
            line += (
                " (more than the buffer cache: requests may read from disk; set shared_buffers, "
                "README 'Running on PostgreSQL')"
            )
        if prewarm:
            started = time.perf_counter()
            try:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
                for name, _ in relations:
                    conn.execute(text("SELECT pg_prewarm(CAST(:r AS regclass))"), {"r": name})
                line += (
                    f"; read into the cache in {time.perf_counter() - started:.0f} s (pg_prewarm)"
                )
            except DBAPIError as exc:  # no contrib package, or not allowed to create it
                line += f"; not pre-warmed ({type(exc).__name__}: pg_prewarm unavailable)"
    engine.dispose()
    return line


def refresh_statistics(url: str) -> str | None:
    """VACUUM ANALYZE the database when autovacuum is off; what was done, or None.

    Earlier runs of the write scenarios leave dead rows (each upsert replaces a golden
    record's row, say) and grow tables (review tasks, batches, events) that autovacuum would
    clean and analyse as they grow; without it, every run would start on more dead rows than
    the last, and plans would stay those of the seeded tables (an empty review queue), which
    a server's database would not show.
    """
    from sqlalchemy import text

    from mdm.database import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        if conn.scalar(text("SHOW autovacuum")) != "off":
            engine.dispose()
            return None
        started = time.perf_counter()
        conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()
    seconds = time.perf_counter() - started
    return (
        "autovacuum is off here: dead rows cleared, statistics refreshed "
        f"(VACUUM ANALYZE, {seconds:.0f} s)"
    )


def disk_reads_mb() -> float | None:
    """Kilobytes read from block devices since boot, from /proc/vmstat (Linux), in MB."""
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, value = line.split()
            if name == "pgpgin":
                return int(value) / 1024
    except (OSError, ValueError):
        return None
    return None


# The settings that decide how much a write costs PostgreSQL beyond its statements: the WAL it
# writes (full page images after each checkpoint, compressed or not) and the wait at commit.
WRITE_SETTINGS = ("max_wal_size", "checkpoint_timeout", "wal_compression", "synchronous_commit")


def _ask(url: str, sql: str) -> Any:
    """The one row a read of PostgreSQL's state answers."""
    from sqlalchemy import text

    from mdm.database import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text(sql)).one()
    engine.dispose()
    return row


def write_settings(url: str) -> str:
    """PostgreSQL's settings for writes, as one line (README 'Running on PostgreSQL')."""
    values = _ask(url, "SELECT " + ", ".join(f"current_setting('{n}')" for n in WRITE_SETTINGS))
    shown = [f"{name} {value}" for name, value in zip(WRITE_SETTINGS, values, strict=True)]
    return "PostgreSQL writes: " + ", ".join(shown)


def wal_position(url: str) -> tuple[int, int]:
    """PostgreSQL's WAL position (bytes written since it began) and checkpoints started so far."""
    written, checkpoints = _ask(
        url,
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint,"
        " (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)",
    )
    return int(written), int(checkpoints)


# --- the server ----------------------------------------------------------------------------


def _has_setting(name: str) -> bool:
    from mdm.settings import Settings

    return name in Settings.model_fields


def start_server(
    url: str, port: int, workers: int, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``mdm serve --workers N`` in its own process group; returns it and what was configured."""
    env = {
        **os.environ,
        "MDM_DATABASE_URL": url,
        "MDM_API_HOST": "127.0.0.1",
        "MDM_API_PORT": str(port),
        # As in production: a secret of its own, the same in every worker.
        "MDM_JWT_SECRET": secrets.token_urlsafe(32),
    }
    notes = []
    if _has_setting("rate_limit_per_minute"):
        env["MDM_RATE_LIMIT_PER_MINUTE"] = "0"
        notes.append("per-client rate limit turned off (MDM_RATE_LIMIT_PER_MINUTE=0)")
    mdm = Path(sys.executable).with_name("mdm")
    command = (
        [str(mdm)] if mdm.exists() else [sys.executable, "-c", "from mdm.cli import main; main()"]
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--workers", str(workers), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, "; ".join(notes)


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/ready`` until it answers 200 (two minutes at most)."""
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready in time:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its workers (its own process group), gently, then firmly."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(slots=True)
class Credentials:
    """An API client the benchmark created, if the hub has clients."""

    client_id: str
    secret: str


def create_admin_client(url: str) -> Credentials | None:
    """An ``admin`` API client in the benchmark database, if this hub version has clients."""
    try:
        from mdm.clients.service import create_client
    except ImportError:
        return None
    from mdm.database import UnitOfWork, create_engine

    engine = create_engine(url)
    with UnitOfWork(engine).begin() as session:
        client, secret = create_client(session, "bench-api", ["admin"])
        credentials = Credentials(client.client_id, secret)
    engine.dispose()
    return credentials


def fetch_token(base: str, credentials: Credentials | None) -> str | None:
    """A bearer token from the token endpoint, or None when the server has none."""
    import httpx

    if credentials is None:
        return None
    response = httpx.post(
        f"{base}{TOKEN_PATH}",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.secret,
        },
        timeout=30,
    )
    if response.status_code in {404, 405}:
        return None
    response.raise_for_status()
    return str(response.json()["access_token"])


# --- the load --------------------------------------------------------------------------------


@dataclass(slots=True)
class Samples:
    """Existing keys to ask for, drawn at random from the database."""

    golden_ids: list[int]
    records: list[tuple[str, str, dict[str, Any]]]  # (source, source_id, canonical)


def draw_samples(url: str, size: int) -> Samples:
    """Random golden IDs and source records (with their canonical form)."""
    from sqlalchemy import text

    from mdm.database import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        golden_ids = [
            int(g)
            for (g,) in conn.execute(
                text(
                    "SELECT id FROM golden_record WHERE status = 'active'"
                    " ORDER BY random() LIMIT :n"
                ),
                {"n": size},
            )
        ]
        records = [
            (str(code), str(sid), dict(canonical))
            for code, sid, canonical in conn.execute(
                text(
                    "SELECT s.code, r.source_id, r.canonical FROM source_record r"
                    " JOIN source_system s ON s.id = r.source_system_id"
                    " WHERE r.entity_type = 'customer' AND r.deleted_at IS NULL"
                    " AND r.source_id NOT LIKE 'bench-%' ORDER BY random() LIMIT :n"
                ),
                {"n": size},
            )
        ]
    engine.dispose()
    return Samples(golden_ids, records)


def perturb(canonical: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of a stored record as another system might send it: a typo, fewer fields."""
    body = {k: v for k, v in canonical.items() if k not in {"source_id", "entity_type"}}
    name = body.get("legal_name")
    if isinstance(name, str) and len(name) > 3 and rng.random() < 0.7:
        i = rng.randrange(len(name) - 1)
        body["legal_name"] = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if rng.random() < 0.3:
        body.pop("phones", None)
    if rng.random() < 0.3:
        body.pop("identifiers", None)
    return body


Request = tuple[str, str, dict[str, Any] | None]


@dataclass(slots=True)
class Scenario:
    """A kind of request, how to make the next one, and its latency target."""

    name: str
    method: str
    route: str  # the start of its route template, to find it in the server's metrics
    target_ms: float
    next_request: Callable[[], Request]


def scenarios(samples: Samples, seed: int) -> list[Scenario]:
    """The four scenarios over the sampled keys."""
    rng = random.Random(seed)
    tag = secrets.token_hex(3)
    changes = iter(rng.sample(samples.records, len(samples.records)))
    created = 0
    flip = False

    def golden() -> Request:
        return "GET", f"/v1/golden/{rng.choice(samples.golden_ids)}", None

    def xref() -> Request:
        source, source_id, _ = rng.choice(samples.records)
        return "GET", f"/v1/xref/{source}/customer/{quote(source_id, safe='/')}", None

    def match() -> Request:
        return "POST", "/v1/match/customer", perturb(rng.choice(samples.records)[2], rng)

    def upsert() -> Request:
        nonlocal created, flip
        flip = not flip
        change = next(changes, None) if flip else None
        if change is not None:
            source, source_id, canonical = change
            body = {k: v for k, v in canonical.items() if k != "entity_type"}
            body["phones"] = [f"+49 30 {rng.randrange(10**7):07d}"]
        else:
            source, _, canonical = rng.choice(samples.records)
            created += 1
            source_id = f"bench-{tag}-{created}"
            body = perturb(canonical, rng)
        return "PUT", f"/v1/sources/{source}/records/customer/{quote(source_id, safe='/')}", body

    return [
        Scenario("golden", "GET", "/v1/golden/{", 10, golden),
        Scenario("xref", "GET", "/v1/xref/", 10, xref),
        Scenario("match", "POST", "/v1/match/", 50, match),
        Scenario("upsert", "PUT", "/v1/sources/", 50, upsert),
    ]


@dataclass(slots=True)
class Outcome:
    """What one scenario's run saw."""

    seconds: float
    client_cpu_seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    # How many of the clients' connections each server process held, most first (Linux).
    split: list[int] | None = None

    @property
    def errors(self) -> dict[str, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if not s.startswith("2")}


class _Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be.

    A load generator on the server's own two cores takes CPU from what it measures: this one
    writes each request in one call and reads a response by its Content-Length, a few dozen
    microseconds a request, where a full client library (httpx) spent over 0.5 ms. It speaks
    only what this server answers (Content-Length bodies, no chunked encoding).
    """

    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.host, self.port = host, port
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._head = f"Host: {host}:{port}\r\n{auth}".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        extra = b"" if body is None else b"Content-Type: application/json\r\n"
        length = b"" if body is None else b"Content-Length: %d\r\n" % len(body)
        self._writer.write(
            b"%s %s HTTP/1.1\r\n%s%s%s\r\n%s"
            % (method.encode(), path.encode(), self._head, extra, length, body or b"")
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at < 0:
            raise ValueError(f"a response without Content-Length: {head[:200]!r}")
        size = int(lowered[at + 17 : lowered.index(b"\r\n", at + 2)])
        await self._reader.readexactly(size)
        if b"\r\nconnection: close" in lowered:
            await self.close()
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def drive(
    base: str,
    token: str | None,
    scenario: Scenario,
    clients: int,
    seconds: float,
    split: Callable[[], list[int] | None] | None = None,
) -> Outcome:
    """``clients`` concurrent request loops for ``seconds``, on keep-alive connections.

    ``split``, when given, is asked once the connections are open how they are spread over
    the server's processes.
    """
    import orjson

    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    outcome = Outcome(0.0, 0.0)

    async def loop(deadline: float) -> None:
        connection = _Connection(host, port, token)
        try:
            while time.perf_counter() < deadline:
                method, path, body = scenario.next_request()
                content = None if body is None else orjson.dumps(body)
                started = time.perf_counter()
                try:
                    status = str(await connection.request(method, path, content))
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    status = type(exc).__name__
                    await connection.close()
                elapsed = (time.perf_counter() - started) * 1000
                outcome.statuses[status] += 1
                if status.startswith("2"):
                    outcome.latencies_ms.append(elapsed)
        finally:
            await connection.close()

    async def look_at_split(split: Callable[[], list[int] | None]) -> None:
        await asyncio.sleep(min(1.0, seconds / 2))  # the connections are open by then
        outcome.split = split()

    cpu, wall = time.process_time(), time.perf_counter()
    loops = [loop(wall + seconds) for _ in range(clients)]
    await asyncio.gather(*loops, *([look_at_split(split)] if split is not None else []))
    outcome.seconds = time.perf_counter() - wall
    outcome.client_cpu_seconds = time.process_time() - cpu
    return outcome


def connections_per_process(server: int, port: int) -> list[int] | None:
    """How many established connections to ``port`` each worker of ``server`` holds.

    Read from /proc (Linux; None elsewhere). A worker is a child process started by
    multiprocessing's spawn. The server hands each new connection to the worker holding the
    fewest, so 8 clients on 2 workers should read 4/4; a worker with more of them answers
    each later (under the kernel's ``SO_REUSEPORT`` hash, which the server used before, 5/3,
    6/2 and 7/1 explained much of one run's p99 against another's).
    """
    proc = Path("/proc")
    established: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = proc / "net" / table
        if not path.exists():
            return None
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":  # established
                established.add(f"socket:[{inode}]")
    counts = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # The parent's PID is the second field after the command name (in parentheses).
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != server:
                continue
            if b"spawn_main" not in (stat.parent / "cmdline").read_bytes():
                continue  # multiprocessing's resource tracker, not a worker
            links = {str(fd.readlink()) for fd in (stat.parent / "fd").iterdir()}
        except (OSError, ValueError, IndexError):  # a process that just ended
            continue
        counts.append(len(links & established))
    return sorted(counts, reverse=True)


def _run(coroutine: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run the load on uvloop where it is installed (the server's own event loop)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the hub
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def route_exists(base: str, token: str | None, scenario: Scenario) -> tuple[bool, str]:
    """Whether the server has the scenario's route: one request, where 404 or 405 means no."""
    import httpx

    method, path, body = scenario.next_request()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(method, f"{base}{path}", json=body, headers=headers, timeout=30)
    if response.status_code in {404, 405}:
        return False, f"{response.status_code} {response.text[:200]}"
    return True, ""


# (method, route template) -> [count, sum of seconds, {bucket bound: cumulative count}]
Histograms = dict[tuple[str, str], tuple[float, float, dict[float, float]]]


def server_histograms(base: str) -> Histograms | None:
    """The server's own request-duration histograms (``GET /metrics``), if it has them."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{base}/metrics", timeout=30)
    if response.status_code != 200:
        return None
    found: dict[tuple[str, str], tuple[float, float, dict[float, float]]] = {}
    for family in text_string_to_metric_families(response.text):
        if family.name != "mdm_http_request_duration_seconds":
            continue
        for sample in family.samples:
            key = (sample.labels["method"], sample.labels["route"])
            count, total, buckets = found.get(key, (0.0, 0.0, {}))
            if sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total += sample.value
            elif sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            found[key] = (count, total, buckets)
    return found


def server_side(
    scenario: Scenario, before: Histograms | None, after: Histograms | None
) -> tuple[str, float | None]:
    """The server's mean time for the scenario's requests and the share within the target."""
    if before is None or after is None:
        return "-", None
    count = total = within = 0.0
    bound = scenario.target_ms / 1000
    for (method, route), (n, seconds, buckets) in after.items():
        if method != scenario.method or not route.startswith(scenario.route):
            continue
        n0, seconds0, buckets0 = before.get((method, route), (0.0, 0.0, {}))
        count += n - n0
        total += seconds - seconds0
        within += buckets.get(bound, 0.0) - buckets0.get(bound, 0.0)
    if count <= 0 or within < 0:  # no requests seen, or a scrape of an unshared registry
        return "-", None
    share = f"{within / count:.0%}" if any(bound in b for _, _, b in after.values()) else "?"
    mean = total / count * 1000
    return f"{mean:.1f} ms, {share} <= {scenario.target_ms:g} ms", mean


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


HEADER = (
    f"{'':<7} {'requests':>8} {'ok/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  "
    f"{'p99 target':<17} {'server: mean, share in target':<30} {'client CPU':>10}  errors"
)


def report(scenario: Scenario, outcome: Outcome, server: str) -> float | None:
    """One scenario's line: volume, throughput, latency, the target, server time, errors.

    Returns the client's median latency.
    """
    ok = len(outcome.latencies_ms)
    total = sum(outcome.statuses.values())
    errors = ", ".join(f"{s}: {n}" for s, n in outcome.errors.items()) or "none"
    if not ok:
        print(f"{scenario.name:<7} {total:>8} requests, none succeeded; errors: {errors}")
        return None
    ordered = sorted(outcome.latencies_ms)
    p50, p99 = _percentile(ordered, 0.5), _percentile(ordered, 0.99)
    verdict = f"<= {scenario.target_ms:g} ms " + ("met" if p99 <= scenario.target_ms else "NOT met")
    print(
        f"{scenario.name:<7} {total:>8} {ok / outcome.seconds:>7.1f} {p50:>7.1f} {p99:>7.1f} "
        f"{ordered[-1]:>7.1f}  {verdict:<17} {server:<30} "
        f"{outcome.client_cpu_seconds / outcome.seconds:>10.0%}  {errors}"
    )
    return p50


def measure(args: argparse.Namespace) -> None:
    """Serve the API, then run each scenario under load and print its figures."""
    base = f"http://127.0.0.1:{args.port}"
    samples = draw_samples(args.url, SAMPLE_SIZE)
    credentials = create_admin_client(args.url)
    refreshed = refresh_statistics(args.url)
    if refreshed:
        print(refreshed)
    print(warm_cache(args.url, args.prewarm))
    print(write_settings(args.url))
    with tempfile.TemporaryDirectory(prefix="mdm-bench-api-") as tmp:
        log = Path(tmp) / "server.log"
        process, notes = start_server(args.url, args.port, args.workers, log)
        try:
            wait_until_ready(base, process, log)
            token = fetch_token(base, credentials)
            print(
                f"server: mdm serve --workers {args.workers} on {base}; "
                + ("bearer token of an admin client" if token else "no authentication")
                + (f"; {notes}" if notes else "")
            )
            print(
                f"load: {args.concurrency} concurrent clients (one uvloop process, raw HTTP/1.1, "
                f"keep-alive) for {args.seconds:g} s per scenario after a {args.warmup:g} s "
                f"warm-up. The client shares the {os.cpu_count()} cores with the server and "
                "PostgreSQL; its CPU use is shown as a share of one core."
            )
            print(f"\n{HEADER}")
            gaps: list[float] = []
            splits: list[str] = []
            reads: list[str] = []
            wal: list[str] = []
            for scenario in scenarios(samples, args.seed):
                if scenario.name not in args.scenarios:
                    continue
                # A fresh token each time: a run can outlast one.
                token = fetch_token(base, credentials)
                # Match-on-query is the newest route: a server without it says "not available".
                ok, why = (
                    route_exists(base, token, scenario) if scenario.name == "match" else (True, "")
                )
                if not ok:
                    print(f"{scenario.name:<7} not available ({why})")
                    continue
                _run(drive(base, token, scenario, args.concurrency, args.warmup))
                before = server_histograms(base)
                read_before = disk_reads_mb()
                wal_before = wal_position(args.url)
                outcome = _run(
                    drive(
                        base,
                        token,
                        scenario,
                        args.concurrency,
                        args.seconds,
                        split=lambda: connections_per_process(process.pid, args.port),
                    )
                )
                read_after = disk_reads_mb()
                wal_after = wal_position(args.url)
                if outcome.latencies_ms:
                    per_request = (wal_after[0] - wal_before[0]) / len(outcome.latencies_ms)
                    checkpoints = wal_after[1] - wal_before[1]
                    wal.append(f"{scenario.name} {per_request / 1024:,.1f} kB ({checkpoints})")
                if read_before is not None and read_after is not None:
                    reads.append(f"{scenario.name} {read_after - read_before:,.0f}")
                server, server_mean = server_side(scenario, before, server_histograms(base))
                p50 = report(scenario, outcome, server)
                if outcome.split:
                    splits.append(f"{scenario.name} {'/'.join(map(str, outcome.split))}")
                if p50 is not None and server_mean is not None:
                    gaps.append(p50 - server_mean)
            print(
                "\nserver: the API's own request-duration histogram (GET /metrics), time inside "
                "the app, not on the wire; client CPU: the load generator's share of one core."
            )
            if splits:
                print(
                    "connections per server process (an uneven split lengthens the busier "
                    f"process's queue): {', '.join(splits)}"
                )
            if reads:
                print(
                    "MB read from disk during each measured run (the machine's, /proc/vmstat): "
                    + ", ".join(reads)
                )
            if wal:
                print(
                    "WAL written per request (checkpoints begun during the run; after each, a "
                    "page's first change writes the whole page): " + ", ".join(wal)
                )
            if gaps and statistics.median(gaps) > 30:
                print(
                    f"note: the client's median is {statistics.median(gaps):.0f} ms above the "
                    "server's mean (median over the scenarios): the look of Nagle's algorithm "
                    "meeting delayed ACKs on "
                    "keep-alive connections (uvicorn --workers N leaves TCP_NODELAY off on "
                    "Linux, uvicorn issue #3149); compare with --workers 1."
                )
        finally:
            stop_server(process)
            if args.server_log:
                Path(args.server_log).write_bytes(log.read_bytes())


def main() -> None:
    """Seed the database (unless --skip-build), serve the API and load it."""
    # Run as a script, this file's folder comes first on the path, where a script named like
    # one of the hub's packages would hide it.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--goldens", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="per scenario, not counted")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    parser.add_argument("--build-workers", type=int, default=2, help="seeding processes")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--url", default=PG_URL)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--scenarios",
        type=lambda s: s.split(","),
        default=["golden", "xref", "match", "upsert"],
        help="comma-separated subset of golden,xref,match,upsert",
    )
    parser.add_argument("--server-log", help="keep the server's log in this file")
    parser.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="leave PostgreSQL's buffer cache as it is (by default the tables the scenarios "
        "read are loaded into it first, as on a server that has been up a while)",
    )
    parser.add_argument(
        "--skip-build", action="store_true", help="Measure a database an earlier run built."
    )
    args = parser.parse_args()
    if args.skip_build:
        from mdm import migrate

        # As after an upgrade of the hub: the server is not ready until the schema is at head.
        migrate.upgrade(args.url)
    else:
        print(f"seeding {args.goldens:,} golden records into {args.url}", flush=True)
        built = build(args.url, args.goldens, args.seed, args.build_workers)
        c, t = built["counts"], built["timings"]
        print(
            f"seeded in {t['total']:.0f} s: {c['golden_record']:,} golden records, "
            f"{c['source_record']:,} source records, {c['blocking_key']:,} blocking keys "
            f"(model trained on the first {built['trained_on']:,} records in {t['train']:.0f} s; "
            f"VACUUM ANALYZE {t['vacuum_analyze']:.0f} s)"
        )
        peak = built["peak"]
        print(
            f"peak memory {peak['parent']:,.0f} MB (parent), {peak['worker']:,.0f} MB "
            f"(largest of {args.build_workers} worker processes)"
        )
    total, tables = database_sizes(args.url)
    print(f"database {total / 2**30:.2f} GB; largest tables (rows, with indexes and TOAST):")
    for name, rows, size in tables:
        print(f"  {name:<24} {rows:>12,.0f} rows {size / 2**20:>9,.0f} MB")
    measure(args)


if __name__ == "__main__":
    main()
