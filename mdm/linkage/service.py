"""The match stage: waiting records become links, merges, new golden records, review tasks.

A record waits when its current version is newer than the version matching last saw
(``source_record.matched_version``). The stage takes waiting records in chunks and, for each:

1. flattens and standardises them (the matching library), stores their features and their
   blocking keys (replacing the previous version's);
2. finds candidates with one join on the indexed blocking-key table, leaving out keys shared by
   more records than the specification's cap (reported, not silently dropped);
3. scores all candidate pairs at once (vectorised) with the active trained model;
4. clusters waiting records together with the golden records of their candidates, honouring
   cannot-link decisions, and links, merges or creates golden records accordingly; pairs in
   the review band become review tasks, unless a steward already rejected them;
5. recomputes only the golden records it touched.

A changed record is taken out of its golden record first (unless a steward linked it), so it
is judged afresh: it rejoins, moves, or starts a new golden record.
"""

from __future__ import annotations

import functools
import gc
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import Session

from matching import (
    Links,
    MatchModel,
    MatchSpec,
    blocking_keys,
    cluster,
    default_customer_spec,
    default_product_spec,
    frame_blocking_keys,
    score,
    standardise,
    standardise_record,
    train,
)
from matching.comparisons import Columns, Frame
from matching.parallel import release_free_memory
from matching.standardisation import trim_value_caches
from mdm.canonical.flatten import flatten
from mdm.database import (
    JSONType,
    Prebuilt,
    UnitOfWork,
    core_connection,
    id_in,
    insert_returning_ids,
    insert_rows,
    is_postgres,
    plan_bulk_statements,
    refresh_statistics,
    run,
    run_scalars,
    table_of,
    text_in,
    utcnow,
)
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.golden.service import (
    Link,
    create_golden_records,
    create_goldens,
    link,
    merge,
    recompute,
    unlink,
)
from mdm.golden.survivorship import Member
from mdm.hierarchies.service import sync_hierarchy
from mdm.ingest.service import ModelIdentity, WaitingRecord
from mdm.linkage.models import BlockingKey, MatchFeatures, MatchModelRecord
from mdm.outbox.service import ChangeContext, Event, emit
from mdm.sources.models import SourceRecord, SourceSystem
from mdm.stewardship.models import CannotLink, MatchCandidate
from mdm.stewardship.service import export_labels

MIN_TRAINING_RECORDS = 20
CANDIDATE_KEYS_PER_QUERY = 20_000


@functools.cache
def spec_for(entity_type: str) -> MatchSpec:
    """The match specification of an entity type (built once per process; it is frozen)."""
    return default_customer_spec() if entity_type == "customer" else default_product_spec()


