"""Match-on-query: which golden records would a record match? Free of HTTP; stores nothing.

The record goes through the path the hub takes when it matches a record on ingest, minus every
write:

1. validated with the canonical model (as a ``PUT`` body is), flattened and standardised;
2. its blocking keys looked up in the stored blocking-key index, each key with a ``LIMIT``
   so that a key shared by more records than its rule's cap is skipped after reading at most
   the cap (the hub skips the same keys on ingest);
3. the candidates' stored features scored against it in one vectorised call with the active
   trained model (must-link and cannot-link rules included);
4. the pairs grouped by the candidates' golden records: a golden record counts with its best
   pair, or is barred when a cannot-link rule fired against any of its members.

Everything runs on one read-only connection, each statement by itself (no transaction). The
parsed active model is kept in memory per database and entity type: at a million records its
JSON document (term frequencies, IDF tables) is megabytes, too slow to load and validate on
every request. A request takes it as found within the last ``model_max_age`` seconds (the API's
``MDM_MATCH_MODEL_CACHE_SECONDS``) or asks the database whether it is still the active one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from matching import (
    MatchSpec,
    ScoredCandidate,
    blocking_keys,
    decide,
    score_one,
    standardise_record,
)
from mdm.api.v1.match_schemas import (
    GoldenDecision,
    GoldenMatchRead,
    MatchedRecordRead,
    MatchGoldenRead,
    MatchOutcomeRead,
    MatchQueryRead,
    MatchThresholdsRead,
)
from mdm.canonical.flatten import flatten
from mdm.canonical.models import EntityType
from mdm.canonical.storable import unstorable_fields
from mdm.database import UnitOfWork, ids_parameter
from mdm.errors import ConflictError, InvalidInputError
from mdm.golden.models import GoldenMember, GoldenRecord
from mdm.linkage.models import MatchFeatures
from mdm.linkage.service import (
    active_model_version,
    key_holders,
    spec_for,
    stored_features,
    stored_key,
)
from mdm.mapping.service import validate_canonical
from mdm.sources.models import SourceRecord, SourceSystem

# The query's ID in explanations (``left_id``) and its source ID when the body has none.
QUERY_ID = "query"

# Where a golden record's name is: a company, a person (first and last name), a product.
_NAME_ATTRIBUTES = ("legal_name", "trading_name", "first_name", "last_name", "name")
_DECISION: dict[str, GoldenDecision] = {"match": "link", "review": "review", "no_match": "none"}


class NoMatchModelError(ConflictError):
    """No trained match model exists yet for the entity type (HTTP 409).

    The hub trains one when it first matches enough records of the type.
    """

    code = "no_match_model"


def _query_record(entity: EntityType, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as a valid canonical record; `InvalidInputError` lists every failing field."""
    if errors := unstorable_fields(body):
        # The blocking keys of such a record could not even be looked up (PostgreSQL).
        raise InvalidInputError(f"the {entity.value} record is invalid", errors)
    raw = {**body, "source_id": body.get("source_id") or QUERY_ID}
    mapped = validate_canonical(entity, raw)
    if not mapped.ok or mapped.canonical is None:
        raise InvalidInputError(
            f"the {entity.value} record is invalid", [e.as_dict() for e in mapped.errors]
        )
    return mapped.canonical


def _query_keys(std: Mapping[str, Any], spec: MatchSpec) -> dict[str, int]:
    """The query's stored-form blocking keys, each with its rule's cap."""
    caps = {rule.name: rule.max_block_size for rule in spec.blocking_rules}
    return {stored_key(rule, key): caps[rule] for rule, key in blocking_keys(std, spec)}


def _holders(
    connection: Connection, entity_type: str, keys: Mapping[str, int]
) -> tuple[set[int], list[str]]:
    """The source records sharing a blocking key with the query, and the keys left out.

    Each key is one primary-key range scan that stops after ``cap`` rows. A key already held
    by ``cap`` records is left out: with the query stored it would hold more than the cap,
    and the hub skips such keys when it matches on ingest.
    """
    found = key_holders(connection, entity_type, keys)
    capped = [key for key, ids in found.items() if len(ids) >= keys[key]]
    holders = {rid for key, ids in found.items() if key not in capped for rid in ids}
    return holders, capped


@functools.cache
def _candidates_statement(dialect: str) -> Select[Any]:
    attribute = GoldenRecord.attributes
    return (
        select(
            MatchFeatures.source_record_id,
            MatchFeatures.features,
            GoldenMember.golden_id,
            SourceSystem.code,
            SourceRecord.source_id,
            # What the answer shows of the golden record: read out of its attributes in SQL,
            # so that only these few values travel, not each whole attribute document.
            GoldenRecord.version,
            *(attribute[name].as_string() for name in _NAME_ATTRIBUTES),
            attribute["account_role"].as_string(),
        )
        .join(GoldenMember, GoldenMember.source_record_id == MatchFeatures.source_record_id)
        .join(GoldenRecord, GoldenRecord.id == GoldenMember.golden_id)
        .join(SourceRecord, SourceRecord.id == MatchFeatures.source_record_id)
        .join(SourceSystem, SourceSystem.id == SourceRecord.source_system_id)
        .where(ids_parameter(MatchFeatures.source_record_id, "ids", dialect))
        .order_by(MatchFeatures.source_record_id)
    )


