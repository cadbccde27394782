"""Loading mapping files and applying them to source rows.

Paths into a source row are compiled once per mapping: a CSV column name is a plain key, a
JSON path is dotted (``BillingAddress.street``, ``emails.0``). Applying a mapping never
raises for bad data: it returns the record with a list of field-level errors, so that one bad
row is rejected with its reasons while the rest of the batch lands.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from mdm.canonical.models import MAX_SOURCE_ID, TRIMMED, EntityType, model_for
from mdm.canonical.storable import unstorable_json
from mdm.errors import MappingError
from mdm.mapping.models import EntityMapping, FieldRule, SourceMapping
from mdm.mapping.transforms import Transform, TransformError, compile_transform

Getter = Callable[[Mapping[str, Any]], Any]
_MAPPED = {TRIMMED: True}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of one record."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The error as a JSON-ready mapping."""
        return {"field": self.field, "message": self.message}


@dataclass(slots=True)
class MappedRecord:
    """The outcome of mapping one source row: a canonical record, a tombstone, or errors.

    The canonical record is kept as the JSON text the validated model serialised to (one call
    into pydantic's Rust core); `canonical` decodes it on demand.
    """

    source_id: str | None
    canonical_json: str | None = None
    deleted: bool = False
    errors: list[FieldError] = field(default_factory=list)

    @property
    def canonical(self) -> dict[str, Any] | None:
        """The canonical record as a mapping (None for a tombstone or a rejected record)."""
        if self.canonical_json is None:
            return None
        decoded: dict[str, Any] = orjson.loads(self.canonical_json)
        return decoded

    @property
    def ok(self) -> bool:
        """Whether the record is valid (a tombstone with a source ID is valid)."""
        return not self.errors and self.source_id is not None


def _getter(path: str) -> Getter:
    parts = path.split(".")
    if len(parts) == 1:
        return lambda row: row.get(path)

    def get(row: Mapping[str, Any]) -> Any:
        value: Any = row
        for part in parts:
            if isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, list) and part.lstrip("-").isdigit():
                index = int(part)
                value = value[index] if -len(value) <= index < len(value) else None
            else:
                return None
            if value is None:
                return None
        return value

    # A flat CSV header may itself contain dots: prefer the literal key when present.
    return lambda row: row[path] if path in row else get(row)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    target: str
    # The rule's value of a row (the source field or fields, trimmed, blank as None, through
    # the transforms), as one function made for the rule's shape: see `_reader`.
    value_of: Getter
    # Puts the rule's value in the record being built (see `_placer`).
    place: Placer
    when: tuple[Getter, frozenset[str]] | None = None

    def read(self, row: Mapping[str, Any]) -> Any:
        if self.when is not None:
            found = self.when[0](row)
            if found is None or str(found).strip().casefold() not in self.when[1]:
                return None
        return self.value_of(row)


def _reader(
    paths: list[str], constant: Any, transforms: tuple[Transform, ...], many: bool
) -> Getter:
    """A rule's value of a row, as a function made for the rule's shape.

    Mapping runs every rule of every record of a load (a dozen or more a record): the common
    rule, one flat field and no transform, is a dictionary look-up and a trim.
    """
    getters = tuple(_getter(p) for p in paths)
    base: Getter
    if not getters:

        def base(_row: Mapping[str, Any]) -> Any:
            return constant

    elif many:

        def base(row: Mapping[str, Any]) -> Any:
            return [v for g in getters if not _blank(v := g(row))] or None

    elif "." not in paths[0] and not transforms:
        path = paths[0]

        def plain(row: Mapping[str, Any]) -> Any:
            value = row.get(path)
            return (value.strip() or None) if isinstance(value, str) else value

        return plain
    else:
        base = getters[0]

    def read(row: Mapping[str, Any]) -> Any:
        value = base(row)
        if isinstance(value, str):
            value = value.strip() or None
        for transform in transforms:
            if value is None:
                break
            value = transform(value)
        return value

    return read


def _compile_rule(
    target: str, rule: FieldRule, tables: Mapping[str, Mapping[str, Any]]
) -> _CompiledRule:
    try:
        transforms = tuple(compile_transform(t, tables) for t in rule.transforms)
    except (ValueError, TypeError) as exc:
        raise MappingError(f"field '{target}': {exc}") from exc
    paths = rule.paths if rule.paths is not None else ([rule.path] if rule.path else [])
    return _CompiledRule(
        target=target,
        value_of=_reader(paths, rule.value, transforms, many=rule.paths is not None),
        place=_placer(tuple(target.split("."))),
        when=(_getter(rule.when.path), rule.when.values()) if rule.when else None,
    )


LIST_TARGETS = {"phones", "emails"}


def _as_list(value: Any) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if not _blank(v)]


def _first(value: Any) -> Any:
    if isinstance(value, list):
        return next((v for v in value if not _blank(v)), None)
    return value


Placer = Callable[[dict[str, Any], Any], None]