@dataclass(slots=True)
class MatchSummary:
    """What a match run did."""

    entity_type: str
    records: int = 0
    deleted: int = 0
    candidate_pairs: int = 0
    linked: int = 0
    new_goldens: int = 0
    merged_goldens: int = 0
    review_tasks: int = 0
    capped_keys: list[tuple[str, int]] = field(default_factory=list)
    goldens: dict[str, int] = field(default_factory=dict)
    # For a request's records (`match_pending(claimed=...)`): the golden record each was linked
    # to and the review tasks opened on each, for its answer (None in other runs).
    placed: dict[int, int] | None = None
    opened: dict[int, list[int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The summary as a JSON-ready mapping (its counts)."""
        counts = asdict(self)
        del counts["placed"], counts["opened"]
        return counts


class _ModelCache:
    """The parsed active model of each (database, entity type), replaced when a newer one lands.

    Parsing a model document costs tens of milliseconds at a million records (its term
    frequency tables), too much for every single-record match. A model row is recognised by
    its ID, version and creation time: the time tells apart rows that reuse an ID after a
    rolled-back insert.
    """

    def __init__(self) -> None:
        # Per database and entity type: the model row's identity, the parsed model, and when
        # the database last said it is the active one (a monotonic clock's reading).
        self._models: dict[
            tuple[URL, str], tuple[tuple[int, int, datetime], MatchModel, float]
        ] = {}
        self._lock = threading.Lock()

    # Built once: each single-record match runs it.
    _NEWEST = (
        select(MatchModelRecord.id, MatchModelRecord.version, MatchModelRecord.created_at)
        .where(
            MatchModelRecord.entity_type == bindparam("entity_type"),
            MatchModelRecord.active.is_(True),
        )
        .order_by(MatchModelRecord.version.desc())
        .limit(1)
    )

    def get(
        self,
        bind: Session | Connection,
        entity_type: str,
        *,
        max_age: float = 0.0,
        newest: ModelIdentity | None = None,
    ) -> tuple[int, MatchModel] | None:
        """The active model, checked against the database unless checked within ``max_age`` s.

        ``newest``: the active model's row as the caller just read it in its own statement
        (`mdm.ingest.service.ingest_one`), in place of asking again.
        """
        connection = core_connection(bind)
        slot = (connection.engine.url, entity_type)
        if max_age > 0:
            with self._lock:
                cached = self._models.get(slot)
            if cached is not None and time.monotonic() - cached[2] < max_age:
                return cached[0][1], cached[1]
        row = (
            newest
            if newest is not None
            else connection.execute(self._NEWEST, {"entity_type": entity_type}).first()
        )
        if row is None:
            with self._lock:
                self._models.pop(slot, None)
            return None
        model_id, version, created_at = row
        identity = (model_id, version, created_at)
        # Only a read asking for an age may be answered from the cache later: it runs outside
        # any write (match-on-query, autocommit), so what it saw is committed. A writer may be
        # looking at a model its own transaction saved and may yet roll back.
        checked = time.monotonic() if max_age > 0 else -math.inf
        with self._lock:
            cached = self._models.get(slot)
            if cached is not None and cached[0] == identity:
                self._models[slot] = (identity, cached[1], checked)
                return version, cached[1]
        # Parsed outside the lock so that other reads are not held up; two requests that race
        # for a new model may both parse it, which is harmless.
        document = connection.scalar(
            select(MatchModelRecord.document).where(MatchModelRecord.id == model_id)
        )
        model = MatchModel.model_validate(document)
        with self._lock:
            self._models[slot] = (identity, model, checked)
        return version, model

    def forget(self, entity_type: str) -> None:
        """Check the entity type's active model again on its next read (a new one is saved)."""
        with self._lock:
            for slot in [slot for slot in self._models if slot[1] == entity_type]:
                del self._models[slot]


_MODELS = _ModelCache()


def active_model_version(
    bind: Session | Connection, entity_type: str, *, max_age: float = 0.0
) -> tuple[int, MatchModel] | None:
    """The newest active trained model of an entity type with its version, if there is one.

    With ``max_age`` a model this process found active less than that many seconds ago is
    taken without asking the database (a read that is an estimate of the moment, such as
    match-on-query, may use a model retrained elsewhere a moment ago). Without, the database
    is asked every time: what stores a decision always uses the active model.
    """
    return _MODELS.get(bind, entity_type, max_age=max_age)


def active_model(
    session: Session, entity_type: str, *, newest: ModelIdentity | None = None
) -> MatchModel | None:
    """The newest active trained model of an entity type, if there is one.

    ``newest``: its row's identity as the caller read it in this transaction, if it did.
    """
    found = _MODELS.get(session, entity_type, newest=newest)
    return None if found is None else found[1]


# PostgreSQL: one transaction at a time saves a model of an entity type (`save_model`).
_MODEL_LOCK = Prebuilt(lambda _: text("SELECT pg_advisory_xact_lock(hashtext(:key))"))


def save_model(session: Session, entity_type: str, model: MatchModel, trained_on: int) -> int:
    """Store a trained model as the active one; returns its version.

    Two transactions saving a model of one entity type at once (two API requests that each
    found none yet and trained one) take turns: on PostgreSQL the second waits for the first
    to commit (a transaction-level advisory lock), then reads its version and deactivates it,
    so one model stays active and versions are never given twice. SQLite has one writer.
    """
    if is_postgres(session):
        run(session, _MODEL_LOCK, {"key": f"mdm.match_model:{entity_type}"})
    version = (
        session.scalar(
            select(func.max(MatchModelRecord.version)).where(
                MatchModelRecord.entity_type == entity_type
            )
        )
        or 0
    ) + 1
    session.execute(
        update(MatchModelRecord)
        .where(MatchModelRecord.entity_type == entity_type)
        .values(active=False)
    )
    session.add(
        MatchModelRecord(
            entity_type=entity_type,
            version=version,
            document=model.model_dump(mode="json"),
            trained_on=trained_on,
            active=True,
        )
    )
    session.flush()
    _MODELS.forget(entity_type)
    return version


def _thaw(value: Any) -> Any:
    # Features round-trip through JSON, which turns the library's tuples into lists.
    return tuple(_thaw(v) for v in value) if isinstance(value, list) else value


def stored_features(features: Mapping[str, Any], record_id: str | None = None) -> dict[str, Any]:
    """Stored match features as the matching library made them (JSON lists back to tuples).

    With ``record_id``, as a row to score: the record's ID in the ``id`` column.
    """
    row = {k: _thaw(v) for k, v in features.items()}
    if record_id is not None:
        row["id"] = record_id
    return row


# Blocking keys are stored as "rule:key", cut to the column's width.
KEY_WIDTH = 300


def stored_key(rule: str, key: str) -> str:
    """A blocking key as the ``blocking_key`` table holds it.

    >>> stored_key("phone", "+49301234567")
    'phone:+49301234567'
    """
    return f"{rule}:{key}"[:KEY_WIDTH]


@lru_cache(maxsize=4)
def _feature_columns(entity_type: str) -> tuple[str, ...]:
    """Every column the specification's standardisers produce (stored features omit blanks)."""
    return tuple(str(c) for c in standardise([{"id": "0"}], spec_for(entity_type)).columns)


def _features_frame(rows: Sequence[dict[str, Any]], entity_type: str) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([stored_features(r) for r in rows])
    # A field no stored record has is still a column, as standardise() would have made it.
    for column in _feature_columns(entity_type):
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), dtype=object)
    return frame


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row of a standardised frame as `_storable` makes it (read column by column)."""
    names = [str(c) for c in frame.columns]
    out: list[dict[str, Any]] = []
    for row in zip(*(frame[c].tolist() for c in frame.columns), strict=True):
        stored: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            if value is None or (isinstance(value, float) and value != value):  # noqa: PLR0124
                continue
            stored[name] = list(value) if isinstance(value, tuple) else value
        out.append(stored)
    return out


def _is_na(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


# Records a model is trained on, at most: a spread sample of a larger hub (EM needs the
# sources mixed, not every record).
TRAINING_SAMPLE = 300_000
# Multiplicative hashing of record IDs: a fixed, spread order on SQLite and PostgreSQL alike.
_SPREAD = (2_654_435_761, 4_294_967_291)


@dataclass(slots=True)
class Standardised:
    """Records a bulk run has standardised already (training's sample), to take, not redo.

    Kept by record ID with the version standardised: a record changed since is standardised
    afresh. A first load of up to ``TRAINING_SAMPLE`` records standardises each record once.
    """

    frame: pd.DataFrame | None = None
    # Record ID -> (row of ``frame``, version).
    at: dict[int, tuple[int, int]] = field(default_factory=dict)

    def keep(self, frame: pd.DataFrame, ids: Sequence[int], versions: Sequence[int]) -> None:
        """Keep ``frame``: the records ``ids`` at ``versions``, standardised, in that order."""
        self.frame = frame.reset_index(drop=True)
        self.at = {rid: (row, v) for row, (rid, v) in enumerate(zip(ids, versions, strict=True))}

    def take(
        self,
        records: Sequence[Any],
        flat: Sequence[dict[str, Any]],
        spec: MatchSpec,
        workers: int,
    ) -> pd.DataFrame:
        """The standardised frame of ``records`` (pending rows) flattened as ``flat``."""
        kept_rows: list[int] = []
        kept_at: list[int] = []
        fresh: list[int] = []
        for i, p in enumerate(records):
            hit = self.at.get(p.id)
            if hit is not None and hit[1] == p.version:
                kept_rows.append(hit[0])
                kept_at.append(i)
            else:
                fresh.append(i)
        if self.frame is None or not kept_rows:
            return standardise(flat, spec, workers=workers)
        kept = self.frame.iloc[kept_rows]
        if not fresh:
            return kept.reset_index(drop=True)
        new = standardise([flat[i] for i in fresh], spec, workers=workers)
        # Columns typed differently (categories of other values, a column all blank in one
        # part) are joined as plain values.
        differ = [c for c in new.columns if kept[c].dtype != new[c].dtype]
        both = pd.concat(
            [kept.astype(dict.fromkeys(differ, object)), new.astype(dict.fromkeys(differ, object))],
            ignore_index=True,
        )
        # Back in the records' order.
        where = np.empty(len(records), dtype=np.int64)
        where[kept_at + fresh] = np.arange(len(records), dtype=np.int64)
        return both.iloc[where].reset_index(drop=True)


def train_model(
    session: Session,
    entity_type: str,
    *,
    seed: int = 0,
    workers: int = 1,
    keep: Standardised | None = None,
) -> MatchModel | None:
    """Train a model on the live records of an entity type (EM, no labels) and save it.

    Every source takes part: the records are a sample spread over the whole hub, up to
    ``TRAINING_SAMPLE``, standardised afresh, so a first bulk load trains on all its files
    before matching its first chunk (one file of one source holds hardly any duplicates to
    learn from). Steward decisions (accepted and rejected review tasks) are fed in as labels,
    and the records they name always join the sample. ``keep``: where to keep the sample's
    standardised records for the run's chunks to take.
    """
    labels = [(lb.left, lb.right, lb.same) for lb in export_labels(session, entity_type)]
    columns = (SourceRecord.id, SourceSystem.code, SourceRecord.canonical, SourceRecord.version)
    live = (
        select(*columns)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(SourceRecord.entity_type == entity_type, SourceRecord.deleted_at.is_(None))
    )
    rows = list(
        session.execute(
            live.order_by((SourceRecord.id * _SPREAD[0]) % _SPREAD[1]).limit(TRAINING_SAMPLE)
        ).all()
    )
    sampled = {r[0] for r in rows}
    labelled = sorted({int(x) for a, b, _ in labels for x in (a, b)} - sampled)
    if labelled:
        rows += session.execute(live.where(id_in(SourceRecord.id, labelled, session))).all()
    if len(rows) < MIN_TRAINING_RECORDS:
        return None
    spec = spec_for(entity_type)
    flat = [flatten(entity_type, str(r[0]), r[1], r[2] or {}) for r in rows]
    kept = ([r[0] for r in rows], [r[3] for r in rows])
    del rows  # the canonical documents: the flat records are all it needs of them
    frame = standardise(flat, spec, workers=workers)
    del flat
    model = train(frame, spec, labels=labels or None, seed=seed)
    save_model(session, entity_type, model, len(frame))
    if keep is not None:
        keep.keep(frame, *kept)
    return model


# Core statements: no loaded objects of these tables to keep in step (no RETURNING of every
# deleted row, none of the session's bookkeeping).
_DROP_KEYS = Prebuilt(
    lambda ids_in: delete(BlockingKey).where(ids_in(BlockingKey.source_record_id, "ids"))
)
_DROP_FEATURES = Prebuilt(
    lambda ids_in: delete(MatchFeatures).where(ids_in(MatchFeatures.source_record_id, "ids"))
)


# PostgreSQL deletes both in one statement (a changed record's upsert pays per round trip).
_DROP_BOTH = Prebuilt(
    lambda _: text(
        "WITH k AS (DELETE FROM blocking_key WHERE source_record_id = ANY(CAST(:ids AS bigint[]))) "
        "DELETE FROM match_features WHERE source_record_id = ANY(CAST(:ids AS bigint[]))"
    ).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
)


def _drop_features(session: Session, record_ids: Sequence[int]) -> None:
    """Delete the records' stored features and blocking keys."""
    if not record_ids:
        return
    params = {"ids": list(record_ids)}
    if is_postgres(session):
        run(session, _DROP_BOTH, params)
        return
    for statement in (_DROP_KEYS, _DROP_FEATURES):
        run(session, statement, params)


def _storable(features: Mapping[Any, Any]) -> dict[str, Any]:
    """One record's standardised features as stored: no blanks, tuples as lists."""
    return {
        str(k): (list(v) if isinstance(v, tuple) else v)
        for k, v in features.items()
        if not _is_na(v)
    }


def _store_features(
    session: Session,
    entity_type: str,
    record_ids: Sequence[int],
    records: Sequence[dict[str, Any]],
    spec: MatchSpec,
    *,
    replace: Sequence[int],
    frame: pd.DataFrame | None = None,
) -> tuple[list[tuple[str, int]], pd.DataFrame | None]:
    """Store the records' features and blocking keys (``records`` as `_storable`).

    ``replace``: those of the records that have stored ones, dropped first. ``frame``: the
    records standardised, in the same order, to derive their keys from per distinct value.
    Returns the blocking keys stored, as (key, record ID), so the chunk's candidates are found
    from them without reading them back; and, for more keys than `LIMITED_KEYS`, every other
    record holding them (`_all_holders`), read before the chunk's own keys are written.
    """
    _drop_features(session, replace)
    stored: dict[tuple[str, int], None] = {}
    if frame is None:
        for rid, std in zip(record_ids, records, strict=True):
            for rule, key in blocking_keys(stored_features(std), spec):
                stored[stored_key(rule, key), rid] = None
    else:
        for rule, key, row in frame_blocking_keys(frame, spec):
            stored[stored_key(rule, key), record_ids[row]] = None
    keys = list(stored)
    distinct = list(dict.fromkeys(key for key, _ in keys))
    others = _all_holders(session, entity_type, distinct) if len(distinct) > LIMITED_KEYS else None
    insert_rows(
        session,
        (
            table_of(BlockingKey),
            [
                {"entity_type": entity_type, "key": key, "source_record_id": rid}
                for key, rid in keys
            ],
        ),
        (
            table_of(MatchFeatures),
            [
                {"source_record_id": rid, "entity_type": entity_type, "features": std}
                for rid, std in zip(record_ids, records, strict=True)
            ],
        ),
    )
    return keys, others


# PostgreSQL: one record's features and blocking keys stored, the holders of its keys read
# (each up to its limit, one index range each), and the candidates' features, golden records
# and cannot-links read, in one round trip. Keys it no longer has go; keys it keeps stay as
# they are. The reads see the tables as they were before the statement: the record's kept
# keys, not its new ones (`_store_one_and_find`). Rows of kind "h": a key and a holder; "f":
# a candidate (a holder, not the record, of a key with fewer other holders than its cap, the
# limit less one) with its features and golden record; "c": a cannot-link of the record or a
# candidate (left, right).
_STORE_ONE_AND_FIND = Prebuilt(
    lambda _: text(
        "WITH gone AS (DELETE FROM blocking_key WHERE source_record_id = :record "
        "AND NOT (key = ANY(CAST(:keys AS varchar[])))), "
        "f AS (INSERT INTO match_features (source_record_id, entity_type, features) "
        "VALUES (:record, :entity, CAST(:features AS json)) ON CONFLICT (source_record_id) "
        "DO UPDATE SET entity_type = excluded.entity_type, features = excluded.features), "
        "k AS (INSERT INTO blocking_key (entity_type, key, source_record_id) "
        "SELECT :entity, key, :record FROM unnest(CAST(:keys AS varchar[])) AS key "
        "ON CONFLICT DO NOTHING), "
        "h AS (SELECT q.key, q.most, hb.source_record_id AS holder "
        "FROM unnest(CAST(:keys AS varchar[]), CAST(:limits AS integer[])) AS q(key, most) "
        "CROSS JOIN LATERAL (SELECT b.source_record_id FROM blocking_key b "
        "WHERE b.entity_type = :entity AND b.key = q.key "
        "ORDER BY b.source_record_id LIMIT q.most) hb), "
        "open AS (SELECT key FROM h WHERE holder <> :record GROUP BY key, most "
        "HAVING count(*) < most - 1), "
        "cand AS (SELECT DISTINCT holder FROM h JOIN open USING (key) WHERE holder <> :record) "
        "SELECT 'h' AS kind, h.key, h.holder AS id, CAST(NULL AS json) AS features, "
        "CAST(NULL AS bigint) AS golden_id, CAST(NULL AS varchar) AS link_reason, "
        "CAST(NULL AS bigint) AS other FROM h "
        "UNION ALL SELECT 'f', NULL, m.source_record_id, m.features, g.golden_id, "
        "g.link_reason, NULL FROM cand JOIN match_features m ON m.source_record_id = cand.holder "
        "LEFT JOIN golden_member g ON g.source_record_id = m.source_record_id "
        "UNION ALL SELECT 'c', NULL, c.left_record_id, NULL, NULL, NULL, c.right_record_id "
        "FROM cannot_link c "
        # Arrays (one look-up each), not IN (subquery): PostgreSQL probes both indexes.
        "WHERE c.left_record_id = ANY(ARRAY(SELECT holder FROM cand) || CAST(:record AS bigint)) "
        "OR c.right_record_id = ANY(ARRAY(SELECT holder FROM cand) || CAST(:record AS bigint))"
    )
)


@dataclass(slots=True)
class _Found:
    """Candidates' features, golden records and cannot-links, as read.

    With a single record's holders (`_store_one_and_find`), or for a chunk (`_read_candidates`).
    """

    features: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Candidate -> (golden ID, link reason), for those in a golden record.
    members: dict[int, tuple[int, str]] = field(default_factory=dict)
    cannot: list[tuple[int, int]] = field(default_factory=list)


def _store_one_and_find(
    session: Session, entity_type: str, record_id: int, features: dict[str, Any], spec: MatchSpec
) -> tuple[list[tuple[str, int]], list[tuple[int, int]], list[tuple[str, int]], _Found]:
    """`_store_features` and `_candidates` of one record, in one statement (PostgreSQL).

    Returns its keys as (key, record ID), its candidate pairs and the keys left out for being
    too common, as those two would; and what `_FEATURES_AND_CANNOT` would read of the
    candidates (`_Found`). A key's holders are read as they were before the record's keys
    were written, so the record is among them only for a key it had already: counted without
    it, a key is capped when its other holders reach the cap (as when the record's own row is
    counted and the holders exceed it).
    """
    keys = list(
        dict.fromkeys(
            stored_key(rule, key) for rule, key in blocking_keys(stored_features(features), spec)
        )
    )
    cap_of = _caps(spec)
    found: dict[str, list[int]] = {key: [] for key in keys}
    params = {
        "record": record_id,
        "entity": entity_type,
        "keys": keys,
        "limits": [cap_of(key) + 1 for key in keys],
        "features": orjson.dumps(features).decode(),
    }
    read = _Found()
    for kind, key, rid, stored, golden_id, reason, other in run(
        session, _STORE_ONE_AND_FIND, params
    ):
        if kind == "h":
            if rid != record_id:
                found[key].append(int(rid))
        elif kind == "f":
            read.features[rid] = stored
            if golden_id is not None:
                read.members[rid] = (golden_id, reason)
        else:
            read.cannot.append((rid, other))
    capped = sorted(
        (key, min(len(others), cap_of(key)) + 1)
        for key, others in found.items()
        if len(others) >= cap_of(key)
    )
    left_out = {key for key, _ in capped}
    pairs = {
        (min(record_id, other), max(record_id, other))
        for key, others in found.items()
        if key not in left_out
        for other in others
    }
    return [(key, record_id) for key in keys], sorted(pairs), capped, read


def _caps(spec: MatchSpec) -> Callable[[object], int]:
    """The most records a blocking key (as stored: ``rule:value``) may pair up."""
    caps = {rule.name: rule.max_block_size for rule in spec.blocking_rules}
    default_cap = max(caps.values(), default=200)

    def cap_of(key: object) -> int:
        return caps.get(str(key).split(":", 1)[0], default_cap)

    return cap_of


# The most standardised values a cache keeps in a process that matches a record at a time.
SERVER_VALUE_CACHE = 50_000
# The most a bulk match run keeps in each cache between chunks (each entry ~100 bytes: the
# caches of a million records' names, addresses, phones and e-mails grew to about 1 GB).
BULK_VALUE_CACHE = 2**18
# Up to this many records, a match standardises record by record (no batch set-up).
FEW_RECORDS = 20
# Up to this many keys, holders are read key by key with a limit (one UNION ALL statement);
# beyond, one array look-up reads every holder (a batch has too many keys for one statement).
LIMITED_KEYS = 128


@lru_cache(maxsize=LIMITED_KEYS)
def _holders_statement(n_keys: int) -> Prebuilt[CompoundSelect[str, int]]:
    """Holders of ``n_keys`` blocking keys, each read up to its own limit, in one round trip.

    Built once per number of keys with bound parameters (``entity_type``, ``key_i``,
    ``limit_i``), so a request neither rebuilds nor recompiles it.
    """
    return Prebuilt(lambda _: _holders_union(n_keys))


def _holders_union(n_keys: int) -> CompoundSelect[str, int]:
    branches = []
    for i in range(n_keys):
        one_key = (
            select(BlockingKey.key, BlockingKey.source_record_id)
            .where(
                BlockingKey.entity_type == bindparam("entity_type", type_=String()),
                BlockingKey.key == bindparam(f"key_{i}", type_=String()),
            )
            .order_by(BlockingKey.source_record_id)
            .limit(bindparam(f"limit_{i}", type_=Integer()))
            .subquery(f"key_{i}")
        )
        branches.append(select(one_key.c.key, one_key.c.source_record_id))
    return union_all(*branches)


def key_holders(
    bind: Session | Connection, entity_type: str, limits: Mapping[str, int]
) -> dict[str, list[int]]:
    """The source records holding each blocking key, at most ``limits[key]`` of them.

    Each key is one index range scan that stops at its limit, so a key shared by a hundred
    thousand records costs no more than one shared by its cap: what a single record's match
    (an API upsert, a match-on-query) needs to stay fast at any size.
    """
    found: dict[str, list[int]] = {key: [] for key in limits}
    if not limits:
        return found
    params: dict[str, Any] = {"entity_type": entity_type}
    for i, (key, limit) in enumerate(limits.items()):
        params[f"key_{i}"] = key
        params[f"limit_{i}"] = limit
    # Core, not ORM, execution: the rows are plain pairs.
    for key, record_id in run(bind, _holders_statement(len(limits)), params):
        found[key].append(int(record_id))
    return found


def _all_holders(session: Session, entity_type: str, keys: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            row
            for start in range(0, len(keys), CANDIDATE_KEYS_PER_QUERY)
            for row in session.execute(
                select(BlockingKey.key, BlockingKey.source_record_id).where(
                    BlockingKey.entity_type == entity_type,
                    text_in(
                        BlockingKey.key, keys[start : start + CANDIDATE_KEYS_PER_QUERY], session
                    ),
                )
            ).all()
        ],
        columns=["key", "other"],
    )