@dataclass(slots=True)
class _Candidates:
    """The candidate records of a query: features to score, and what the answer shows."""

    features: list[dict[str, Any]] = field(default_factory=list)
    golden_of: dict[str, int] = field(default_factory=dict)
    records: dict[str, MatchedRecordRead] = field(default_factory=dict)
    # Per golden record: version, the name attributes in _NAME_ATTRIBUTES order, the role.
    goldens: dict[int, tuple[Any, ...]] = field(default_factory=dict)

    def golden(self, golden_id: int) -> MatchGoldenRead:
        version, legal, trading, first, last, product, role = self.goldens[golden_id]
        person = " ".join(p for p in (first, last) if p)
        return MatchGoldenRead(
            golden_id=golden_id,
            version=version,
            name=legal or trading or person or product,
            account_role=role,
        )


def _candidates(connection: Connection, record_ids: set[int]) -> _Candidates:
    """Stored features, golden records and source keys of the candidate records.

    Records without a golden record (waiting to be matched) are not candidates yet.
    """
    found = _Candidates()
    if not record_ids:
        return found
    # Core, not ORM, execution: half the Python time for the same rows.
    rows = connection.execute(
        _candidates_statement(connection.dialect.name), {"ids": sorted(record_ids)}
    )
    for rid, features, gid, code, sid, *golden in rows:
        key = str(rid)
        found.features.append(stored_features(features, key))
        found.golden_of[key] = int(gid)
        found.records[key] = MatchedRecordRead(source_record_id=rid, source=code, source_id=sid)
        found.goldens[int(gid)] = tuple(golden)
    return found


def _best_per_golden(
    scored: Sequence[ScoredCandidate], golden_of: Mapping[str, int]
) -> list[tuple[int, ScoredCandidate]]:
    """One pair per golden record, best first: its best pair, or if barred its cannot-link pair.

    A cannot-link rule against any member keeps the query out of the whole golden record,
    as on ingest; the pair that fired it is shown so that the explanation names the rule.
    """
    best: dict[int, ScoredCandidate] = {}
    barred: dict[int, ScoredCandidate] = {}
    for cand in scored:  # best first: by probability, then match weight
        golden_id = golden_of[cand.candidate_id]
        if cand.cannot_link:
            barred.setdefault(golden_id, cand)
        else:
            best.setdefault(golden_id, cand)
    chosen = {**best, **barred}
    return sorted(
        chosen.items(), key=lambda item: (-item[1].probability, -item[1].match_weight, item[0])
    )


def match_record(
    uow: UnitOfWork,
    entity: EntityType,
    body: Mapping[str, Any],
    *,
    limit: int,
    min_probability: float | None = None,
    model_max_age: float = 0.0,
) -> MatchQueryRead:
    """The golden records a canonical record would match, best first; stores nothing.

    ``limit`` caps the candidates answered and ``min_probability`` drops weaker ones; the
    outcome (what the hub would do with the record) weighs every candidate regardless.
    The active model is taken as this process last found it if that was less than
    ``model_max_age`` seconds ago (a round trip less a request). Raises `InvalidInputError`
    for an invalid record and `NoMatchModelError` when no model has been trained for the
    entity type.
    """
    canonical = _query_record(entity, body)
    spec = spec_for(entity.value)
    std = standardise_record(flatten(entity.value, QUERY_ID, QUERY_ID, canonical), spec)
    # Read-only and an estimate of the moment: its statements need not share one snapshot.
    with uow.reading() as connection:
        found = active_model_version(connection, entity.value, max_age=model_max_age)
        if found is None:
            raise NoMatchModelError(
                f"there is no trained {entity.value} match model yet; the hub trains one when "
                f"it first matches enough {entity.value} records"
            )
        model_version, model = found
        holders, capped = _holders(connection, entity.value, _query_keys(std, spec))
        candidates_found = _candidates(connection, holders)
        features, golden_of = candidates_found.features, candidates_found.golden_of
        scored = score_one(model, std, features)
        thresholds = model.spec.thresholds
        decision = decide(scored, {c: str(g) for c, g in golden_of.items()}, thresholds)
        ranked = [
            (golden_id, cand)
            for golden_id, cand in _best_per_golden(scored, golden_of)
            if min_probability is None or cand.probability >= min_probability
        ][:limit]
        candidates = [
            GoldenMatchRead(
                golden_id=golden_id,
                probability=cand.probability,
                match_weight=cand.match_weight,
                decision=_DECISION[cand.decision],
                cannot_link=cand.cannot_link,
                golden=candidates_found.golden(golden_id),
                matched_record=candidates_found.records[cand.candidate_id],
                explanation=cand.explanation.to_dict(),
            )
            for golden_id, cand in ranked
        ]
    return MatchQueryRead(
        entity_type=entity.value,
        model_version=model_version,
        thresholds=MatchThresholdsRead(match=thresholds.match, review=thresholds.review),
        outcome=MatchOutcomeRead(
            decision=decision.kind,
            golden_id=None if decision.target is None else int(decision.target),
            probability=decision.probability,
            reason=decision.reason,
        ),
        candidates=candidates,
        candidates_scored=len(features),
        capped_keys=capped,
    )