def _placer(parts: tuple[str, ...]) -> Placer:
    """What puts a mapped value at its target (split at dots), made once per rule.

    Typed list entries (addresses, identifiers, parent references) are built by their key.
    """
    head = parts[0]
    if head in _KEYED:
        bucket, key_name = _KEYED[head]
        key = parts[1]
        if head == "addresses" and parts[2] == "lines":

            def place_lines(record: dict[str, Any], value: Any) -> None:
                entry = record.setdefault(bucket, {}).setdefault(key, {key_name: key})
                entry.setdefault("lines", []).extend(str(v) for v in _as_list(value))

            return place_lines
        field_name = parts[2] if head != "parents" else "source" if len(parts) == 3 else "source_id"

        def place_entry(record: dict[str, Any], value: Any) -> None:
            entry = record.setdefault(bucket, {}).setdefault(key, {key_name: key})
            entry[field_name] = _first(value)

        return place_entry
    if head == "attributes":
        name = parts[1]

        def place_attribute(record: dict[str, Any], value: Any) -> None:
            record.setdefault("attributes", {})[name] = _first(value)

        return place_attribute
    # An extra keeps its own name at the top level.
    name = parts[1] if head == "extras" else head
    if head in LIST_TARGETS:

        def place_list(record: dict[str, Any], value: Any) -> None:
            record.setdefault(name, []).extend(str(v) for v in _as_list(value))

        return place_list

    def place_value(record: dict[str, Any], value: Any) -> None:
        record[name] = _first(value)

    return place_value


# Targets built as typed list entries: the entries' bucket while mapping, and their key field.
_KEYED = {
    "addresses": ("_addresses", "type"),
    "identifiers": ("_identifiers", "scheme"),
    "parents": ("_parents", "relation"),
}


def _finish(record: dict[str, Any]) -> dict[str, Any]:
    addresses = record.pop("_addresses", {})
    if addresses:
        # An address that only says its type carries nothing.
        record["addresses"] = [a for a in addresses.values() if len(a) > 1]
    identifiers = record.pop("_identifiers", {})
    if identifiers:
        record["identifiers"] = [i for i in identifiers.values() if not _blank(i.get("value"))]
    parents = record.pop("_parents", {})
    if parents:
        record["parents"] = [p for p in parents.values() if not _blank(p.get("source_id"))]
    return record


def _validation_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        errors.append(FieldError(field=loc, message=err["msg"]))
    return errors