def _candidates(
    session: Session,
    entity_type: str,
    rows: Sequence[tuple[str, int]],
    spec: MatchSpec,
    others: pd.DataFrame | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[str, int]]]:
    """Candidate pairs of the chunk's records, and the keys left out for being too common.

    ``rows`` are the chunk's blocking keys as (key, record ID), as `_store_features` stored
    them; ``others``, the other records holding them, if it read them. One index look-up
    (every record holding those keys, by key) and a join in memory: the plan cannot go wrong
    however stale the table's statistics are, which a self-join in SQL could (nested loops
    over a freshly loaded table).
    """
    if not rows:
        return [], []
    keys = list(dict.fromkeys(key for key, _ in rows))
    cap_of = _caps(spec)
    if len(keys) <= LIMITED_KEYS and others is None:
        # One record or a few: one more holder than the cap is enough to know a key is
        # capped; and so few rows pair up faster in plain Python than through a frame.
        found = key_holders(session, entity_type, {k: cap_of(k) + 1 for k in keys})
        capped = sorted((k, len(ids)) for k, ids in found.items() if len(ids) > cap_of(k))
        left_out = {k for k, _ in capped}
        pairs = {
            (min(rid, other), max(rid, other))
            for key, rid in rows
            if key not in left_out
            for other in found[key]
            if other != rid
        }
        return sorted(pairs), capped
    mine = pd.DataFrame(rows, columns=["key", "rid"])
    if others is None:
        holders = _all_holders(session, entity_type, keys)
    else:
        # The chunk's own keys, as stored, with those of every other record.
        holders = pd.concat([others, mine.rename(columns={"rid": "other"})], ignore_index=True)
    sizes = holders.groupby("key").size()
    limits = sizes.index.map(cap_of)
    too_big = sizes[sizes.to_numpy() > np.asarray(limits)]
    capped = [(str(k), int(n)) for k, n in too_big.items()]
    holders = holders[~holders["key"].isin(too_big.index)]
    joined = mine.merge(holders, on="key")
    joined = joined[joined["rid"] != joined["other"]]
    if joined.empty:
        return [], capped
    a = joined["rid"].to_numpy(dtype=np.int64)
    b = joined["other"].to_numpy(dtype=np.int64)
    unique = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1), axis=0)
    return [(int(x), int(y)) for x, y in unique], capped


