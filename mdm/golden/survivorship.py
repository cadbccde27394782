"""Survivorship: build a golden record's attributes from its member source records.

Rules are data: a :class:`SurvivorshipSpec` names, per attribute of one entity type, the strategy
that picks the surviving value and the strategy that breaks its ties. :func:`survive` applies a
spec to the members of one golden record and returns the attributes with their provenance.

Strategies (each one narrows the candidates to those tied at its best; whatever is still tied at
the end goes to the best-ranked record, so the result never depends on the order of the input):

``source_priority``
    the rule's ``source_order`` first (sources listed win, in list order), then ``trust_rank``
    (1 = most trusted); records still tied go to the tie-break, then to the most recent.
``most_recent``
    the latest ``received_at``.
``most_frequent``
    the value held by most records, compared after normalisation (case, accents, punctuation;
    a website by its registered domain, a GTIN by its GTIN-14).
``most_complete``
    the longest text, or the object with the most filled sub-fields (then the most text).
``valid_first``
    values that pass the attribute's check (GTIN check digit, website domain) beat those that do
    not; among those, ``most_frequent``.
``union``
    every distinct value, best-ranked holder first: lists are merged and deduplicated (tax IDs
    by their validated form, phones by E.164, e-mails case-insensitively), objects are merged
    key by key with ``source_priority`` per key, scalars fall back to ``source_priority``.

Two rule options cover attributes that are not simple values: ``per`` picks one item per value of
an item key (one address per address type) and ``together_with`` takes further attributes from
the record that won this one (a price and its currency).

The module is pure and on the hot path of every load (one call per changed golden record): a spec
is compiled into plain tuples and dicts once and cached on the spec, and pydantic is never used
while surviving.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from matching.standardisation import duns, fold_text, gtin, phone, tax_id, website
from mdm.canonical.models import AddressType, EntityType, model_for

Strategy = Literal[
    "source_priority", "most_recent", "most_frequent", "most_complete", "valid_first", "union"
]

OVERRIDE = "override"
"""The provenance rule of a value pinned by a data steward."""

# Attributes of the canonical record that are not golden-record attributes.
_RESERVED = frozenset({"source_id", "entity_type"})

# Identifier schemes validated as tax numbers (python-stdnum, through matching.standardisation).
_TAX_SCHEMES = frozenset(
    {"vat", "tax_id", "tin", "ein", "vatin", "ust_idnr", "tva", "mwst", "iva", "btw"}
)
_VALID, _UNCHECKED, _INVALID = 0, 1, 2
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_NOT_DIGIT = re.compile(r"\D")
# Which address carries a customer's country (the default region of its phone numbers).
_COUNTRY_ADDRESS_ORDER = {t.value: i for i, t in enumerate(AddressType)}


# --------------------------------------------------------------------------- rules as data


class SurvivorshipRule(BaseModel):
    """How one attribute survives.

    >>> SurvivorshipRule(attribute="legal_name", strategy="source_priority",
    ...                  source_order=["erp"]).tie_break
    'source_priority'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attribute: str = Field(min_length=1)
    strategy: Strategy
    source_order: list[str] = Field(
        default_factory=list,
        description="source codes, first wins; sources not listed fall back to trust_rank",
    )
    tie_break: Strategy = "source_priority"
    per: str | None = Field(
        default=None,
        description="for a list of objects: one winner per value of this item key (address type)",
    )
    together_with: list[str] = Field(
        default_factory=list,
        description="further attributes taken from the record that won this one",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SurvivorshipRule:
        if self.tie_break == "union":
            raise ValueError(f"{self.attribute}: union keeps every value and cannot break a tie")
        if "valid_first" in {self.strategy, self.tie_break} and self.attribute not in _VALIDITY:
            raise ValueError(
                f"{self.attribute}: valid_first needs a validity check; known: "
                f"{', '.join(sorted(_VALIDITY))}"
            )
        if self.strategy == "union" and (self.per or self.together_with):
            raise ValueError(f"{self.attribute}: union takes neither 'per' nor 'together_with'")
        if self.per and self.together_with:
            raise ValueError(f"{self.attribute}: 'per' and 'together_with' do not combine")
        return self


class SurvivorshipSpec(BaseModel):
    """The survivorship rules of one entity type; attributes without a rule use ``default``.

    The executable form is compiled on first use and cached on the spec: build a spec once and
    reuse it (assigning a changed copy through ``model_copy(update=...)`` is fine; mutating its
    lists in place after first use is not).

    >>> spec = default_product_survivorship()
    >>> spec.entity_type, spec.default
    (<EntityType.PRODUCT: 'product'>, 'source_priority')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_type: EntityType
    rules: list[SurvivorshipRule] = Field(default_factory=list)
    default: Strategy = "source_priority"

    _compiled: _CompiledSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_rule_per_attribute(self) -> SurvivorshipSpec:
        seen: set[str] = set()
        for rule in self.rules:
            for name in (rule.attribute, *rule.together_with):
                if name in _RESERVED:
                    raise ValueError(f"'{name}' is not a golden-record attribute")
                if name in seen:
                    raise ValueError(f"'{name}' is governed by more than one rule")
                seen.add(name)
        return self


def default_customer_survivorship() -> SurvivorshipSpec:
    """The shipped customer rules.

    >>> rules = {r.attribute: r for r in default_customer_survivorship().rules}
    >>> rules["addresses"].strategy, rules["addresses"].per, rules["addresses"].tie_break
    ('source_priority', 'type', 'most_complete')
    """
    rule = SurvivorshipRule
    return SurvivorshipSpec(
        entity_type=EntityType.CUSTOMER,
        default="source_priority",
        rules=[
            rule(attribute="legal_name", strategy="source_priority"),
            rule(attribute="trading_name", strategy="most_recent"),
            rule(attribute="first_name", strategy="source_priority"),
            rule(attribute="last_name", strategy="source_priority"),
            rule(attribute="account_role", strategy="most_frequent"),
            rule(attribute="identifiers", strategy="union"),
            # The ERP (the most trusted source) owns the billing address.
            rule(
                attribute="addresses",
                strategy="source_priority",
                per="type",
                tie_break="most_complete",
            ),
            rule(attribute="phones", strategy="union"),
            rule(attribute="emails", strategy="union"),
            rule(attribute="website", strategy="most_frequent"),
            rule(attribute="parents", strategy="union"),
            rule(attribute="status", strategy="most_recent"),
        ],
    )


def default_product_survivorship() -> SurvivorshipSpec:
    """The shipped product rules.

    >>> rules = {r.attribute: r for r in default_product_survivorship().rules}
    >>> rules["gtin"].strategy, rules["price"].together_with
    ('valid_first', ['currency'])
    """
    rule = SurvivorshipRule
    return SurvivorshipSpec(
        entity_type=EntityType.PRODUCT,
        default="source_priority",
        rules=[
            rule(attribute="sku", strategy="source_priority"),
            rule(attribute="gtin", strategy="valid_first"),
            rule(attribute="mpn", strategy="source_priority"),
            rule(attribute="brand", strategy="most_frequent"),
            rule(attribute="manufacturer", strategy="most_frequent"),
            rule(attribute="name", strategy="most_complete"),
            rule(attribute="description", strategy="most_complete"),
            rule(attribute="category", strategy="source_priority"),
            rule(attribute="unit_of_measure", strategy="most_frequent"),
            # A price means nothing without its currency: both come from one record.
            rule(attribute="price", strategy="most_recent", together_with=["currency"]),
            rule(attribute="attributes", strategy="union"),
            rule(attribute="status", strategy="most_recent"),
        ],
    )


# --------------------------------------------------------------------------- inputs and outputs


@dataclass(frozen=True, slots=True)
class Member:
    """One source record of a golden record, as survivorship sees it.

    ``canonical`` is the JSON-ready canonical customer or product of the record.
    """

    record_id: int
    source: str
    source_id: str
    trust_rank: int
    received_at: datetime
    canonical: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a surviving value came from.

    ``rule`` is the strategy that chose it, or ``"override"`` for a value pinned by a steward
    (then ``source``, ``source_id`` and ``record_id`` are ``None`` and ``at`` is the time of the
    survivorship run). For a union, ``source`` is the holder of the first value and
    ``contributors`` lists every (source, source_id) that contributed a surviving value.
    """

    source: str | None
    source_id: str | None
    record_id: int | None
    rule: str
    at: datetime
    contributors: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form.

        >>> Provenance("erp", "1", 7, "most_recent", datetime(2026, 1, 2, tzinfo=UTC)).as_dict()
        ... # doctest: +NORMALIZE_WHITESPACE
        {'source': 'erp', 'source_id': '1', 'record_id': 7, 'rule': 'most_recent',
         'at': '2026-01-02T00:00:00+00:00', 'contributors': []}
        """
        return {
            "source": self.source,
            "source_id": self.source_id,
            "record_id": self.record_id,
            "rule": self.rule,
            "at": self.at.isoformat(),
            "contributors": [list(pair) for pair in self.contributors],
        }


@dataclass(frozen=True, slots=True)
class GoldenView:
    """The surviving attributes of a golden record and the provenance of each.

    Provenance is keyed by attribute; attributes surviving per item or per key also carry one
    entry per item (``addresses.billing``) or key (``attributes.colour``).
    """

    entity_type: str
    attributes: dict[str, Any]
    provenance: dict[str, Provenance] = field(default_factory=dict)


# --------------------------------------------------------------------------- value helpers


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return not value.strip()
    if kind is list or kind is dict or kind is tuple:
        return not value
    if kind is int or kind is float or kind is bool:
        return False
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple):
        return not value
    return False


def _is_mapping(value: Any) -> bool:
    # The exact-type test first: an ABC isinstance check is slow on the hot path.
    return type(value) is dict or isinstance(value, Mapping)


def _copy(value: Any) -> Any:
    # Surviving values are handed out as fresh JSON containers, never the members' own.
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return fold_text(value) or value.strip()
    return _freeze(value)


def _normalise_website(value: Any) -> Any:
    domain = website(value) if isinstance(value, str) else None
    return domain or _normalise(value)


def _normalise_gtin(value: Any) -> Any:
    text = value if isinstance(value, str) else str(value)
    return gtin(text) or _NOT_DIGIT.sub("", text) or _normalise(value)


def _text_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.strip())
    if isinstance(value, dict):
        return sum(_text_size(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_text_size(v) for v in value)
    return 1


def _completeness(value: Any) -> tuple[int, int]:
    if isinstance(value, dict):
        filled = [v for v in value.values() if not _is_empty(v)]
        return len(filled), sum(_text_size(v) for v in filled)
    if isinstance(value, list | tuple):
        filled = [v for v in value if not _is_empty(v)]
        return len(filled), sum(_text_size(v) for v in filled)
    return 1, _text_size(value)


def _valid_gtin(value: Any) -> bool:
    return gtin(value if isinstance(value, str) else str(value)) is not None


def _valid_website(value: Any) -> bool:
    return isinstance(value, str) and website(value) is not None


# Per-attribute checks (valid_first) and normalisations (most_frequent).
_VALIDITY: dict[str, Callable[[Any], bool]] = {"gtin": _valid_gtin, "website": _valid_website}
_NORMALISERS: dict[str, Callable[[Any], Any]] = {
    "website": _normalise_website,
    "gtin": _normalise_gtin,
}


# --------------------------------------------------------------------------- compiled spec


# A candidate value: (rank of its member in the rule's priority order, 0 = best; position inside
# the member's list, 0 for a scalar; index of the member; the value). Plain tuples, because
# millions are made in a load and (rank, position) alone orders them totally.
_Candidate = tuple[int, int, int, Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    attribute: str
    strategy: str
    # The narrowing steps; whatever is still tied afterwards goes to the best-ranked record.
    steps: tuple[Callable[[list[_Candidate], _Run, _Plan], list[_Candidate]], ...]
    order: tuple[str, ...]
    per: str | None
    together: tuple[str, ...]


@dataclass(slots=True)
class _CompiledSpec:
    rules_ref: list[SurvivorshipRule]
    default: str
    entity_type: str
    plans: dict[str, _Plan]
    known: tuple[str, ...]
    empty: dict[str, Any]
    governed_elsewhere: frozenset[str]

    def plan_for(self, attribute: str) -> _Plan:
        found = self.plans.get(attribute)
        if found is None:
            found = _plan(
                attribute,
                self.default,
                order=(),
                tie_break="source_priority",
                per=None,
                together=(),
            )
            self.plans[attribute] = found
        return found


def _plan(
    attribute: str,
    strategy: str,
    *,
    order: Sequence[str],
    tie_break: str,
    per: str | None,
    together: Sequence[str],
) -> _Plan:
    if strategy == "valid_first" and attribute not in _VALIDITY:
        strategy = "source_priority"  # a default of valid_first on an attribute with no check
    first = "source_priority" if strategy == "union" else strategy
    steps = [first]
    if first == "valid_first":
        steps.append("most_frequent")
    if tie_break not in steps:
        steps.append(tie_break)
    return _Plan(
        attribute,
        strategy,
        tuple(_STEPS[step] for step in steps),
        tuple(order),
        per,
        tuple(together),
    )


def _compile(spec: SurvivorshipSpec) -> _CompiledSpec:
    model = model_for(spec.entity_type)
    empty: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in _RESERVED:
            continue
        # What the canonical model would fill in: None, [], {} or a default such as "active".
        default = info.get_default(call_default_factory=True)
        empty[name] = default.value if isinstance(default, Enum) else default
    plans: dict[str, _Plan] = {}
    together: set[str] = set()
    for rule in spec.rules:
        plans[rule.attribute] = _plan(
            rule.attribute,
            rule.strategy,
            order=rule.source_order,
            tie_break=rule.tie_break,
            per=rule.per,
            together=rule.together_with,
        )
        together.update(rule.together_with)
        if rule.attribute not in empty:
            empty[rule.attribute] = [] if rule.strategy == "union" or rule.per else None
    return _CompiledSpec(
        rules_ref=spec.rules,
        default=spec.default,
        entity_type=str(spec.entity_type.value),
        plans=plans,
        known=tuple(empty),
        empty=empty,
        governed_elsewhere=frozenset(together),
    )


def _compiled(spec: SurvivorshipSpec) -> _CompiledSpec:
    found = spec._compiled  # noqa: SLF001 - the cache belongs to this module
    # A copy made by model_copy() carries the cache along: check that it is still this spec's.
    if (
        found is None
        or found.rules_ref is not spec.rules
        or found.default != spec.default
        or found.entity_type != spec.entity_type.value
    ):
        found = _compile(spec)
        spec._compiled = found  # noqa: SLF001
    return found


# --------------------------------------------------------------------------- one survivorship run


class _Run:
    """The members of one golden record with their rankings, computed once per source order."""

    __slots__ = ("_countries", "_rankings", "members", "stamps")

    def __init__(self, members: Sequence[Member]) -> None:
        self.members = members
        self.stamps = [m.received_at.timestamp() for m in members]
        self._rankings: dict[tuple[str, ...], tuple[list[int], list[tuple[int, int]]]] = {}
        self._countries: dict[int, str | None] = {}

    def ranking(self, order: tuple[str, ...]) -> tuple[list[int], list[tuple[int, int]]]:
        """Each member's rank (a total order) and tier (source order, trust rank)."""
        found = self._rankings.get(order)
        if found is None:
            position = {code: i for i, code in enumerate(order)}
            unlisted = len(order)
            members, stamps = self.members, self.stamps
            tiers = [(position.get(m.source, unlisted), m.trust_rank) for m in members]
            ordered = sorted(
                range(len(members)),
                key=lambda i: (
                    tiers[i],
                    -stamps[i],
                    members[i].source,
                    members[i].source_id,
                    members[i].record_id,
                ),
            )
            rank = [0] * len(members)
            for place, i in enumerate(ordered):
                rank[i] = place
            found = (rank, tiers)
            self._rankings[order] = found
        return found

    def country(self, index: int) -> str | None:
        """The member's country: of its legal address first, else any address or identifier."""
        if index in self._countries:
            return self._countries[index]
        canonical = self.members[index].canonical
        found = None
        best = len(_COUNTRY_ADDRESS_ORDER) + 1
        for address in canonical.get("addresses") or ():
            if _is_mapping(address) and address.get("country"):
                place = _COUNTRY_ADDRESS_ORDER.get(str(address.get("type")), best - 1)
                if place < best:
                    found, best = str(address["country"]), place
        if found is None:
            found = next(
                (
                    str(i["country"])
                    for i in canonical.get("identifiers") or ()
                    if _is_mapping(i) and i.get("country")
                ),
                None,
            )
        self._countries[index] = found
        return found

    def provenance(
        self, member: int, rule: str, contributors: tuple[tuple[str, str], ...] = ()
    ) -> Provenance:
        """The provenance of a value won by the member at this index."""
        m = self.members[member]
        return Provenance(m.source, m.source_id, m.record_id, rule, m.received_at, contributors)

    def contributors(self, indexes: set[int], rank: list[int]) -> tuple[tuple[str, str], ...]:
        """The (source, source_id) of these members, best-ranked first."""
        members = self.members
        return tuple(
            (members[i].source, members[i].source_id) for i in sorted(indexes, key=rank.__getitem__)
        )


def _by_tier(cands: list[_Candidate], run: _Run, plan: _Plan) -> list[_Candidate]:
    tiers = run.ranking(plan.order)[1]
    best = min(tiers[c[2]] for c in cands)
    return [c for c in cands if tiers[c[2]] == best]


def _by_recency(cands: list[_Candidate], run: _Run, _plan: _Plan) -> list[_Candidate]:
    stamps = run.stamps
    best = max(stamps[c[2]] for c in cands)
    return [c for c in cands if stamps[c[2]] == best]


def _by_frequency(cands: list[_Candidate], _run: _Run, plan: _Plan) -> list[_Candidate]:
    normalise = _NORMALISERS.get(plan.attribute, _normalise)
    keys = [normalise(c[3]) for c in cands]
    counts: dict[Any, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    best = max(counts.values())
    return [c for c, key in zip(cands, keys, strict=True) if counts[key] == best]


def _by_completeness(cands: list[_Candidate], _run: _Run, _plan: _Plan) -> list[_Candidate]:
    scores = [_completeness(c[3]) for c in cands]
    best = max(scores)
    return [c for c, score in zip(cands, scores, strict=True) if score == best]


def _by_validity(cands: list[_Candidate], _run: _Run, plan: _Plan) -> list[_Candidate]:
    check = _VALIDITY[plan.attribute]
    return [c for c in cands if check(c[3])] or cands


_STEPS: dict[str, Callable[[list[_Candidate], _Run, _Plan], list[_Candidate]]] = {
    "source_priority": _by_tier,
    "most_recent": _by_recency,
    "most_frequent": _by_frequency,
    "most_complete": _by_completeness,
    "valid_first": _by_validity,
}


def _pick(cands: list[_Candidate], run: _Run, plan: _Plan) -> _Candidate:
    for step in plan.steps:
        if len(cands) == 1:
            return cands[0]
        cands = step(cands, run, plan)
    # (rank, position) is unique, so min() never compares the values themselves.
    return min(cands)


def _candidates(run: _Run, plan: _Plan) -> list[_Candidate]:
    rank = run.ranking(plan.order)[0]
    name = plan.attribute
    return [
        (rank[i], 0, i, value)
        for i, m in enumerate(run.members)
        if not _is_empty(value := m.canonical.get(name))
    ]


# A union key function: (item, member index, run) -> (dedupe key, shown item, validity, family).
_UnionKey = Callable[[Any, int, _Run], tuple[Any, Any, int, Any]]


def _identifier_key(item: Any, _index: int, _run: _Run) -> tuple[Any, Any, int, Any]:
    if not _is_mapping(item):
        return ("", _normalise(item), None), item, _UNCHECKED, None
    scheme = str(item.get("scheme") or "").strip().lower()
    raw = item.get("value")
    text = "" if raw is None else str(raw)
    country = item.get("country")
    country_text = str(country).strip().upper() if country else None
    shown = item
    if scheme in _TAX_SCHEMES or scheme == "duns":
        # The validated form already carries the country a tax number belongs to.
        valid = tax_id(text, scheme, country_text) if scheme != "duns" else duns(text)
        if valid:
            return (scheme, valid, None), shown, _VALID, scheme
        validity = _INVALID
    else:
        validity = _UNCHECKED
    return (scheme, _NOT_ALNUM.sub("", text.upper()), country_text), shown, validity, scheme


def _phone_key(item: Any, index: int, run: _Run) -> tuple[Any, Any, int, Any]:
    text = str(item).strip()
    # A number in international format needs no default region.
    e164 = phone(text, None if text.startswith("+") else run.country(index))
    if e164:
        return e164, e164, _UNCHECKED, None
    return f"raw:{_NOT_DIGIT.sub('', text) or text.casefold()}", text, _UNCHECKED, None


def _email_key(item: Any, _index: int, _run: _Run) -> tuple[Any, Any, int, Any]:
    text = str(item).strip()
    return text.casefold(), text, _UNCHECKED, None


def _parent_key(item: Any, index: int, run: _Run) -> tuple[Any, Any, int, Any]:
    if not _is_mapping(item):
        return _normalise(item), item, _UNCHECKED, None
    # A parent reference without a source means "the member's own source", which is ambiguous
    # in a golden record that has members from several sources: name it.
    source = item.get("source") or run.members[index].source
    shown = {**item, "source": source}
    return (item.get("relation"), source, item.get("source_id")), shown, _UNCHECKED, None


def _generic_key(item: Any, _index: int, _run: _Run) -> tuple[Any, Any, int, Any]:
    key = item.strip().casefold() if isinstance(item, str) else _freeze(item)
    return key, item, _UNCHECKED, None


_UNION_KEYS: dict[str, _UnionKey] = {
    "identifiers": _identifier_key,
    "phones": _phone_key,
    "emails": _email_key,
    "parents": _parent_key,
}


def _items(value: Any) -> list[Any] | tuple[Any, ...]:
    return value if type(value) is list or type(value) is tuple else (value,)


def _union_list(
    run: _Run, plan: _Plan, cands: list[_Candidate], out: dict[str, Any], prov: dict[str, Any]
) -> None:
    keyer = _UNION_KEYS.get(plan.attribute, _generic_key)
    # dedupe key -> [best (rank, position), shown value, validity, family, holders, best member]
    slots: dict[Any, list[Any]] = {}
    for rank, _, member, value in cands:
        for sub, item in enumerate(_items(value)):
            if _is_empty(item):
                continue
            key, shown, validity, family = keyer(item, member, run)
            slot = slots.get(key)
            if slot is None:
                slots[key] = [(rank, sub), shown, validity, family, {member}, member]
            else:
                slot[4].add(member)
                if (rank, sub) < slot[0]:
                    slot[0], slot[1], slot[5] = (rank, sub), shown, member
    # An invalid identifier is kept only while no valid one of its scheme exists.
    valid_families = {s[3] for s in slots.values() if s[2] == _VALID}
    kept = sorted(
        (s for s in slots.values() if not (s[2] == _INVALID and s[3] in valid_families)),
        key=lambda s: (s[2], s[0]),
    )
    out[plan.attribute] = [_copy(s[1]) for s in kept]
    if kept:
        holders: set[int] = set().union(*(s[4] for s in kept))
        rank_of = run.ranking(plan.order)[0]
        contributors = run.contributors(holders, rank_of)
        prov[plan.attribute] = run.provenance(kept[0][5], "union", contributors)


def _union_dict(
    run: _Run, plan: _Plan, cands: list[_Candidate], out: dict[str, Any], prov: dict[str, Any]
) -> None:
    by_key: dict[str, list[_Candidate]] = {}
    for rank, sub, member, mapping in cands:
        for key, value in mapping.items():
            if not _is_empty(value):
                by_key.setdefault(str(key), []).append((rank, sub, member, value))
    merged: dict[str, Any] = {}
    winners: list[_Candidate] = []
    for key in sorted(by_key):
        winner = _pick(by_key[key], run, plan)
        merged[key] = _copy(winner[3])
        winners.append(winner)
        prov[f"{plan.attribute}.{key}"] = run.provenance(winner[2], "source_priority")
    out[plan.attribute] = merged
    if winners:
        rank_of = run.ranking(plan.order)[0]
        contributors = run.contributors({w[2] for w in winners}, rank_of)
        best = min(winners, key=lambda w: w[0])
        prov[plan.attribute] = run.provenance(best[2], "union", contributors)


def _has_content(item: Mapping[str, Any], per: str | None) -> bool:
    for key, value in item.items():  # noqa: SIM110 - no generator per address on the hot path
        if key != per and not _is_empty(value):
            return True
    return False


def _survive_per_item(
    run: _Run, plan: _Plan, cands: list[_Candidate], out: dict[str, Any], prov: dict[str, Any]
) -> None:
    per = plan.per
    groups: dict[Any, list[_Candidate]] = {}
    for rank, _, member, value in cands:
        for sub, item in enumerate(_items(value)):
            if not _is_mapping(item) or not _has_content(item, per):
                continue
            groups.setdefault(item.get(per), []).append((rank, sub, member, item))
    winners = sorted(
        ((_pick(group, run, plan), key) for key, group in groups.items()),
        key=lambda pair: (pair[0][:2], str(pair[1])),
    )
    out[plan.attribute] = [_copy(w[3]) for w, _ in winners]
    if not winners:
        return
    for winner, key in winners:
        prov[f"{plan.attribute}.{key}"] = run.provenance(winner[2], plan.strategy)
    rank_of = run.ranking(plan.order)[0]
    contributors = run.contributors({w[2] for w, _ in winners}, rank_of)
    prov[plan.attribute] = run.provenance(winners[0][0][2], plan.strategy, contributors)


def _survive_together(
    run: _Run, plan: _Plan, empty: Any, out: dict[str, Any], prov: dict[str, Any]
) -> None:
    names = (plan.attribute, *plan.together)
    rank = run.ranking(plan.order)[0]
    carrying = [[n for n in names if not _is_empty(m.canonical.get(n))] for m in run.members]
    # Prefer the records that carry the whole group (a price with its currency).
    full = len(names)
    cands = [
        (rank[i], 0, i, run.members[i].canonical.get(plan.attribute))
        for i, found in enumerate(carrying)
        if len(found) == full
    ] or [
        (rank[i], 0, i, run.members[i].canonical.get(plan.attribute))
        for i, found in enumerate(carrying)
        if found
    ]
    if not cands:
        out[plan.attribute] = _copy(empty)
        for name in plan.together:
            out[name] = None
        return
    member = _pick(cands, run, plan)[2]
    canonical = run.members[member].canonical
    for name in names:
        value = canonical.get(name)
        out[name] = None if _is_empty(value) else _copy(value)
        if name in carrying[member]:
            prov[name] = run.provenance(member, plan.strategy)


def _survive_attribute(
    run: _Run, plan: _Plan, empty: Any, out: dict[str, Any], prov: dict[str, Any]
) -> None:
    if plan.together:
        _survive_together(run, plan, empty, out, prov)
        return
    name = plan.attribute
    cands = _candidates(run, plan)
    if not cands:
        out[name] = _copy(empty)
    elif plan.per:
        _survive_per_item(run, plan, cands, out, prov)
    elif plan.strategy == "union" and all(_is_mapping(c[3]) for c in cands):
        _union_dict(run, plan, cands, out, prov)
    elif plan.strategy == "union" and any(isinstance(c[3], list | tuple) for c in cands):
        _union_list(run, plan, cands, out, prov)
    else:
        winner = _pick(cands, run, plan)
        out[name] = _copy(winner[3])
        prov[name] = run.provenance(winner[2], plan.strategy)


def survive(
    members: Sequence[Member],
    spec: SurvivorshipSpec,
    overrides: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> GoldenView:
    """Build a golden record's attributes from its members, with provenance per attribute.

    Every attribute of the canonical model (less ``source_id`` and ``entity_type``) is present,
    with the model's default (``None``, ``[]``, ``{}``, ``"active"``) and no provenance when no
    member has a value; unknown fields that members carry survive by the spec's default
    strategy. Overrides win over every rule. The result does not depend on the order of
    ``members``.

    >>> from datetime import datetime, UTC
    >>> erp = Member(1, "erp", "E1", 1, datetime(2026, 1, 1, tzinfo=UTC),
    ...              {"legal_name": "ACME GmbH", "phones": ["030 1234567"],
    ...               "addresses": [{"type": "billing", "city": "Berlin", "country": "DE"}]})
    >>> crm = Member(2, "crm", "C9", 5, datetime(2026, 3, 1, tzinfo=UTC),
    ...              {"legal_name": "Acme", "trading_name": "Acme Shop",
    ...               "phones": ["+49 30 1234567", "+49 30 7654321"]})
    >>> view = survive([crm, erp], default_customer_survivorship())
    >>> view.attributes["legal_name"], view.attributes["trading_name"]
    ('ACME GmbH', 'Acme Shop')
    >>> view.attributes["phones"]
    ['+49301234567', '+49307654321']
    >>> view.provenance["phones"].contributors
    (('erp', 'E1'), ('crm', 'C9'))
    >>> pinned = survive([crm, erp], default_customer_survivorship(), {"legal_name": "Acme AG"})
    >>> pinned.attributes["legal_name"], pinned.provenance["legal_name"].rule
    ('Acme AG', 'override')
    """
    plan = _compiled(spec)
    run = _Run(members)
    out: dict[str, Any] = {}
    prov: dict[str, Provenance] = {}
    extras = sorted({k for m in members for k in m.canonical}.difference(plan.empty, _RESERVED))
    empty = plan.empty
    skip = plan.governed_elsewhere
    for name in (*plan.known, *extras):
        if name in skip:
            continue
        _survive_attribute(run, plan.plan_for(name), empty.get(name), out, prov)
    if overrides:
        at = now or datetime.now(UTC)
        for name, value in overrides.items():
            if name in _RESERVED:
                raise ValueError(f"'{name}' is not a golden-record attribute and cannot be pinned")
            out[name] = _copy(value)
            prefix = f"{name}."
            for key in [k for k in prov if k.startswith(prefix)]:
                del prov[key]
            prov[name] = Provenance(None, None, None, OVERRIDE, at)
    return GoldenView(plan.entity_type, out, prov)


def _comparable(value: Any) -> Any:
    return None if _is_empty(value) else value


def changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The names of the attributes whose values differ, sorted.

    A missing attribute, ``None`` and an empty text, list or object count as the same value.

    >>> changed_attributes({"legal_name": "Acme", "phones": [], "website": "a.com"},
    ...                    {"legal_name": "Acme AG", "website": "a.com", "emails": None})
    ['legal_name']
    """
    return sorted(
        name
        for name in before.keys() | after.keys()
        if _comparable(before.get(name)) != _comparable(after.get(name))
    )
