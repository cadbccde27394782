"""The schema of a mapping file, checked when the file loads.

A mapping file describes one source system and, per entity type it sends, how to read its
records and where each canonical field comes from::

    [source]
    code = "erp"
    name = "ERP customer and item master"
    kind = "erp"
    trust_rank = 1            # 1 is the most trusted source

    [tables.roles]            # named lookup tables for the lookup transform
    AG = "sold_to"

    [customer]
    format = "csv"            # csv | jsonl
    id = "KUNNR"              # the field holding the source ID
    deleted = { path = "LOEVM", values = ["X"] }

    [customer.fields]
    legal_name = "NAME1"
    account_role = { path = "PARVW", transforms = [{ lookup = "roles" }] }
    "addresses.billing.city" = { path = "ORT01", when = { path = "PARVW", equals = "RE" } }
    "identifiers.vat.value" = "STCEG"
    "parents.bill_to_of" = "PARENT_KUNNR"
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mdm.canonical.models import (
    AddressType,
    Customer,
    EntityType,
    Product,
    RelationType,
)


class SourceKind(StrEnum):
    """The kind of system a source is."""

    ERP = "erp"
    CRM = "crm"
    DISTRIBUTOR = "distributor"
    MARKETPLACE = "marketplace"
    ECOMMERCE = "ecommerce"
    PORTAL = "portal"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceInfo(_Strict):
    """The source system a mapping file describes."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name: str = Field(min_length=1, max_length=200)
    kind: SourceKind
    trust_rank: int = Field(default=10, ge=1, le=1000, description="1 is the most trusted")


class Condition(_Strict):
    """When a rule applies: the value at ``path`` equals one of the given values.

    Written ``when = { path = "PARVW", in = ["RE"] }`` (or ``equals = "RE"``); values compare
    after trimming and case folding.
    """

    path: str
    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("a condition takes exactly one of equals or in")
        return self

    def values(self) -> frozenset[str]:
        """The accepted values, folded."""
        accepted = [self.equals] if self.equals is not None else list(self.in_ or [])
        return frozenset(v.strip().casefold() for v in accepted)


class FieldRule(_Strict):
    """Where one canonical field comes from: a path, several paths, or a constant."""

    path: str | None = None
    paths: list[str] | None = None
    value: Any = None
    transforms: list[Any] = Field(default_factory=list)
    when: Condition | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        given = sum(x is not None for x in (self.path, self.paths, self.value))
        if given != 1:
            raise ValueError("give exactly one of path, paths or value")
        return self

    @classmethod
    def parse(cls, raw: Any) -> FieldRule:
        """Read a rule written as a bare path string or as a table."""
        if isinstance(raw, str):
            return cls(path=raw)
        if isinstance(raw, list):
            return cls(paths=[str(p) for p in raw])
        return cls.model_validate(raw)


class DeletedMarker(_Strict):
    """Which field and values mark a record as deleted in its source."""

    path: str
    values: list[str] = Field(default_factory=lambda: ["true", "1", "x", "yes", "deleted"])


class Explode(_Strict):
    """Turn every element of a nested list into its own record (e.g. product variants)."""

    path: str
    as_: str = Field(alias="as")


class EntityMapping(_Strict):
    """How one source sends one entity type."""

    entity_type: EntityType
    format: Literal["csv", "jsonl"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    id: FieldRule
    deleted: DeletedMarker | None = None
    explode: Explode | None = None
    fields: dict[str, FieldRule]

    @field_validator("fields")
    @classmethod
    def _targets_exist(cls, fields: dict[str, FieldRule], info: Any) -> dict[str, FieldRule]:
        entity_type = info.data.get("entity_type")
        for target in fields:
            problem = target_problem(EntityType(entity_type), target)
            if problem:
                raise ValueError(f"target '{target}': {problem}")
        return fields


class SourceMapping(_Strict):
    """A whole mapping file: the source and its entity mappings."""

    source: SourceInfo
    tables: dict[str, dict[str, Any]] = Field(default_factory=dict)
    entities: dict[EntityType, EntityMapping]


ADDRESS_FIELDS = {"lines", "city", "region", "postal_code", "country"}
IDENTIFIER_FIELDS = {"value", "country"}
LIST_FIELDS = {"phones", "emails"}
STRUCTURED = {"addresses", "identifiers", "parents", "attributes", "extras"}


def target_problem(entity_type: EntityType, target: str) -> str | None:
    """Why a canonical target path is not valid for an entity type, or None when it is.

    >>> target_problem(EntityType.CUSTOMER, "addresses.billing.city") is None
    True
    >>> target_problem(EntityType.CUSTOMER, "addresses.billing.town")
    "address field 'town' is not one of city, country, lines, postal_code, region"
    """
    model = Customer if entity_type is EntityType.CUSTOMER else Product
    parts = target.split(".")
    head = parts[0]
    if head == "extras":
        return None if len(parts) == 2 else "write extras.<name>"
    if head in STRUCTURED and head not in model.model_fields and head != "extras":
        return f"'{head}' is not a field of {entity_type.value}"
    if head == "addresses":
        if len(parts) != 3:
            return "write addresses.<type>.<field>"
        if parts[1] not in {t.value for t in AddressType}:
            return f"address type '{parts[1]}' is not one of {', '.join(t for t in AddressType)}"
        if parts[2] not in ADDRESS_FIELDS:
            fields = ", ".join(sorted(ADDRESS_FIELDS))
            return f"address field '{parts[2]}' is not one of {fields}"
        return None
    if head == "identifiers":
        if len(parts) != 3 or parts[2] not in IDENTIFIER_FIELDS:
            return "write identifiers.<scheme>.value or identifiers.<scheme>.country"
        return None
    if head == "parents":
        if len(parts) not in (2, 3) or parts[1] not in {r.value for r in RelationType}:
            relations = ", ".join(r.value for r in RelationType)
            return f"write parents.<relation>[.source] with a relation among {relations}"
        if len(parts) == 3 and parts[2] != "source":
            return "write parents.<relation>.source"
        return None
    if head == "attributes":
        return None if len(parts) == 2 else "write attributes.<name>"
    if len(parts) != 1 or head not in model.model_fields or head == "entity_type":
        return f"'{target}' is not a field of {entity_type.value}"
    return None