_CANNOT_LINKS = Prebuilt(
    lambda ids_in: select(CannotLink.left_record_id, CannotLink.right_record_id).where(
        or_(ids_in(CannotLink.left_record_id, "ids"), ids_in(CannotLink.right_record_id, "ids"))
    )
)
# Golden records that have a member besides the ``records`` judged afresh (a row per member).
_HELD = Prebuilt(
    lambda ids_in: select(GoldenMember.golden_id).where(
        ids_in(GoldenMember.golden_id, "ids"),
        not_(ids_in(GoldenMember.source_record_id, "records")),
    )
)


def _cannot_links(session: Session, record_ids: Sequence[int]) -> list[tuple[int, int]]:
    rows = run(session, _CANNOT_LINKS, {"ids": list(record_ids)})
    return [(a, b) for a, b in rows]


def _pending_statement(scope: ColumnElement[bool]) -> Select[Any]:
    """The waiting records in ``scope``, locked, with what matching and survivorship need."""
    return (
        select(
            SourceRecord.id,
            SourceSystem.code,
            SourceRecord.canonical,
            SourceRecord.deleted_at,
            # What survivorship needs to build a new golden record without reading back.
            SourceRecord.source_id,
            SourceSystem.trust_rank,
            SourceRecord.received_at,
            # Matched before and not deleted since (the features go with the membership):
            # a record without has nothing to drop and no golden record to leave.
            exists().where(MatchFeatures.source_record_id == SourceRecord.id).label("has_features"),
            # The matched version before this match, and where the record is now.
            SourceRecord.matched_version,
            GoldenMember.golden_id,
            GoldenMember.link_reason,
            # Whether its golden record holds another record: read later, for the chunk.
            type_coerce(null(), Boolean).label("shares_golden"),
            # Whether it is in an open review task: not read for a chunk.
            type_coerce(null(), Boolean).label("in_review"),
            SourceRecord.version,
        )
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .outerjoin(GoldenMember, GoldenMember.source_record_id == SourceRecord.id)
        .where(
            SourceRecord.entity_type == bindparam("entity", type_=String()),
            SourceRecord.matched_version < SourceRecord.version,
        )
        .where(scope)
        .order_by(SourceRecord.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True, of=SourceRecord)
    )