class CompiledEntityMapping:
    """An entity mapping compiled for speed: one getter and transform chain per field."""

    def __init__(self, source: str, mapping: EntityMapping, tables: Mapping[str, Any]) -> None:
        self.source = source
        self.mapping = mapping
        self.entity_type = mapping.entity_type
        self.model = model_for(mapping.entity_type)
        self._id = _compile_rule("id", mapping.id, tables)
        rules = [_compile_rule(t, r, tables) for t, r in mapping.fields.items()]
        # Rules sharing a condition are grouped, so each condition is tested once per row.
        groups: dict[tuple[str, frozenset[str]] | None, list[_CompiledRule]] = {}
        for field_rule, rule in zip(mapping.fields.values(), rules, strict=True):
            when = field_rule.when
            key = (when.path, when.values()) if when else None
            groups.setdefault(key, []).append(replace(rule, when=None))
        self._groups = [
            (None if key is None else (_getter(key[0]), key[1]), members)
            for key, members in groups.items()
        ]
        marker = mapping.deleted
        self._deleted_get = _getter(marker.path) if marker else None
        self._deleted_values = {v.casefold() for v in marker.values} if marker else set()

    def rows(self, row: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The records one source row holds: itself, or one per exploded element."""
        explode = self.mapping.explode
        if explode is None:
            yield row
            return
        items = _getter(explode.path)(row)
        if not isinstance(items, list) or not items:
            yield row
            return
        for item in items:
            yield {**row, explode.as_: item}

    def apply(self, row: Mapping[str, Any]) -> MappedRecord:
        """Map and validate one source row."""
        try:
            raw_id = self._id.read(row)
        except (TransformError, ValueError) as exc:
            return MappedRecord(None, errors=[FieldError("id", str(exc))])
        source_id = None if _blank(raw_id) else str(_first(raw_id)).strip()
        if source_id is None:
            return MappedRecord(None, errors=[FieldError("id", "the source ID is missing")])
        if len(source_id) > MAX_SOURCE_ID:
            return MappedRecord(
                None,
                errors=[FieldError("id", f"the source ID is too long (at most {MAX_SOURCE_ID})")],
            )
        if self._deleted_get is not None:
            flag = self._deleted_get(row)
            if not _blank(flag) and str(flag).strip().casefold() in self._deleted_values:
                return MappedRecord(source_id, deleted=True)
        record: dict[str, Any] = {"source_id": source_id}
        errors: list[FieldError] = []
        for condition, rules in self._groups:
            if condition is not None:
                found = condition[0](row)
                if found is None or str(found).strip().casefold() not in condition[1]:
                    continue
            for rule in rules:
                try:
                    # Grouped rules have no condition of their own: their value as it is.
                    value = rule.value_of(row)
                except (TransformError, ValueError, TypeError) as exc:
                    errors.append(FieldError(rule.target, str(exc)))
                    continue
                if value is not None and not _blank(value) and value != []:
                    rule.place(record, value)
        if errors:
            return MappedRecord(source_id, errors=errors)
        try:
            # Every value was trimmed and no blank placed (`_reader`, `apply`).
            model = self.model.model_validate(_finish(record), context=_MAPPED)
        except ValidationError as exc:
            return MappedRecord(source_id, errors=_validation_errors(exc))
        return _storable(source_id, model.model_dump_json(exclude_none=True))


def validate_canonical(entity_type: EntityType, data: Mapping[str, Any]) -> MappedRecord:
    """Validate a record already in canonical shape (the API's input).

    >>> validate_canonical(EntityType.PRODUCT, {"source_id": "1", "name": "Bolt"}).ok
    True
    """
    source_id = data.get("source_id")
    try:
        model = model_for(entity_type).model_validate(data)
    except ValidationError as exc:
        return MappedRecord(
            None if _blank(source_id) else str(source_id), errors=_validation_errors(exc)
        )
    return _storable(model.source_id, model.model_dump_json(exclude_none=True))


def _storable(source_id: str | None, canonical_json: str) -> MappedRecord:
    """The mapped record, or its rejection if the database could not store it (NUL, 2**64)."""
    if found := unstorable_json(canonical_json):
        return MappedRecord(source_id, errors=[FieldError(e["field"], e["message"]) for e in found])
    return MappedRecord(source_id, canonical_json=canonical_json)


def parse_mapping(document: Mapping[str, Any], origin: str) -> SourceMapping:
    """Check a parsed mapping document, raising `MappingError` that names the file and field.

    >>> m = parse_mapping({"source": {"code": "crm", "name": "CRM", "kind": "crm"},
    ...     "customer": {"id": "Id", "fields": {"legal_name": "Name"}}}, "crm.toml")
    >>> m.source.code, list(m.entities)
    ('crm', [<EntityType.CUSTOMER: 'customer'>])
    """
    doc = dict(document)
    entities: dict[str, Any] = {}
    for entity_type in EntityType:
        section = doc.pop(entity_type.value, None)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise MappingError(f"{origin}: [{entity_type.value}] must be a table")
        section = dict(section)
        try:
            section["id"] = FieldRule.parse(section.get("id"))
            section["fields"] = {
                target: FieldRule.parse(rule) for target, rule in section.get("fields", {}).items()
            }
        except (ValidationError, ValueError) as exc:
            raise MappingError(f"{origin}: [{entity_type.value}]: {exc}") from exc
        section["entity_type"] = entity_type
        entities[entity_type.value] = section
    doc["entities"] = entities
    try:
        mapping = SourceMapping.model_validate(doc)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise MappingError(f"{origin}: {details}") from exc
    if not mapping.entities:
        raise MappingError(f"{origin}: the mapping has no [customer] or [product] section")
    for entity_mapping in mapping.entities.values():
        # Compile now so that a bad transform fails at load, naming the field.
        try:
            CompiledEntityMapping(mapping.source.code, entity_mapping, mapping.tables)
        except MappingError as exc:
            raise MappingError(f"{origin}: [{entity_mapping.entity_type.value}] {exc}") from exc
    return mapping


def load_mapping(path: Path) -> SourceMapping:
    """Load and check one mapping file (TOML)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    return parse_mapping(document, str(path))


def load_mappings(paths: Iterable[Path]) -> dict[str, SourceMapping]:
    """Load mapping files (or every ``*.toml`` in given folders), keyed by source code."""
    found: dict[str, SourceMapping] = {}
    for path in paths:
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        for file in files:
            mapping = load_mapping(file)
            if mapping.source.code in found:
                raise MappingError(f"{file}: source '{mapping.source.code}' is mapped twice")
            found[mapping.source.code] = mapping
    return found


def compile_entity(mapping: SourceMapping, entity_type: EntityType) -> CompiledEntityMapping:
    """Compile the mapping of one entity type of a source."""
    if entity_type not in mapping.entities:
        raise MappingError(
            f"source '{mapping.source.code}' has no mapping for {entity_type.value} records"
        )
    return CompiledEntityMapping(mapping.source.code, mapping.entities[entity_type], mapping.tables)


def apply_mapping(
    mapping: SourceMapping, entity_type: EntityType, rows: Iterable[Mapping[str, Any]]
) -> Iterator[MappedRecord]:
    """Map and validate source rows, one outcome per record.

    >>> m = parse_mapping({"source": {"code": "crm", "name": "CRM", "kind": "crm"},
    ...     "customer": {"id": "Id", "fields": {"legal_name": "Name",
    ...                  "addresses.billing.country": "Country"}}}, "crm.toml")
    >>> [r.ok for r in apply_mapping(m, EntityType.CUSTOMER,
    ...     [{"Id": "1", "Name": "Acme", "Country": "DE"}, {"Id": "2", "Country": "Atlantis"}])]
    [True, False]
    """
    compiled = compile_entity(mapping, entity_type)
    for row in rows:
        for record_row in compiled.rows(row):
            yield compiled.apply(record_row)