# Named records (a request's, or a bulk run's ordered chunk), and every waiting record.
_PENDING_NAMED = Prebuilt(lambda ids_in: _pending_statement(ids_in(SourceRecord.id, "ids")))
_PENDING_ALL = Prebuilt(lambda _: _pending_statement(true()))
_MATCHED = Prebuilt(
    lambda ids_in: (
        update(SourceRecord)
        .where(ids_in(SourceRecord.id, "ids"))
        .values(matched_version=SourceRecord.version)
    )
)


def match_pending(
    session: Session,
    entity_type: str,
    ctx: ChangeContext,
    *,
    chunk_size: int = 50_000,
    retrain: bool = False,
    max_chunks: int | None = None,
    record_ids: Sequence[int] | None = None,
    hierarchies: bool = True,
    workers: int = 1,
    first_chunk: Sequence[int] | None = None,
    claimed: Sequence[WaitingRecord] | None = None,
    newest_model: ModelIdentity | None = None,
    reuse: Standardised | None = None,
) -> MatchSummary:
    """Match the records of an entity type that wait to be matched; never commits.

    Waiting records are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
    match workers can run side by side, each on its own chunk. ``record_ids`` limits the run to
    those records (an API request matches what it stored, not a file load's backlog).
    ``first_chunk`` names the records of the first chunk (those of them still waiting; the bulk
    runner's processing order, `processing_order`); later chunks are claimed in ID order.
    ``workers`` processes standardise a large chunk's records side by side. ``claimed``: records
    the caller wrote in this transaction (so holds locked) and marked matched, with what
    matching needs of them (`mdm.ingest.service.ingest_one`): matched as they are, without
    looking for them (``record_ids``, ``chunk_size``, ``max_chunks`` and ``first_chunk`` do not
    apply). ``newest_model``: the
    active model's row as the caller read it in this transaction (`ModelIdentity`), if it did.
    ``reuse``: records a bulk run standardised already (`Standardised`), kept by training.
    """
    if record_ids is not None and not record_ids:
        return MatchSummary(entity_type)
    summary = MatchSummary(entity_type)
    spec = spec_for(entity_type)
    model = None if retrain else active_model(session, entity_type, newest=newest_model)
    chunks = 0
    if claimed is not None:
        summary.placed, summary.opened = {}, {}
        if claimed:
            _match_chunk(
                session,
                entity_type,
                spec,
                model,
                claimed,
                ctx,
                summary,
                hierarchies=hierarchies,
                workers=workers,
            )
        trim_value_caches(SERVER_VALUE_CACHE)
        return summary
    while max_chunks is None or chunks < max_chunks:
        chunks += 1
        params: dict[str, Any] = {"entity": entity_type, "limit": chunk_size}
        if first_chunk:
            statement, params["ids"] = _PENDING_NAMED, list(first_chunk)
            first_chunk = None
        elif record_ids is not None:
            statement, params["ids"] = _PENDING_NAMED, list(record_ids)
        else:
            statement = _PENDING_ALL
        pending = run(session, statement, params).all()
        if not pending:
            break
        model = _match_chunk(
            session,
            entity_type,
            spec,
            model,
            pending,
            ctx,
            summary,
            hierarchies=hierarchies,
            workers=workers,
            reuse=reuse,
        )
        run(session, _MATCHED, {"ids": [p[0] for p in pending]})
        if record_ids is not None and len(record_ids) <= chunk_size:
            # Every named record that could be claimed was: another pass finds none.
            break
    if record_ids is not None:
        # A server matching a record at a time: keep the value caches bounded.
        trim_value_caches(SERVER_VALUE_CACHE)
    return summary


def run_matching(
    uow: UnitOfWork,
    entity_type: str,
    ctx: ChangeContext,
    *,
    chunk_size: int = 50_000,
    retrain: bool = False,
    hierarchies: bool = True,
    workers: int = 1,
) -> MatchSummary:
    """Match everything waiting, one transaction per chunk (a batch runner, like file loads).

    A run stopped midway keeps the chunks it finished; the rest still wait.
    """
    total = MatchSummary(entity_type)
    with fewer_collections():
        return _run_chunks(uow, entity_type, ctx, total, chunk_size, retrain, hierarchies, workers)


def _settle_garbage() -> None:
    """Collect what the last chunk left in cycles; return the freed memory to the system.

    Once per chunk: see `fewer_collections` and `release_free_memory`.
    """
    gc.collect()
    release_free_memory()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run a bulk job without automatic cyclic garbage collection; it collects once per chunk.

    A chunk holds millions of live objects (rows, features, ORM states, events) and makes
    many more short-lived ones that reference counting frees; each automatic collection of the
    older generations walked every live object again: 17% of a 300k-record hub load, even
    with a raised threshold. The garbage a chunk leaves in cycles is collected before the next
    chunk (`_settle_garbage`), so it never outlives one chunk.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# The tables a bulk match grows, whose statistics its own later queries are planned by.
GROWN_BY_MATCHING = (
    "source_record",
    "match_features",
    "blocking_key",
    "golden_member",
    "golden_record",
    "xref_history",
    "hierarchy_claim",
    "hierarchy_edge",
    "match_candidate",
)


# Where a bulk run looks for records that probably belong together, per entity type (a path
# into the canonical record): the first address's postal code, a product's brand.
LOCALITY: dict[str, tuple[str | int, ...]] = {
    "customer": ("addresses", 0, "postal_code"),
    "product": ("brand",),
}


def processing_order(session: Session, entity_type: str, chunk_size: int) -> list[int]:
    """The order a bulk run matches a backlog of more than one chunk in; empty for one chunk.

    Records that share their `LOCALITY` value (likely records of the same entity, from
    different sources) come together, so that most of an entity's records fall in one chunk:
    its golden record is then built once, from records in hand, rather than created by one
    chunk and read back and recomputed by each later chunk that brings one more of its
    records (in ID order, that is, file by file, each source in turn: at 200,000 customers
    113,000 recomputations; in this order 53,000, and the match stage a fifth shorter). The
    order only decides which records are matched together first; every record is still
    matched against everything stored before it.
    """
    path = LOCALITY.get(entity_type)
    if path is None:
        return []
    ids = list(
        session.scalars(
            select(SourceRecord.id)
            .where(
                SourceRecord.entity_type == entity_type,
                SourceRecord.matched_version < SourceRecord.version,
            )
            .order_by(SourceRecord.canonical[path].as_string(), SourceRecord.id)
        )
    )
    return ids if len(ids) > chunk_size else []


def _run_chunks(
    uow: UnitOfWork,
    entity_type: str,
    ctx: ChangeContext,
    total: MatchSummary,
    chunk_size: int,
    retrain: bool,
    hierarchies: bool,
    workers: int,
) -> MatchSummary:
    first = True
    analysed_at = 0  # records matched when the tables' statistics were last refreshed
    with uow.session() as session:
        order = processing_order(session, entity_type, chunk_size)
    done = 0  # how much of the order earlier chunks took
    reuse = Standardised()  # what training standardises, for the chunks
    while True:
        batch = order[done : done + chunk_size]
        done += len(batch)
        # Values repeat within a chunk far more than across chunks: caches of standardised
        # values that grew past a bound start afresh, so a long run's memory stays flat.
        trim_value_caches(BULK_VALUE_CACHE)
        _settle_garbage()
        with uow.begin() as session:
            plan_bulk_statements(session)
            part = match_pending(
                session,
                entity_type,
                ctx,
                chunk_size=chunk_size,
                retrain=retrain and first,
                max_chunks=1,
                hierarchies=hierarchies,
                workers=workers,
                first_chunk=batch,
                reuse=reuse,
            )
            if part.records >= FEW_RECORDS and total.records + part.records >= 2 * analysed_at:
                # The tables grew by half or more since the planner last looked: about
                # log2(chunks) refreshes in a load, each a second or two at a million rows.
                refresh_statistics(session, GROWN_BY_MATCHING)
                analysed_at = total.records + part.records
        first = False
        if not (part.records or part.deleted or batch):
            return total
        for name in (
            "records",
            "deleted",
            "candidate_pairs",
            "linked",
            "new_goldens",
            "merged_goldens",
            "review_tasks",
        ):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.capped_keys.extend(part.capped_keys)
        for kind, n in part.goldens.items():
            total.goldens[kind] = total.goldens.get(kind, 0) + n


# The candidates' features with the golden record each is in (kind "f"), and the cannot-links
# of the chunk's records and candidates (kind "c": left in ``record_id``, right in ``other``),
# in one read.
_FEATURES_AND_CANNOT = Prebuilt(
    lambda ids_in: union_all(
        select(
            literal("f").label("kind"),
            MatchFeatures.source_record_id.label("record_id"),
            MatchFeatures.features,
            GoldenMember.golden_id,
            GoldenMember.link_reason,
            cast(null(), BigInteger).label("other"),
        )
        .outerjoin(GoldenMember, GoldenMember.source_record_id == MatchFeatures.source_record_id)
        .where(ids_in(MatchFeatures.source_record_id, "ids")),
        select(
            literal("c"),
            CannotLink.left_record_id,
            # A bare NULL (the first branch gives the column its type): a cast would name JSON.
            type_coerce(null(), JSONType),
            cast(null(), BigInteger),
            cast(null(), String),
            CannotLink.right_record_id,
        ).where(
            or_(ids_in(CannotLink.left_record_id, "all"), ids_in(CannotLink.right_record_id, "all"))
        ),
    )
)


def _read_candidates(session: Session, others: list[int], records: list[int]) -> _Found:
    """What `_FEATURES_AND_CANNOT` reads of a chunk's candidates, in one statement.

    Their features and golden records, and the cannot-links among them and ``records``.
    """
    read = _Found()
    params = {"ids": others, "all": records + others}
    for kind, rid, features, golden_id, reason, other in run(session, _FEATURES_AND_CANNOT, params):
        if kind == "c":
            read.cannot.append((rid, other))
            continue
        read.features[rid] = features
        if golden_id is not None:
            read.members[rid] = (golden_id, reason)
    return read


def _match_chunk(
    session: Session,
    entity_type: str,
    spec: MatchSpec,
    model: MatchModel | None,
    pending: Sequence[Any],
    ctx: ChangeContext,
    summary: MatchSummary,
    *,
    hierarchies: bool = True,
    workers: int = 1,
    reuse: Standardised | None = None,
) -> MatchModel | None:
    deleted = [p[0] for p in pending if p[3] is not None]
    live = [p for p in pending if p[3] is None]
    # The events' keys of the chunk's records, in hand.
    record_keys = {p[0]: {"source": p[1], "source_id": p[4]} for p in pending}
    touched: set[int] = set()
    if deleted:
        summary.deleted += len(deleted)
        _drop_features(session, [p[0] for p in pending if p[3] is not None and p.has_features])
        touched.update(
            unlink(session, entity_type, deleted, ctx, reason="deleted", keys=record_keys).values()
        )
    # Each recomputed golden record's status, which the hierarchy's sync reads next.
    statuses: dict[int, tuple[str, int | None]] = {}
    if not live:
        recompute(session, entity_type, touched, ctx, statuses=statuses)
        if hierarchies and entity_type == "customer":
            sync_hierarchy(session, touched, ctx, known=statuses)
        return model
    live_ids = [p[0] for p in live]
    summary.records += len(live)
    flat = [flatten(entity_type, str(p[0]), p[1], p[2] or {}) for p in live]
    # A few records (an API upsert): record by record, without the batch path's per-column
    # set-up, which costs more than the standardising itself; their frame is built once,
    # below, together with their candidates' stored features.
    few = len(flat) <= FEW_RECORDS
    if model is None:
        # Trained first: a bulk run's chunks take the records its sample standardised.
        model = train_model(session, entity_type, workers=workers, keep=reuse)
    frame = (
        None
        if few
        else reuse.take(live, flat, spec, workers)
        if reuse is not None
        else standardise(flat, spec, workers=workers)
    )
    stored = (
        [_storable(standardise_record(r, spec)) for r in flat]
        if frame is None
        else _frame_records(frame)
    )
    matched_before = [p[0] for p in live if p.has_features]
    found: tuple[list[tuple[int, int]], list[tuple[str, int]]] | None = None
    other_holders: pd.DataFrame | None = None
    one_read: _Found | None = None  # the candidates, read with a single record's holders
    if len(live) == 1 and frame is None and is_postgres(session):
        chunk_keys, one_pairs, one_capped, one_read = _store_one_and_find(
            session, entity_type, live_ids[0], stored[0], spec
        )
        found = (one_pairs, one_capped)
    else:
        chunk_keys, other_holders = _store_features(
            session, entity_type, live_ids, stored, spec, replace=matched_before, frame=frame
        )
    if frame is not None:
        stored = []  # a chunk scores from its frame
    # Where each record matched before is (read with it).
    members = {
        p[0]: (p.golden_id, p.link_reason)
        for p in live
        if p.has_features and p.golden_id is not None
    }
    # Judge changed records afresh, except those a steward placed by hand: matched as if in
    # no golden record, they leave the one they are in only if the match moves them
    # (`_stays`), so a record that stays keeps its membership and cross-reference history.
    former = {rid: gid for rid, (gid, reason) in members.items() if reason != "steward"}
    touched.update(former.values())
    pairs, capped = found or _candidates(session, entity_type, chunk_keys, spec, other_holders)
    summary.capped_keys.extend(capped)
    summary.candidate_pairs += len(pairs)

    pending_set = set(live_ids)
    others = sorted({x for pair in pairs for x in pair} - pending_set)
    other_rows = []
    # The golden record each candidate belongs to comes with its features, in one read.
    other_members: dict[int, tuple[int, str]] = {}
    # Cannot-links among the chunk's records and candidates (None: not read yet).
    cannot_pairs: list[tuple[int, int]] | None = None
    if others:
        # A single record's were read with its holders.
        read = one_read if one_read is not None else _read_candidates(session, others, live_ids)
        other_members.update(read.members)
        cannot_pairs = read.cannot
        others = [o for o in others if o in read.features]
        other_rows = [read.features[o] for o in others]
    all_ids = live_ids + others
    position = {rid: i for i, rid in enumerate(all_ids)}
    pairs = [(a, b) for a, b in pairs if a in position and b in position]
    combined: Frame
    if frame is None:
        # A few records and their candidates: column arrays, as match-on-query scores them
        # (a DataFrame's set-up cost more than the comparisons themselves).
        combined = Columns(
            [
                stored_features(r, str(rid))
                for r, rid in zip(stored + other_rows, all_ids, strict=True)
            ]
        )
    else:
        if other_rows:
            frame = pd.concat([frame, _features_frame(other_rows, entity_type)], ignore_index=True)
        frame["id"] = [str(r) for r in all_ids]
        combined = frame
    memberships = other_members | {rid: m for rid, m in members.items() if m[1] == "steward"}

    def node(rid: int) -> str:
        m = memberships.get(rid)
        return f"g:{m[0]}" if m else f"r:{rid}"

    nodes = sorted({node(r) for r in all_ids})
    index = {n: i for i, n in enumerate(nodes)}
    scored = None
    best: dict[tuple[int, int], tuple[float, float, int]] = {}
    if pairs and model is not None:
        li = np.array([position[a] for a, _ in pairs], dtype=np.int64)
        ri = np.array([position[b] for _, b in pairs], dtype=np.int64)
        scored = score(model, combined, None, (li, ri))
        for k, (a, b) in enumerate(pairs):
            na, nb = index[node(a)], index[node(b)]
            if na == nb:
                continue
            key = (min(na, nb), max(na, nb))
            p, w = float(scored.probability[k]), float(scored.match_weight[k])
            if key not in best or p > best[key][0]:
                best[key] = (p, w, k)
    if cannot_pairs is None:
        # Without pairs nothing links, and nothing is refused.
        cannot_pairs = _cannot_links(session, all_ids) if pairs else []
    cannot = [
        (index[node(a)], index[node(b)]) for a, b in cannot_pairs if a in position and b in position
    ]
    if scored is not None:
        for k in np.flatnonzero(scored.rules.cannot_link).tolist():
            a, b = pairs[k]
            cannot.append((index[node(a)], index[node(b)]))
    keys = list(best)
    links = Links(
        left=np.array([a for a, _ in keys], dtype=np.int64),
        right=np.array([b for _, b in keys], dtype=np.int64),
        probability=np.array([best[k][0] for k in keys], dtype=np.float64),
        match_weight=np.array([best[k][1] for k in keys], dtype=np.float64),
    )
    result = cluster(nodes, links, cannot_link=cannot, thresholds=spec.thresholds)

    groups = result.clusters()
    # The golden record of each cluster without one (by position in `groups`): the one its
    # records left, if they were alone there; else a new one, built from the rows in hand
    # when they are all this chunk's (one insert with its attributes), else empty and
    # recomputed below.
    new_needed = {i: g for i, g in enumerate(groups) if not any(n.startswith("g:") for n in g)}
    by_id = {p[0]: p for p in live}
    # The golden records left that hold other records still: for a single record, known from
    # its first read (`ingest_one`); else read when needed.
    held: set[int] | None = None
    if len(live) == 1 and not deleted and live[0].shares_golden is not None:
        held = {live[0].golden_id} if live[0].shares_golden else set()
    kept = _kept_goldens(session, new_needed, former, held)
    stays = _stays(groups, former, kept)
    # The records that move leave their golden records now, before any is built or merged.
    unlink_events: list[Event] = []
    moved_from = (
        unlink(
            session,
            entity_type,
            [rid for rid in former if rid not in stays],
            ctx,
            reason="re-evaluate",
            deferred=unlink_events,
            keys=record_keys,
        )
        if len(stays) < len(former)
        else {}
    )
    direct = [
        i for i, g in new_needed.items() if i not in kept and all(int(n[2:]) in by_id for n in g)
    ]
    created = create_golden_records(
        session,
        entity_type,
        [
            [
                Member(rid, r[1], r[4], r[5], r[6], r[2] or {})
                for rid, r in ((int(n[2:]), by_id[int(n[2:])]) for n in sorted(new_needed[i]))
            ]
            for i in direct
        ],
        ctx,
        workers=workers,
    )
    fresh = set(created)  # created complete: nothing to recompute
    built = set(direct)
    empty = [i for i in new_needed if i not in kept and i not in built]
    target_of = {
        **kept,
        **dict(zip(direct, created, strict=True)),
        **dict(zip(empty, create_goldens(session, entity_type, len(empty)), strict=True)),
    }
    summary.new_goldens += len(direct) + len(empty)
    planned: list[Link] = []
    cluster_golden: dict[str, int] = {}
    for i, group in enumerate(groups):
        goldens = sorted(int(n[2:]) for n in group if n.startswith("g:"))
        records = [int(n[2:]) for n in group if n.startswith("r:")]
        if not goldens:
            target = target_of[i]
            reason = "auto" if i in kept else "new"
        elif len(goldens) == 1:
            target = goldens[0]
            reason = "auto"
        else:
            target = merge(
                session,
                entity_type,
                goldens,
                ctx,
                reason="matched on ingest",
                recompute_survivor=False,
            )
            summary.merged_goldens += len(goldens) - 1
            reason = "auto"
        # A candidates' golden record that gains no record and merges with none is as it was:
        # nothing of it to recompute (it is in `touched` already if it lost a member).
        if target not in fresh and (records or len(goldens) > 1):
            touched.add(target)
        for member in group:
            cluster_golden[member] = target
        planned.extend(
            Link(rid, target, reason if len(records) == 1 else "auto")
            for rid in records
            if rid not in stays
        )
    summary.linked += len(planned) + len(stays)
    if summary.placed is not None and not moved_from:
        # Final: without records that left a golden record, none is merged afterwards.
        summary.placed.update((lk.source_record_id, lk.golden_id) for lk in planned)
        summary.placed.update((rid, former[rid]) for rid in stays)
    link_events: list[Event] = []
    # Every planned record is a record node: in no golden record, as just read.
    link(
        session,
        entity_type,
        planned,
        ctx,
        deferred=link_events,
        keys=record_keys,
        unattached=True,
    )
    summary.merged_goldens += _merge_emptied(session, entity_type, moved_from, planned, ctx, held)

    if scored is not None:
        opened = _open_reviews(
            session, entity_type, scored, pairs, result, node, cluster_golden, ctx
        )
        summary.review_tasks += len(opened)
        if summary.opened is not None:
            for task_id, left, right in opened:
                for record_id in (left, right):
                    summary.opened.setdefault(record_id, []).append(task_id)
    # A record never matched before is in no review task; a single record's first read says
    # whether it is in one (`in_review`).
    _supersede_reviews(
        session,
        entity_type,
        [p[0] for p in live if p.matched_version and p.in_review is not False],
        ctx,
    )
    counts = recompute(
        session, entity_type, touched - fresh, ctx, workers=workers, statuses=statuses
    )
    counts["created"] += len(fresh)
    # A re-evaluated record that left and came back (its golden record merged into the one it
    # left, say) is no news for downstream systems.
    stayed = {
        lk.source_record_id for lk in planned if moved_from.get(lk.source_record_id) == lk.golden_id
    }
    emit(
        session,
        [e for e in unlink_events if e.payload["source_record_id"] not in stayed]
        + [e for e in link_events if e.payload["source_record_id"] not in stayed],
        ctx,
    )
    for kind, n in counts.items():
        summary.goldens[kind] = summary.goldens.get(kind, 0) + n
    if hierarchies and entity_type == "customer":
        sync_hierarchy(session, touched | fresh, ctx, known=statuses)
    return model


def _stays(
    groups: Sequence[Sequence[str]], former: Mapping[int, int], kept: Mapping[int, int]
) -> set[int]:
    """The records judged afresh that end up in the golden record they are in.

    Those whose cluster holds that golden record and no other, and those whose cluster keeps
    it (`_kept_goldens`, by position in ``groups``). A cluster of several golden records is
    merged, and its records' places are known only after: they leave and are linked again.
    """
    stays: set[int] = set()
    for i, group in enumerate(groups):
        goldens = [int(n[2:]) for n in group if n.startswith("g:")]
        if len(goldens) > 1:
            continue
        target = goldens[0] if goldens else kept.get(i)
        stays.update(
            rid
            for rid in (int(n[2:]) for n in group if n.startswith("r:"))
            if target is not None and former.get(rid) == target
        )
    return stays


def _kept_goldens(
    session: Session,
    new_groups: Mapping[int, Sequence[str]],
    former: Mapping[int, int],
    held: set[int] | None = None,
) -> dict[int, int]:
    """Clusters (by key in ``new_groups``) that keep the golden record their records left.

    A changed record that was alone in its golden record, and still matches nothing, keeps
    that golden record: no new ID that would at once be merged back, no redirect left behind.
    It holds for a cluster whose records all came from one golden record that has no other
    member left. ``held``: those of the former golden records that still hold a record, if
    known.
    """
    if not former:
        return {}
    still_held = (
        held
        if held is not None
        else set(
            run_scalars(
                session, _HELD, {"ids": sorted(set(former.values())), "records": sorted(former)}
            )
        )
    )
    kept: dict[int, int] = {}
    for key, group in new_groups.items():
        olds = {former.get(int(node[2:])) for node in group}
        if len(olds) != 1:
            continue
        (gid,) = olds
        if gid is not None and gid not in still_held and gid not in kept.values():
            kept[key] = gid
    return kept


def _merge_emptied(
    session: Session,
    entity_type: str,
    former: dict[int, int],
    planned: Sequence[Link],
    ctx: ChangeContext,
    held: set[int] | None = None,
) -> int:
    """A golden record whose records all moved to one other golden record merged into it.

    Downstream systems then follow its redirect instead of finding it retired. ``held``: for a
    single record, the former golden records that held another record (as `_kept_goldens`):
    the one it left can have gained a record only by keeping it, and is then no longer left.
    """
    if not former:
        return 0
    now_in = {lk.source_record_id: lk.golden_id for lk in planned}
    moved_to: dict[int, set[int]] = defaultdict(set)
    for rid, gid in former.items():
        moved_to[gid].add(now_in.get(rid, -1))
    remaining = (
        held
        if held is not None
        else set(run_scalars(session, _HELD, {"ids": list(moved_to), "records": []}))
    )
    merged = 0
    for gid, targets in sorted(moved_to.items()):
        if gid in remaining or len(targets) != 1:
            continue
        (target,) = targets
        if target in (gid, -1):
            continue
        merge(
            session,
            entity_type,
            [min(gid, target), max(gid, target)],
            ctx,
            reason="all its records now match another golden record",
            recompute_survivor=False,
        )
        merged += 1
    return merged


def _open_reviews(
    session: Session,
    entity_type: str,
    scored: Any,
    pairs: Sequence[tuple[int, int]],
    result: Any,
    node: Any,
    cluster_golden: dict[str, int],
    ctx: ChangeContext,
) -> list[tuple[int, int, int]]:
    """Open review tasks for the pairs that need a steward; the tasks as (ID, left, right)."""
    thresholds = scored.model.spec.thresholds
    flagged = {tuple(sorted(p)) for p in result.refused + result.weak_bridges}
    proposals: dict[tuple[int, int], int] = {}
    for k, (a, b) in enumerate(pairs):
        p = float(scored.probability[k])
        na, nb = node(a), node(b)
        in_band = thresholds.review <= p < thresholds.match
        if not (in_band or tuple(sorted((na, nb))) in flagged):
            continue
        if cluster_golden.get(na) == cluster_golden.get(nb):
            continue
        key = (min(a, b), max(a, b))
        if key not in proposals or p > float(scored.probability[proposals[key]]):
            proposals[key] = k
    if not proposals:
        return []
    keys = list(proposals)
    ids = sorted({x for k in keys for x in k})
    blocked = set(_cannot_links(session, ids))
    existing = {
        (a, b)
        for a, b in session.execute(
            select(MatchCandidate.left_record_id, MatchCandidate.right_record_id).where(
                id_in(MatchCandidate.left_record_id, ids, session)
            )
        )
    }
    rows = []
    opened: list[tuple[int, int]] = []  # the rows' pairs
    for key in keys:
        if key in blocked or key in existing:
            continue
        opened.append(key)
        k = proposals[key]
        explanation = scored.explain(k)
        # Closest to the middle of the review band first: the most uncertain pairs.
        p = float(scored.probability[k])
        rows.append(
            {
                "entity_type": entity_type,
                "left_record_id": key[0],
                "right_record_id": key[1],
                "match_weight": float(scored.match_weight[k]),
                "probability": p,
                "priority": round(1.0 - abs(p - 0.5) * 2, 6),
                "explanation": {**asdict(explanation), "text": explanation.text()},
                "reason": "score in the review band"
                if thresholds.review <= p < thresholds.match
                else "weak or refused link",
                "status": "open",
                "version": 1,
                "created_at": utcnow(),
                "resolved_at": None,
                "resolved_by": None,
                "resolution_note": None,
            }
        )
    if not rows:
        return []
    task_ids = insert_returning_ids(session, table_of(MatchCandidate), rows)
    emit(
        session,
        [
            Event(
                "review.opened",
                entity_type,
                None,
                None,
                {
                    "task_id": tid,
                    "left_record_id": r["left_record_id"],
                    "right_record_id": r["right_record_id"],
                    "probability": r["probability"],
                },
            )
            for tid, r in zip(task_ids, rows, strict=True)
        ],
        ctx,
    )
    return [(tid, a, b) for tid, (a, b) in zip(task_ids, opened, strict=True)]


# Built once: a new alias per call costs more to build and to key for the statement cache
# than the statement takes to run.
_LEFT_MEMBER = table_of(GoldenMember).alias("lm")
_RIGHT_MEMBER = table_of(GoldenMember).alias("rm")
# Open tasks of these records whose two records now sit in the same golden record.
_SUPERSEDED = Prebuilt(
    lambda ids_in: (
        select(MatchCandidate.id)
        .join(_LEFT_MEMBER, _LEFT_MEMBER.c.source_record_id == MatchCandidate.left_record_id)
        .join(_RIGHT_MEMBER, _RIGHT_MEMBER.c.source_record_id == MatchCandidate.right_record_id)
        .where(
            MatchCandidate.status == "open",
            _LEFT_MEMBER.c.golden_id == _RIGHT_MEMBER.c.golden_id,
            or_(
                ids_in(MatchCandidate.left_record_id, "ids"),
                ids_in(MatchCandidate.right_record_id, "ids"),
            ),
        )
    )
)


def _supersede_reviews(
    session: Session, entity_type: str, record_ids: Sequence[int], ctx: ChangeContext
) -> None:
    """Close open tasks whose two records now sit in the same golden record."""
    if not record_ids:
        return
    done = run_scalars(session, _SUPERSEDED, {"ids": list(record_ids)})
    if not done:
        return
    session.execute(
        update(MatchCandidate)
        .where(id_in(MatchCandidate.id, list(done), session))
        .values(
            status="superseded",
            resolved_at=utcnow(),
            resolved_by=ctx.actor,
            version=MatchCandidate.version + 1,
        )
    )
    emit(
        session,
        [
            Event(
                "review.resolved", entity_type, None, None, {"task_id": t, "status": "superseded"}
            )
            for t in done
        ],
        ctx,
    )


def golden_counts(session: Session) -> dict[str, dict[str, int]]:
    """Golden records per entity type and status."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for entity, status, n in session.execute(
        select(GoldenRecord.entity_type, GoldenRecord.status, func.count()).group_by(
            GoldenRecord.entity_type, GoldenRecord.status
        )
    ):
        out[entity][status] = int(n)
    return dict(out)


def pending_count(session: Session, entity_types: Iterable[str] = ("customer", "product")) -> int:
    """How many records wait to be matched."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(SourceRecord)
            .where(
                SourceRecord.entity_type.in_(list(entity_types)),
                SourceRecord.matched_version < SourceRecord.version,
            )
        )
        or 0
    )
